"""The ARI side of callgate: a thin client, and an adapter split by responsibility.

Start at :mod:`.adapter` (the facade the daemon wires); :mod:`.translate` says what each ARI
event means for the core, :mod:`.layout` holds what Asterisk has for each call and the call's
phase table. Nothing is imported here, so that importing the client loads nothing else.
"""
