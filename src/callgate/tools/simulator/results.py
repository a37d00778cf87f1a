"""What a simulation prints: the core's KPIs per shift, and screening off against on."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from callgate.core import (
    CallEnded,
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
        groups[_shift_of(local, shifts)].append(record)
    return {label: compute_kpis(group) for label, group in groups.items() if group}


def _shift_of(local: dt.time, shifts: Sequence[ShiftSpec]) -> str:
    for spec in shifts:
        if spec.start < spec.end:
            inside = spec.start <= local < spec.end
        else:
            inside = local >= spec.start or local < spec.end
        if inside:
            return spec.label
    return "out of hours"


def format_report(outcome: Outcome, title: str) -> str:
    """The KPI table a centre manager reads."""
    r = outcome.report
    lines = [title, ""]

    def row(label: str, value: str, note: str = "") -> None:
        lines.append(f"  {label:<34}{value:>12}  {note}".rstrip())

    row("calls", f"{r.calls:,}")
    row("answered by call-takers", f"{r.answered:,}")
    row("abandoned", f"{r.abandoned:,}", f"({r.abandonment_rate:.1f}% abandonment)")
    row("overflow destination answered", f"{r.overflowed:,}")
    row("sent to the fallback queue", f"{r.fallback:,}")
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


def format_comparison(off: Outcome, on: Outcome, calls: Sequence[TraceCall], title: str) -> str:
    """Screening off vs on, over the same calls: what happens to genuine callers."""
    a, b = genuine_kpis(off.records, calls), genuine_kpis(on.records, calls)
    lines = [title, "", f"  {'':<48}{'off':>9}{'on':>9}"]

    def row(label: str, first: str, second: str, note: str = "") -> None:
        lines.append(f"  {label:<48}{first:>9}{second:>9}  {note}".rstrip())

    def pct(label: str, x: float, y: float, note: str = "") -> None:
        row(label, f"{x:.1f}%", f"{y:.1f}%", note)

    row("genuine calls", f"{a.all.calls:,}", f"{b.all.calls:,}")
    pct(
        "genuine answered within 15 s",
        a.all.answered_within[15],
        b.all.answered_within[15],
        "NENA target 90%",
    )
    pct("genuine answered within 20 s", a.all.answered_within[20], b.all.answered_within[20])
    pct("genuine abandoned", a.all.abandonment_rate, b.all.abandonment_rate)
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
    return "\n".join(lines)
