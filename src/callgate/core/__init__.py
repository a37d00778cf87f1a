"""The pure ACD core: events and ``now`` in, commands and the next deadline out.

Nothing in this package may import asyncio, sockets, clocks, databases or any adapter.
"""
