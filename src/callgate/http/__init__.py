"""The admin HTTP adapter: health, metrics and the CLI's API on loopback."""
