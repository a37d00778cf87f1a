"""``callgate simulate --recommend``: the fewest call-takers per shift that meet NENA's 90%
within 15 s for genuine callers on a trace, with the Erlang C estimate beside it.

For each shift in turn the other shifts are staffed generously (their Erlang C estimate plus
:data:`GENEROUS`), so that no neighbour hands it a backlog, and the shift's head count is
searched one by one from its Erlang C estimate minus one: up while the target is missed, down
while it is still met. Every step is a whole simulation of the trace with the same seed, so the
answer is repeatable; the search stops :data:`MAX_ABOVE_ERLANG` above the estimate (the target
can be out of reach whatever the staffing: callers who hang up within seconds, offers that are
missed). The figure graded is :func:`~callgate.tools.simulator.results.genuine_report`'s share
of genuine callers answered within 15 s, over the genuine calls that arrived in that shift.

Erlang C (:mod:`.erlang`) is given the shift's mean arrival rate over the trace (every category:
pranks and ghosts take call-takers' time too) and its mean handling time (talk time plus
wrap-up), at the same 90% within 15 s.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from callgate.core import kpi
from callgate.tools.simulator.erlang import agents_needed
from callgate.tools.simulator.results import genuine_report, shift_of
from callgate.tools.simulator.simulation import Outcome
from callgate.tools.simulator.traffic import ShiftSpec, TraceCall

#: Call-takers above its Erlang C estimate that a shift gets while another shift is searched.
GENEROUS = 2
#: How far above the Erlang C estimate the search goes before it gives up.
MAX_ABOVE_ERLANG = 10
#: NENA-STA-020.1's first mark: 90% within 15 s.
TARGET_SECONDS = 15


@dataclass(frozen=True, slots=True)
class ShiftAdvice:
    """One shift's line of the recommendation."""

    label: str
    "The shift."
    calls: int
    "Calls of every category that arrived in it."
    rate_per_hour: float
    "Their mean arrival rate while the shift is on."
    handle_time: float
    "Mean talk time plus wrap-up, seconds."
    erlang: int
    "Erlang C's call-takers for 90% within 15 s."
    heads: int | None
    "The fewest simulated call-takers meeting the target; None: not met up to the limit."
    within: float | None
    "Genuine callers answered within 15 s at ``heads`` (at the limit when not met)."
    below: float | None
    "The same with one call-taker fewer (None when ``heads`` is 1)."


def smallest_meeting(start: int, meets: Callable[[int], bool], limit: int) -> int | None:
    """The smallest head count from 1 to ``limit`` that ``meets``, searching one by one from
    ``start``: down while the one below still meets, up while it does not; None if none up to
    ``limit`` does. Exact when meeting is monotone in the head count (more never hurts)."""
    n = min(max(1, start), limit)
    if meets(n):
        while n > 1 and meets(n - 1):
            n -= 1
        return n
    while n < limit:
        n += 1
        if meets(n):
            return n
    return None


def shift_hours(spec: ShiftSpec, span: float) -> float:
    """Hours ``spec`` is on within the first ``span`` seconds from a local midnight."""
    begin = spec.start.hour * 3600 + spec.start.minute * 60
    end = spec.end.hour * 3600 + spec.end.minute * 60
    if end <= begin:
        end += 86400
    total = 0.0
    for day in range(-1, math.ceil(span / 86400) + 1):
        a, b = day * 86400 + begin, day * 86400 + end
        total += max(0.0, min(b, span) - max(a, 0.0))
    return total / 3600.0


def recommend(
    calls: Sequence[TraceCall],
    shifts: Sequence[ShiftSpec],
    *,
    tz: ZoneInfo,
    start: float,
    span: float,
    wrap_up: float,
    simulate: Callable[[Sequence[int]], Outcome],
    progress: Callable[[str], None],
) -> list[ShiftAdvice]:
    """Each shift's advice; ``simulate(heads)`` runs the trace with those head counts."""
    members: list[list[int]] = [[] for _ in shifts]
    labels = [s.label for s in shifts]
    for n, call in enumerate(calls):
        local = dt.datetime.fromtimestamp(start + call.arrival, tz).time()
        label = shift_of(local, shifts)
        if label in labels:
            members[labels.index(label)].append(n)
    stats = []
    for spec, indices in zip(shifts, members, strict=True):
        hours = shift_hours(spec, span)
        rate = len(indices) / hours if hours else 0.0
        talk = kpi.mean([calls[n].talk_time for n in indices]) or 0.0
        handle = talk + wrap_up
        stats.append((rate, handle, agents_needed(rate, handle, target=TARGET_SECONDS)))
    generous = [max(1, erlang) + GENEROUS for _, _, erlang in stats]
    advice = []
    for i, spec in enumerate(shifts):
        rate, handle, erlang = stats[i]
        within = _Grader(i, spec.label, generous, members[i], calls, simulate, progress)
        limit = max(1, erlang) + MAX_ABOVE_ERLANG
        heads = smallest_meeting(erlang - 1, within.meets, limit)
        shown = limit if heads is None else heads
        below = within(shown - 1) if shown > 1 else None
        advice.append(
            ShiftAdvice(
                spec.label, len(members[i]), rate, handle, erlang, heads, within(shown), below
            )
        )
    return advice


class _Grader:
    """One shift's share of genuine callers answered within 15 s by its head count, the other
    shifts staffed generously; each count simulated once."""

    def __init__(
        self,
        index: int,
        label: str,
        generous: Sequence[int],
        members: Sequence[int],
        calls: Sequence[TraceCall],
        simulate: Callable[[Sequence[int]], Outcome],
        progress: Callable[[str], None],
    ) -> None:
        self.index, self.label, self.generous = index, label, generous
        self.members, self.calls = members, calls
        self.simulate, self.progress = simulate, progress
        self.seen: dict[int, float | None] = {}

    def __call__(self, heads: int) -> float | None:
        if heads not in self.seen:
            i = self.index
            staffing = [*self.generous[:i], heads, *self.generous[i + 1 :]]
            report = genuine_report(self.simulate(staffing), self.calls, self.members)
            share = report.answered_within[TARGET_SECONDS] if report.callers else None
            self.seen[heads] = share
            shown = "no genuine calls" if share is None else f"{share:.1f}% within 15 s"
            people = "call-taker" if heads == 1 else "call-takers"
            self.progress(f"{self.label} with {heads} {people}: {shown}")
        return self.seen[heads]

    def meets(self, heads: int) -> bool:
        """NENA's 90% within 15 s met (a shift without genuine callers meets it)."""
        return kpi.meets_target(TARGET_SECONDS, self(heads)) is not False


def format_advice(advice: Sequence[ShiftAdvice], title: str) -> str:
    """The table ``--recommend`` prints."""
    head = (
        f"  {'shift':<14}{'calls':>7}{'calls/h':>9}{'handle':>8}{'Erlang C':>10}"
        f"{'simulated':>11}{'<=15 s':>9}{'one fewer':>11}"
    )
    lines = [title, "", head]
    for a in advice:
        heads = f">{max(1, a.erlang) + MAX_ABOVE_ERLANG}" if a.heads is None else str(a.heads)
        lines.append(
            f"  {a.label:<14}{a.calls:>7,}{a.rate_per_hour:>9.1f}{a.handle_time:>7.0f}s"
            f"{a.erlang:>10}{heads:>11}{_pct(a.within):>9}{_pct(a.below):>11}"
        )
    lines += [
        "",
        "  simulated: the fewest call-takers with 90% of genuine callers answered within 15 s",
        "  (NENA-STA-020.1), the other shifts staffed generously; <=15 s at that count and at",
        "  one fewer. Erlang C: the shift's mean rate and handling time (talk + wrap-up), callers",
        "  who never hang up, every call alike.",
    ]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"
