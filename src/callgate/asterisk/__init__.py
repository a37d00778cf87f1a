"""The Asterisk adapters: ARI (calls), AMI (phones' state, the fallback queue), FastAGI
(call-takers' feature codes), queue_log and recordings, and their config sections
(:mod:`callgate.asterisk.settings`).

They translate between Asterisk and the core's events and commands, and import only the core,
:mod:`callgate.ports`, the config and :mod:`callgate.logs`, never another adapter (see the
import-linter contracts in ``pyproject.toml``). This package imports nothing itself, so that
reading the config loads no client.
"""
