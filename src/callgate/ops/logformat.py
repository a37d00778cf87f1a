"""Logging set-up with a choice of format, and the level changeable while the daemon runs.

A drop-in for :func:`callgate.logs.setup_logging`: the same processors (level, logger, the
``extra=`` fields such as ``call_id`` and ``agent_id``, UTC timestamp, secrets redacted), then
either one JSON object per line (journald, log shippers) or aligned human-readable lines for a
terminal. :func:`set_level` is what ``callgate log-level`` ends up calling.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from callgate.logs import redact_secrets

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
