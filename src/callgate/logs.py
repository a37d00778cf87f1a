"""Structured logs on stdout (journald picks them up), with secrets removed, in JSON or console
format, and a level that can be changed while the daemon runs.

Library and callgate modules log through the standard library; structlog renders every record,
including the ``extra=`` fields such as ``call_id`` and ``agent_id``, either as one JSON object per
line (journald, log shippers) or as aligned human-readable lines for a terminal. :func:`set_level`
is what ``callgate log-level`` ends up calling.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, overload

import structlog

#: Longest client-supplied text kept in a log field: a reason or a name fits; a 2 MB "reason"
#: from a hostile client must not become a 2 MB log line that journald and shippers choke on.
CLIP = 200


@overload
def clip(text: str, limit: int = CLIP) -> str: ...
@overload
def clip(text: None, limit: int = CLIP) -> None: ...
def clip(text: str | None, limit: int = CLIP) -> str | None:
    """``text`` cut to ``limit`` characters with a marker saying how much was left out, for
    logging anything a client (HTTP, MQTT, a phone) chose. None stays None."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}…[+{len(text) - limit} chars]"


class LogThrottle:
    """Says whether a repeated warning may be logged now: the first of each kind at once, then
    at most one per ``interval`` seconds with the count of those left out, so one misbehaving
    client cannot flood the log."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def allow(self, kind: str, now: float) -> int | None:
        """None to stay silent; else how many of ``kind`` were left out since the last line."""
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._skipped.pop(kind, 0)


# Any field whose name contains one of these is replaced before rendering.
_SECRET_MARKERS = ("password", "secret", "token", "authorization", "auth")


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if any(marker in key.lower() for marker in _SECRET_MARKERS):
            event_dict[key] = "[redacted]"
    return event_dict


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LogFormat = Literal["json", "console"]


def setup_logging(level: str = "INFO", fmt: LogFormat = "json") -> None:
    """Route every stdlib logger to stdout in ``fmt`` at ``level``."""
    shared: list[structlog.types.Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,  # before any renderer: no format may show a secret
    ]
    renderer: structlog.types.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
        tail: list[structlog.types.Processor] = []
    else:
        renderer = structlog.processors.JSONRenderer()
        tail = [structlog.processors.format_exc_info]
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tail,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_level(level)
    # aiohttp's access and client debug logs would drown the call log, even at DEBUG.
    logging.getLogger("aiohttp").setLevel(logging.WARNING)


def set_level(level: str) -> None:
    """Change the level of callgate's logs now (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``)."""
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    logging.getLogger().setLevel(name)


def current_level() -> str:
    return logging.getLevelName(logging.getLogger().level)
