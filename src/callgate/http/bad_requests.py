"""What aiohttp logs about requests the admin port could not parse, made short and rare.

A bad client's request (a line over 8 kB, garbage) is the client's fault, not callgate's: one
WARNING line per kind per interval, never an ERROR with a traceback each.
"""

from __future__ import annotations

import logging

from callgate.logs import LogThrottle, clip

#: What aiohttp logs about requests it could not parse (a request line or header too long,
#: garbage): a client's fault, as one throttled WARNING line without the traceback.
server_log = logging.getLogger("callgate.http.server.server")
#: At most one such line per kind of error this often (seconds).
BAD_REQUEST_WARNINGS = 10.0


class _BadRequestLines(logging.Filter):
    """aiohttp logs each request it cannot parse at ERROR with a full traceback: a flood of bad
    clients (found by the lab fault suite: 60 tracebacks in 20 s) would flood the log. Keep one
    WARNING line per kind of error per interval, saying how many more were not logged."""

    def __init__(self, interval: float = BAD_REQUEST_WARNINGS) -> None:
        super().__init__()
        self._throttle = LogThrottle(interval)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        kind = type(error).__name__ if error is not None else "unknown"
        held_back = self._throttle.admit(kind)
        if held_back is None:
            return False
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        what = clip(" ".join(str(error).split()), 200)
        record.msg = f"bad HTTP request on the admin port ({kind}: {what})"
        record.args = None
        record.exc_info = record.exc_text = None
        if held_back:
            record.not_logged = held_back
        return True


server_log.addFilter(_BadRequestLines())
