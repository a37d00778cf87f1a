"""Operations: health, metrics, the loopback HTTP port, systemd notification, the admin CLI.

Nothing here drives calls. These modules only read the daemon's state (the core's views, the
adapters' connection states) and hand a few admin commands to the same paths the call-takers'
feature codes use.
"""
