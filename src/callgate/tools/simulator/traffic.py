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

#: Mean talk time in seconds by category when arrivals are generated.
TALK_TIMES = {"genuine": 150.0, "information": 60.0, "prank": 25.0, "ghost": 10.0}


@dataclass(frozen=True, slots=True)
class TraceCall:
    """One call of a trace: when it arrives (seconds from the start) and how long it lasts."""

    arrival: float
    talk_time: float
    caller: str
    category: str


@dataclass(frozen=True, slots=True)
class ShiftSpec:
    """``--shift 22:00-06:00=2``: a daily shift and how many call-takers work it."""

    start: dt.time
    end: dt.time
    agents: int
    label: str


def parse_shift(text: str) -> ShiftSpec:
    """Parse ``HH:MM-HH:MM=N``."""
    try:
        hours, count = text.split("=")
        start, end = hours.split("-")
        agents = int(count)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad shift {text!r}, expected HH:MM-HH:MM=N") from exc
    try:
        return ShiftSpec(parse_time(start), parse_time(end), agents, hours)
    except AcdConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


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
) -> list[TraceCall]:
    """Poisson arrivals over ``seconds`` with categories drawn from ``shares``."""
    categories = list(shares)
    weights = [shares[c] for c in categories]
    calls: list[TraceCall] = []
    t = 0.0
    while rate_per_hour > 0:
        t += rng.expovariate(rate_per_hour / 3600.0)
        if t >= seconds:
            break
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
) -> list[TraceCall]:
    """Poisson arrivals like :func:`generate_calls`, with the repeat-caller model above."""
    pools = {
        "prank": [f"0857{n:07d}" for n in range(max(1, prank_pool))],
        "ghost": [f"0878{n:07d}" for n in range(max(1, ghost_pool))],
    }
    nuisance = pools["prank"] + pools["ghost"]
    calls = generate_calls(rng, rate_per_hour, seconds, shares)
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
        writer.writerow([f"{c.arrival:.1f}", f"{c.talk_time:.1f}", c.caller, c.category])
