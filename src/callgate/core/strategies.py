"""Distribution strategies: which of the eligible, available call-takers gets a call.

A strategy is anything with a ``rings_all`` flag and a ``choose`` method; register new ones
in :data:`STRATEGIES` by name. The core has already filtered the candidates (available,
registered phone, required skill, on the roster, preferring those who have not yet missed
this call), so a strategy only ranks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

from callgate.core.agents import Agent
from callgate.core.calls import Call
from callgate.core.errors import AcdConfigError


class Strategy(Protocol):
    """How to pick call-takers for a call."""

    #: True if every returned agent is rung at once and the first to answer wins.
    rings_all: bool

    def choose(self, call: Call, candidates: Sequence[Agent], now: float) -> Sequence[Agent]:
        """Return the agents to ring: one, or (ring-all) several. ``candidates`` is non-empty."""
        ...


def _idle_key(agent: Agent) -> tuple[float, str]:
    return (agent.idle_since, agent.agent_id)


class LongestIdle:
    """The call-taker whose last call ended longest ago (the default)."""

    rings_all = False

    def choose(self, call: Call, candidates: Sequence[Agent], now: float) -> Sequence[Agent]:
        return [min(candidates, key=_idle_key)]


class FewestCalls:
    """The call-taker who has answered the fewest calls; longest idle breaks ties."""

    rings_all = False

    def choose(self, call: Call, candidates: Sequence[Agent], now: float) -> Sequence[Agent]:
        return [min(candidates, key=lambda a: (a.calls_answered, *_idle_key(a)))]


class RoundRobin:
    """Call-takers in turn by id, starting after the one offered last."""

    rings_all = False

    def __init__(self) -> None:
        self._last: str | None = None

    def choose(self, call: Call, candidates: Sequence[Agent], now: float) -> Sequence[Agent]:
        ordered = sorted(candidates, key=lambda a: a.agent_id)
        last = self._last
        chosen = next((a for a in ordered if last is not None and a.agent_id > last), ordered[0])
        self._last = chosen.agent_id
        return [chosen]


class RingAll:
    """Ring every candidate at once; the first answer wins and the others are cancelled."""

    rings_all = True

    def choose(self, call: Call, candidates: Sequence[Agent], now: float) -> Sequence[Agent]:
        return list(candidates)


class Skills:
    """The call-taker with the best tier in the call's skill; longest idle breaks ties.

    Once a call's skill requirement has relaxed, anyone may take it, but those who have the
    skill are still preferred.
    """

    rings_all = False

    def choose(self, call: Call, candidates: Sequence[Agent], now: float) -> Sequence[Agent]:
        skill = call.required_skill

        def key(agent: Agent) -> tuple[float, float, str]:
            tier = math.inf if skill is None else agent.skills.get(skill, math.inf)
            return (tier, *_idle_key(agent))

        return [min(candidates, key=key)]


#: Strategy factories by name; each ACD gets a fresh instance (round-robin keeps state).
STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "longest-idle": LongestIdle,
    "fewest-calls": FewestCalls,
    "round-robin": RoundRobin,
    "ring-all": RingAll,
    "skills": Skills,
}


def make_strategy(name: str) -> Strategy:
    """Build the strategy registered as ``name``."""
    try:
        factory = STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise AcdConfigError(f"unknown strategy {name!r}; known: {known}") from None
    return factory()
