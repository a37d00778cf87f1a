"""Structured logs on stdout (journald picks them up), with secrets removed, in JSON or console
format, and a level that can be changed while the daemon runs.

Library and callgate modules log through the standard library; structlog renders every record,
including the ``extra=`` fields such as ``call_id`` and ``agent_id``, either as one JSON object per
line (journald, log shippers) or as aligned human-readable lines for a terminal. :func:`set_level`
is what ``callgate log-level`` ends up calling.

Text a client chose (a log-in name, a reason, a path) cannot forge or hide a line: JSON escapes
every control character (DEL too, here), and the console format shows each as a visible escape
(:func:`escape_controls`), so an ESC sequence does not reach the terminal and a newline or
U+2028 does not start what looks like a line of its own.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, MutableMapping
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


# Any field whose name contains one of these is replaced before rendering.
_SECRET_MARKERS = ("password", "secret", "token", "authorization", "auth")


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if any(marker in key.lower() for marker in _SECRET_MARKERS):
            event_dict[key] = "[redacted]"
    return event_dict


#: What a terminal or a journal viewer acts on, or reads as a line break: C0, DEL, C1, the
#: Unicode line and paragraph separators, and the bidirectional embeddings, overrides and
#: isolates (which make a line read otherwise than it is stored).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: Fields rendered by the console renderer itself (a traceback keeps its lines).
_RAW_FIELDS = frozenset({"exception", "stack"})


def _escape(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]  # as Python writes it: \x1b, \r, \n, \x9b, \u2028


def escape_controls(text: str) -> str:
    """``text`` with each control character written as Python's ``repr`` writes it: ESC as
    ``\\x1b``, a newline as ``\\n``, U+2028 as ``\\u2028``."""
    return _CONTROLS.sub(_escape, text)


class _Shown:
    """A text field holding control characters, for the console renderer: it renders whatever
    is not a ``str`` with ``repr``, quoted and escaped (and leaves plain text as it is)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return repr(self.text)


def escape_control_characters(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The console format's guard: the message with its control characters escaped, and every
    text field holding one shown as ``repr`` shows it. (Other values are rendered with
    ``repr`` already.)"""
    for key, value in event_dict.items():
        if not isinstance(value, str) or key in _RAW_FIELDS or not _CONTROLS.search(value):
            continue
        event_dict[key] = escape_controls(value) if key == "event" else _Shown(value)
    return event_dict


def _json_dumps(obj: Any, **kwargs: Any) -> str:
    # json.dumps escapes every control character but DEL; "\u007f" is the same string to a
    # reader of the JSON, and a terminal showing the raw line is not handed a DEL.
    return json.dumps(obj, **kwargs).replace("\x7f", "\\u007f")


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
        tail: list[structlog.types.Processor] = [escape_control_characters]
    else:
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
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


class LogThrottle:
    """At most one log line per ``interval`` seconds for each kind of event, and a count of the
    ones held back, so a burst caused from outside (a flood of bad clients) cannot flood the log
    and hide the lines that matter.

    Pure apart from ``clock`` (monotonic seconds), which tests replace::

        held_back = throttle.admit("header timeout")
        if held_back is not None:
            log.warning("client dropped: header timeout (+%d not logged)", held_back)
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        if interval < 0:
            raise ValueError("interval must be >= 0")
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held_back: dict[str, int] = {}

    def admit(self, kind: str) -> int | None:
        """None when this event must not be logged; otherwise log it, together with the
        returned number of events of this kind held back since the last line logged.

        ``kind`` is one of a fixed set of labels, never a value a client chose: each kind seen
        is remembered.
        """
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._held_back[kind] = self._held_back.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._held_back.pop(kind, 0)
