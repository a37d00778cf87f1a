"""What kind of address a setting names, for the sections that may only listen on loopback.

Neutral, so that every adapter's ``settings`` module can use it without importing another
adapter (``[ops] http_host`` and ``[agi] listen_host`` both check with it); it imports nothing
but the standard library, so importing the configuration still loads no adapter.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
