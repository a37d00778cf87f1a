"""Asterisk's own clock in its events, as epoch seconds for the core."""

from __future__ import annotations

import datetime as dt
import math


def ari_timestamp(value: object) -> float | None:
    """An ARI event's ``timestamp`` (``2026-11-23T01:02:03.456+0000``) in seconds since the epoch.

    None for anything else (missing, malformed, without a UTC offset, not finite): the caller
    then falls back to its own clock. Never raises: a bad stamp must not cost an event.
    """
    if not isinstance(value, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None  # a wall time in an unknown zone: guessing could be hours off
    try:
        seconds = stamp.timestamp()
    except (OverflowError, OSError, ValueError):  # pragma: no cover - years at the very edges
        return None
    return seconds if math.isfinite(seconds) else None


#: ARI stamps events to the millisecond, cut short: ``.456`` is any moment from 456 to 457 ms.
STAMP_RESOLUTION = 0.001


def ari_moment_passed(value: object) -> float | None:
    """When the event stamped ``value`` had certainly happened: the end of its millisecond.

    A call-taker's wrap-up counts from a hang-up's stamp; counted from the truncated stamp it
    could end up to 1 ms early, and the next call would ring before the wrap-up was over."""
    seconds = ari_timestamp(value)
    return None if seconds is None else seconds + STAMP_RESOLUTION
