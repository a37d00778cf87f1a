"""Erlang C: the textbook staffing estimate that ``--recommend`` prints beside its own count.

Erlang C models an M/M/N queue: Poisson arrivals at a constant rate, exponential handling times,
N identical call-takers, and callers who wait for ever (nobody abandons, nobody is screened, no
ring time, no missed offers). It is what staffing calculators and workforce tools print; the
simulator shows how far callgate's real behaviour (patience, priorities, callbacks, a roster,
rings that are missed) moves the answer.

Written here rather than taken from PyPI: it is a dozen lines, and the maintained packages
that offer it (``pyworkforce``) bring numpy, pandas and OR-Tools into a daemon's install.
The probability of waiting comes from the Erlang B recursion, which stays finite for any load
(the factorial form overflows floats from about 170 call-takers).
"""

from __future__ import annotations

import math


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of ``agents`` servers offered ``load`` Erlangs (recursive form)."""
    if agents < 0 or load < 0:
        raise ValueError("agents and load must not be negative")
    b = 1.0
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """Probability that a caller waits at all (1.0 when ``agents`` cannot carry ``load``)."""
    if agents <= load:
        return 1.0
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1.0 - b))


def service_level(agents: int, load: float, handle_time: float, target: float) -> float:
    """Share of callers answered within ``target`` seconds (0.0 when overloaded).

    ``load`` in Erlangs (arrivals a second times ``handle_time``); ``handle_time`` the mean
    seconds a call-taker spends on a call, wrap-up included.
    """
    if agents <= load:
        return 0.0
    waiting = erlang_c(agents, load)
    return 1.0 - waiting * math.exp(-(agents - load) * target / handle_time)


def mean_wait(agents: int, load: float, handle_time: float) -> float:
    """Mean seconds to answer over all callers (ASA); infinite when overloaded."""
    if agents <= load:
        return math.inf
    return erlang_c(agents, load) * handle_time / (agents - load)


def agents_needed(
    rate_per_hour: float,
    handle_time: float,
    *,
    target: float = 15.0,
    level: float = 0.90,
    limit: int = 10_000,
) -> int:
    """The fewest call-takers for ``level`` of callers answered within ``target`` seconds
    (NENA: 90% within 15 s), by Erlang C; 0 without calls."""
    if rate_per_hour <= 0 or handle_time <= 0:
        return 0
    load = rate_per_hour / 3600.0 * handle_time
    agents = max(1, math.floor(load) + 1)
    while service_level(agents, load, handle_time, target) < level:
        agents += 1
        if agents > limit:
            raise ValueError(f"more than {limit} call-takers needed")
    return agents
