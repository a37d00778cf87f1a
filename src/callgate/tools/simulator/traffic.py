"""The calls a simulation replays: a trace file, or generated arrivals, and the roster it is
staffed with."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TextIO

from callgate.core import (
    AcdConfigError,
)
from callgate.core.roster import parse_time
from callgate.reports import csv_cells

#: Mean talk time in seconds by category when arrivals are generated.
TALK_TIMES = {"genuine": 150.0, "information": 60.0, "prank": 25.0, "ghost": 10.0}

#: An assumed day's shape of 112 traffic, relative weight by local hour 0-23: quiet from
#: midnight to dawn (a third of the afternoon's rate at 03:00-04:00), rising through the morning,
#: highest in the late afternoon and evening. No hourly figures from an Indonesian centre were
#: found; this is the usual shape of emergency-call volume. A trace replaces it.
DIURNAL = (
    0.55, 0.45, 0.40, 0.35, 0.35, 0.45, 0.65, 0.85, 1.00, 1.10, 1.20, 1.25,
    1.25, 1.25, 1.25, 1.30, 1.35, 1.40, 1.40, 1.40, 1.35, 1.20, 0.95, 0.75,
)  # fmt: skip

#: Traffic profiles by name (``--profile``): ``flat`` is a constant rate.
PROFILES: dict[str, tuple[float, ...] | None] = {"flat": None, "diurnal": DIURNAL}


@dataclass(frozen=True, slots=True)
class TrafficPreset:
    """Generated traffic shaped on a centre's published figures (``--preset``)."""

    rate_per_hour: float
    "Mean arrivals an hour over the whole day."
    days: float
    "Length of the traffic."
    shares: dict[str, float]
    "Share of each category (``prank``, ``ghost``, ``information``, ``genuine``)."
    prank_pool: int
    "Numbers the prank calls come from."
    ghost_pool: int
    "Numbers the ghost calls come from."
    profile: str
    "Name in :data:`PROFILES`."
    note: str
    "Where the figures come from."


#: ``--preset kendari``: a month at Kendari 112's rate (the issue's 9,100 calls in 30 days, 27%
#: prank or ghost from repeat numbers; Kendari's first 20 days had 5,982 calls). The split of the
#: 27% into prank and ghost follows Purworejo (about as many ghost as prank calls); information
#: requests at Purworejo's 16%; each prank or ghost number calls about 7 times a month.
KENDARI_MONTH = TrafficPreset(
    rate_per_hour=9100 / (30 * 24),
    days=30.0,
    shares={"prank": 0.14, "ghost": 0.13, "information": 0.16, "genuine": 0.57},
    prank_pool=180,
    ghost_pool=170,
    profile="diurnal",
    note="Kendari 112: 9,100 calls a month, 27% prank or ghost from repeat numbers",
)

#: Generated traffic without a preset: Kendari's rate, a flat day, 20% prank or ghost.
DEFAULT_TRAFFIC = TrafficPreset(
    rate_per_hour=12.5,
    days=1.0,
    shares={"prank": 0.15, "ghost": 0.05, "information": 0.15, "genuine": 0.65},
    prank_pool=30,
    ghost_pool=30,
    profile="flat",
    note="",
)

#: Presets by name.
PRESETS = {"kendari": KENDARI_MONTH}


@dataclass(frozen=True, slots=True)
class TraceCall:
    """One call of a trace: when it arrives (seconds from the start) and how long it lasts."""

    arrival: float
    talk_time: float
    caller: str
    category: str


@dataclass(frozen=True, slots=True)
class ShiftSpec:
    """``--shift 22:00-06:00=2`` or ``--shift malam=23:00-07:00=2``: a daily shift (local time)
    and how many call-takers work it."""

    start: dt.time
    end: dt.time
    agents: int
    label: str


def parse_shift(text: str) -> ShiftSpec:
    """Parse ``HH:MM-HH:MM=N`` or ``NAME=HH:MM-HH:MM=N`` (the name labels the reports)."""
    parts = text.split("=")
    if len(parts) not in (2, 3) or not all(parts[:-1]) or "-" not in parts[-2]:
        raise argparse.ArgumentTypeError(f"bad shift {text!r}, expected [NAME=]HH:MM-HH:MM=N")
    *names, hours, count = parts
    start, _, end = hours.partition("-")
    try:
        agents = int(count)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad head count in shift {text!r}") from exc
    if agents < 0:
        raise argparse.ArgumentTypeError(f"negative head count in shift {text!r}")
    try:
        return ShiftSpec(parse_time(start), parse_time(end), agents, names[0] if names else hours)
    except AcdConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


#: The common three 8-hour shifts (``--recommend`` without ``--shift``), head counts to be found.
THREE_SHIFTS = (
    ShiftSpec(dt.time(7), dt.time(15), 0, "pagi 07-15"),
    ShiftSpec(dt.time(15), dt.time(23), 0, "siang 15-23"),
    ShiftSpec(dt.time(23), dt.time(7), 0, "malam 23-07"),
)


def read_trace(stream: TextIO) -> list[TraceCall]:
    """Read a trace CSV; ``arrival`` is seconds from the start, ``talk_time`` seconds."""
    calls = [
        TraceCall(
            arrival=float(row["arrival"]),
            talk_time=float(row["talk_time"]),
            caller=row.get("caller", "") or "",
            category=row.get("category", "") or "genuine",
        )
        for row in csv.DictReader(stream)
    ]
    return sorted(calls, key=lambda c: c.arrival)


def generate_calls(
    rng: random.Random,
    rate_per_hour: float,
    seconds: float,
    shares: dict[str, float],
    profile: Sequence[float] | None = None,
) -> list[TraceCall]:
    """Poisson arrivals over ``seconds`` with categories drawn from ``shares``.

    ``profile``: relative weights by hour of the day (24, hour 0 at the start), scaled so that
    the day's mean rate stays ``rate_per_hour``; arrivals are thinned from the peak rate.
    """
    categories = list(shares)
    weights = [shares[c] for c in categories]
    calls: list[TraceCall] = []
    t = 0.0
    peak = 1.0
    if profile is not None:
        mean = sum(profile) / len(profile)
        profile = [w / mean for w in profile]
        peak = max(profile)
    while rate_per_hour > 0:
        t += rng.expovariate(peak * rate_per_hour / 3600.0)
        if t >= seconds:
            break
        if profile is not None and rng.random() * peak >= profile[int(t // 3600) % 24]:
            continue
        category = rng.choices(categories, weights)[0]
        talk = rng.expovariate(1.0 / TALK_TIMES[category])
        calls.append(TraceCall(t, talk, f"08{rng.randrange(10**9):09d}", category))
    return calls


def generate_repeat_calls(
    rng: random.Random,
    rate_per_hour: float,
    seconds: float,
    shares: dict[str, float],
    *,
    prank_pool: int,
    ghost_pool: int,
    genuine_from_nuisance: float,
    profile: Sequence[float] | None = None,
) -> list[TraceCall]:
    """Poisson arrivals like :func:`generate_calls`, with the repeat-caller model above."""
    pools = {
        "prank": [f"0857{n:07d}" for n in range(max(1, prank_pool))],
        "ghost": [f"0878{n:07d}" for n in range(max(1, ghost_pool))],
    }
    nuisance = pools["prank"] + pools["ghost"]
    calls = generate_calls(rng, rate_per_hour, seconds, shares, profile)
    for n, call in enumerate(calls):
        pool = pools.get(call.category)
        if pool is None and rng.random() < genuine_from_nuisance:
            pool = nuisance
        if pool is not None:
            calls[n] = replace(call, caller=rng.choice(pool))
    return calls


def write_trace(calls: Sequence[TraceCall], stream: TextIO) -> None:
    """Write calls in the trace CSV format."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["arrival", "talk_time", "caller", "category"])
    for c in calls:
        writer.writerow(
            csv_cells.row([f"{c.arrival:.1f}", f"{c.talk_time:.1f}", c.caller, c.category])
        )
