"""The daemon: the engine that drives the core, its services, and the composition root (app)."""
