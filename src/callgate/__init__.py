"""callgate: a telephony gateway daemon for 112 emergency call centres."""

__version__ = "0.1.0"
