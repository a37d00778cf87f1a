"""What a simulation prints: the core's KPIs per shift, what genuine callers got, and screening
off against on."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from callgate.core import (
    CallEnded,
    CallState,
    KpiReport,
    compute_kpis,
    kpi,
)
from callgate.core.kpi import NENA_TARGETS
from callgate.tools.simulator.simulation import Outcome
from callgate.tools.simulator.traffic import ShiftSpec, TraceCall


def per_shift(
    records: Sequence[CallEnded], shifts: Sequence[ShiftSpec], tz: ZoneInfo
) -> dict[str, KpiReport]:
    """KPIs of the calls that arrived during each shift (by local time of day)."""
    groups: dict[str, list[CallEnded]] = {spec.label: [] for spec in shifts}
    groups["out of hours"] = []
    for record in records:
        local = dt.datetime.fromtimestamp(record.arrived_at, tz).time()
        groups[shift_of(local, shifts)].append(record)
    return {label: compute_kpis(group) for label, group in groups.items() if group}


def shift_of(local: dt.time, shifts: Sequence[ShiftSpec]) -> str:
    """The label of the first shift ``local`` falls in, or ``out of hours``."""
    for spec in shifts:
        if spec.start < spec.end:
            inside = spec.start <= local < spec.end
        else:
            inside = local >= spec.start or local < spec.end
        if inside:
            return spec.label
    return "out of hours"


def format_report(outcome: Outcome, title: str, genuine: GenuineReport | None = None) -> str:
    """The KPI table a centre manager reads; with ``genuine``, what genuine callers got."""
    r = outcome.report
    lines = [title, ""]

    def row(label: str, value: str, note: str = "") -> None:
        lines.append(f"  {label:<34}{value:>12}  {note}".rstrip())

    row("calls", f"{r.calls:,}")
    row("answered by call-takers", f"{r.answered:,}")
    row("abandoned", f"{r.abandoned:,}", f"({r.abandonment_rate:.1f}% abandonment)")
    row("overflow destination answered", f"{r.overflowed:,}")
    row("sent to the fallback queue", f"{r.fallback:,}")
    if outcome.blocked:
        row("blocked (announced, hung up)", f"{len(outcome.blocked):,}", "in no KPI")
    if outcome.prompted:
        row("silent callers prompted for a key", f"{outcome.prompted:,}")
    if outcome.deterred:
        row("prank callers gone at the warning", f"{outcome.deterred:,}")
    if outcome.attempts:
        reached = sum(1 for a in outcome.attempts if a.answered_at is not None)
        row("callback attempts", f"{len(outcome.attempts):,}", f"({reached:,} reached)")
    for seconds, pct in r.answered_within.items():
        target = NENA_TARGETS.get(seconds)
        note = "NFPA 1225 target 90%" if seconds == 10 else f"NENA target {target:.0f}%"
        met = kpi.meets_target(seconds, pct)
        verdict = "" if met is None else (" ok" if met else " MISSED")
        row(f"answered within {seconds} s", f"{pct:.1f}%", note + verdict)
    row("mean answer time", _seconds(r.mean_answer_time))
    row("longest 10% answer time, mean", _seconds(r.longest_10pct_mean))
    occupancy = sorted(r.occupancy.values())
    if occupancy:
        mean = sum(occupancy) / len(occupancy)
        spread = f"min {occupancy[0]:.0f}% / max {occupancy[-1]:.0f}%"
        row(f"occupancy ({len(occupancy)} call-takers), mean", f"{mean:.1f}%", spread)
    if outcome.per_shift:
        lines += ["", f"  {'by shift':<20}{'calls':>8}{'<=15 s':>9}{'<=20 s':>9}{'abandoned':>11}"]
        for label, k in outcome.per_shift.items():
            lines.append(
                f"  {label:<20}{k.calls:>8,}{k.answered_within[15]:>8.1f}%"
                f"{k.answered_within[20]:>8.1f}%{k.abandonment_rate:>10.1f}%"
            )
    if genuine is not None:
        lines += ["", *format_genuine(genuine)]
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f} s"


@dataclass(frozen=True, slots=True)
class GenuineKpis:
    """KPIs of the genuine calls of a run, and of those from prank or ghost numbers."""

    all: KpiReport
    "Every genuine call."
    from_nuisance: KpiReport
    "Genuine calls from a number that also made prank or ghost calls in the traffic."
    nuisance: KpiReport
    "Prank and ghost calls."


def genuine_kpis(records: Sequence[CallEnded], calls: Sequence[TraceCall]) -> GenuineKpis:
    """Split a run's records by the callers' true category."""
    nuisance_numbers = {c.caller for c in calls if c.category in _NUISANCE and c.caller}
    genuine = [r for r in records if r.category == "genuine"]
    return GenuineKpis(
        compute_kpis(genuine),
        compute_kpis(r for r in genuine if r.caller in nuisance_numbers),
        compute_kpis(r for r in records if r.category in _NUISANCE),
    )


_NUISANCE = frozenset({"prank", "ghost"})

#: "Reached by a human" counts within this many seconds of the caller's first call.
REACHED_WITHIN = 120.0


@dataclass(frozen=True, slots=True)
class GenuineReport:
    """What genuine callers got: one per genuine trace call, its redials (a blocked caller
    calling again) and its callback counted with it, times from its first call."""

    callers: int
    "Genuine trace calls."
    answered_within: dict[int, float]
    "Seconds -> % of callers a call-taker answered within them (on any of their calls)."
    abandoned: float
    "% who hung up before a call-taker answered (on every call of theirs)."
    blocked: float
    "% whose every call was blocked (announced and hung up)."
    reached: float
    "% reached by a human within :data:`REACHED_WITHIN` s: answered, or called back."
    reached_later: float
    "% reached by a human at all: answered, or called back, at any time."
    called_back: float
    "% reached by a callback (and not answered before)."

    def meets_nena(self) -> bool | None:
        """NENA's 90% within 15 s for these callers (None without callers)."""
        return kpi.meets_target(15, self.answered_within[15] if self.callers else None)


def genuine_report(
    outcome: Outcome,
    calls: Sequence[TraceCall],
    indices: Iterable[int] | None = None,
) -> GenuineReport:
    """:class:`GenuineReport` over genuine trace calls (of ``indices``, or all)."""
    chosen = range(len(calls)) if indices is None else indices
    genuine = [n for n in chosen if calls[n].category == "genuine"]
    answered: dict[int, float] = {}
    abandoned: set[int] = set()
    queued: set[int] = set()
    for record in outcome.records:
        n = outcome.origin.get(record.call_id)
        if n is None:
            continue
        queued.add(n)
        if record.answered_at is not None:
            answered[n] = min(answered.get(n, record.answered_at), record.answered_at)
        elif record.outcome is CallState.ABANDONED:
            abandoned.add(n)
    back: dict[int, float] = {}
    for call_id, at in outcome.called_back.items():
        n = outcome.origin.get(call_id)
        if n is not None:
            back[n] = min(back.get(n, at), at)
    times, reached, later, by_callback = [], 0, 0, 0
    for n in genuine:
        first = outcome.start + calls[n].arrival
        human = min(t for t in (answered.get(n), back.get(n), math.inf) if t is not None)
        if n in answered:
            times.append(answered[n] - first)
        elif n in back:
            by_callback += 1
        reached += human - first <= REACHED_WITHIN
        later += human < math.inf
    total = len(genuine)

    def share(count: int) -> float:
        return kpi.percent(count, total) or 0.0

    return GenuineReport(
        callers=total,
        answered_within={s: share(kpi.answered_within(times, s)) for s in kpi.THRESHOLDS},
        abandoned=share(sum(1 for n in genuine if n in abandoned and n not in answered)),
        blocked=share(sum(1 for n in genuine if n not in queued)),
        reached=share(reached),
        reached_later=share(later),
        called_back=share(by_callback),
    )


def format_genuine(report: GenuineReport) -> list[str]:
    """The genuine callers' lines of the report."""
    lines = [f"  genuine callers{report.callers:>31,}"]

    def row(label: str, value: float, note: str = "") -> None:
        lines.append(f"    {label:<32}{value:>11.1f}%  {note}".rstrip())

    for seconds in (15, 20):
        pct = report.answered_within[seconds]
        met = kpi.meets_target(seconds, pct if report.callers else None)
        verdict = "" if met is None else (" ok" if met else " MISSED")
        target = f"NENA target {NENA_TARGETS[seconds]:.0f}%{verdict}"
        row(f"answered within {seconds} s", pct, target)
    row("hung up before an answer", report.abandoned)
    if report.blocked:
        row("blocked on every call", report.blocked)
    row("reached by a human within 2 min", report.reached, "answered or called back")
    by_callback = f"{report.called_back:.1f}% by a callback"
    row("reached by a human at all", report.reached_later, by_callback)
    return lines


def format_comparison(off: Outcome, on: Outcome, calls: Sequence[TraceCall], title: str) -> str:
    """Screening off vs on, over the same calls: what happens to genuine callers."""
    a, b = genuine_kpis(off.records, calls), genuine_kpis(on.records, calls)
    # Per genuine caller (a blocked caller's redials count with their first call).
    x, y = genuine_report(off, calls), genuine_report(on, calls)
    lines = [title, "", f"  {'':<48}{'off':>9}{'on':>9}"]

    def row(label: str, first: str, second: str, note: str = "") -> None:
        lines.append(f"  {label:<48}{first:>9}{second:>9}  {note}".rstrip())

    def pct(label: str, x: float, y: float, note: str = "") -> None:
        row(label, f"{x:.1f}%", f"{y:.1f}%", note)

    row("genuine calls", f"{x.callers:,}", f"{y.callers:,}")
    pct(
        "genuine answered within 15 s",
        x.answered_within[15],
        y.answered_within[15],
        "NENA target 90%",
    )
    pct("genuine answered within 20 s", x.answered_within[20], y.answered_within[20])
    pct("genuine abandoned", x.abandoned, y.abandoned)
    if x.blocked or y.blocked:
        pct("genuine blocked on every call", x.blocked, y.blocked)
    pct("genuine reached by a human within 2 min", x.reached, y.reached)
    row(
        "genuine mean answer time",
        _seconds(a.all.mean_answer_time),
        _seconds(b.all.mean_answer_time),
    )
    row(
        "genuine from prank/ghost numbers",
        f"{a.from_nuisance.calls:,}",
        f"{b.from_nuisance.calls:,}",
    )
    pct(
        "  of those answered within 15 s",
        a.from_nuisance.answered_within[15],
        b.from_nuisance.answered_within[15],
    )
    pct(
        "prank/ghost answered within 15 s",
        a.nuisance.answered_within[15],
        b.nuisance.answered_within[15],
    )
    pct("prank/ghost abandoned", a.nuisance.abandonment_rate, b.nuisance.abandonment_rate)
    pct(
        "all calls answered within 15 s",
        off.report.answered_within[15],
        on.report.answered_within[15],
    )
    row("calls tagged on the phone", f"{off.tagged:,}", f"{on.tagged:,}")
    row("calls moved to the nuisance class", f"{off.deprioritised:,}", f"{on.deprioritised:,}")
    row("silent callers prompted for a key", f"{off.prompted:,}", f"{on.prompted:,}")
    row("prank callers gone at the warning", f"{off.deterred:,}", f"{on.deterred:,}")
    row("calls blocked", f"{len(off.blocked):,}", f"{len(on.blocked):,}")
    return "\n".join(lines)
