"""Offline tools beside the daemon, not part of it: the report, the simulator, the admin CLI."""
