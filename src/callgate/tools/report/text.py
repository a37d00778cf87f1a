"""The report as plain-text tables, for a terminal or an e-mail."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from callgate.reports.calltaker_figures import ALL, CallTakerFigures, CallTakerReport
from callgate.reports.figures import NENA_TARGETS, OUTCOMES, CategoryRow, Report, Share
from callgate.reports.periods import local_time


def _pct(share: Share) -> str:
    percent = share.percent
    return "-" if percent is None else f"{percent:.1f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    cells = [[str(v) for v in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        # Numbers read best right-aligned; the first column is a name.
        parts = [row[0].ljust(widths[0])] + [
            v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append(indent + "  ".join(parts).rstrip())
    return "\n".join(lines)


def _screening_name(name: str) -> str:
    return name or "(none)"


def render_text(report: Report) -> str:
    """The report as plain-text tables for a terminal or an e-mail."""
    r = report
    p = r.period
    lines = [
        f"callgate report: {p.label}",
        f"from {local_time(p.start, p.tz)} to {local_time(p.end, p.tz)} local time",
        "",
        "112 calls",
    ]
    summary: list[tuple[str, int, str]] = [
        ("received", r.received, ""),
        ("still in progress", r.in_progress, "not counted below"),
        ("offered (ended)", r.ended, "the denominator of the rates below"),
        ("answered by a call-taker", r.answered, _pct(Share(r.answered, r.ended))),
    ]
    if r.answered_time_unknown:
        summary.append(("answered, time unknown", r.answered_time_unknown, "after a restart"))
    summary += [
        ("abandoned", r.abandoned.part, f"{_pct(r.abandoned)} abandonment"),
        ("overflowed", r.outcomes.get("OVERFLOWED", 0), "to an overflow destination"),
        ("fallback queue", r.outcomes.get("FALLBACK", 0), "Asterisk's own queue"),
    ]
    for name, count in r.outcomes.items():
        if name not in OUTCOMES and count:
            summary.append((f"outcome {name}", count, ""))
    # The notes read as sentences: left-aligned after the numbers.
    lines += [f"  {name:<26}{count:>7}  {note}".rstrip() for name, count, note in summary]
    if r.abandon_wait_p50 is not None:
        lines.append(f"  abandoned callers waited {_secs(r.abandon_wait_p50)} s (median)")

    a = r.answer_times
    lines += [
        "",
        f"Answer time ({a.count} answered calls, seconds)",
        f"  mean {_secs(a.mean)}  p50 {_secs(a.p50)}  p90 {_secs(a.p90)}  "
        f"longest-10% mean {_secs(a.longest_10pct_mean)}  max {_secs(a.max)}",
        _table(
            ["answered in", "calls", "share"],
            [[label, n, _pct(Share(n, a.count))] for label, n in a.buckets],
        ),
        "",
        "NENA-STA-020.1: 90% of calls answered within 15 s, 95% within 20 s",
    ]
    nena_rows: list[list[object]] = []
    for s, target in NENA_TARGETS.items():
        offered, answered = r.nena.of_offered[s], r.nena.of_answered[s]
        met = r.nena.met(s)
        verdict = "-" if met is None else "met" if met else "NOT met"
        nena_rows.append(
            [
                f"within {s} s",
                f"{offered.part}/{offered.whole}",
                _pct(offered),
                f"{target:.0f}%",
                verdict,
                f"{answered.part}/{answered.whole}",
                _pct(answered),
            ]
        )
    lines.append(
        _table(
            ["", "of offered", "%", "target", "", "of answered", "%"],
            nena_rows,
        )
    )

    lines += ["", "Calls by disposition (set after the call)"]
    lines.append(_category_table(r.dispositions, r.ended, str))
    lines += ["", "Calls by screening category (at arrival)"]
    lines.append(_category_table(r.screening, r.ended, _screening_name))

    lines += ["", f"By hour of the day ({p.tz.key}; calls that started in that hour)"]
    lines.append(
        _table(
            ["hour", "offered", "answered", "<=15s", "<=20s", "abandoned", "p50 s", "p90 s"],
            [
                [
                    f"{h.hour:02d}:00",
                    h.offered,
                    h.answered,
                    _pct(Share(h.within_15, h.offered)),
                    _pct(Share(h.within_20, h.offered)),
                    h.abandoned,
                    _secs(h.p50),
                    _secs(h.p90),
                ]
                for h in r.hours
            ],
        )
    )
    lines.append("  (<=15s and <=20s: share of the hour's offered calls)")

    c = r.callbacks
    lines += ["", "Callbacks of abandoned calls"]
    if not c.available:
        lines.append("  not recorded in this journal (schema older than 0003)")
    else:
        lines.append(
            f"  tasks created {c.tasks} ("
            + ", ".join(f"{k} {v}" for k, v in c.by_reason.items())
            + f"; {c.nuisance_tasks} flagged nuisance)"
        )
        lines.append("  their state now: " + ", ".join(f"{k} {v}" for k, v in c.by_state.items()))
        lines.append(
            f"  attempts made {c.attempts}: "
            + ", ".join(f"{k} {v}" for k, v in c.attempts_by_outcome.items())
        )
        lines.append(f"  first attempt after {_secs(c.first_attempt_p50)} s (median)")
    lines.append(f"  callback calls left out of the 112 figures: {c.pseudo_calls}")

    lines += ["", f"Top nuisance callers (prank + ghost dispositions; {len(r.nuisance)} shown)"]
    if r.nuisance:
        lines.append(
            _table(
                ["caller", "prank", "ghost", "calls", "last call"],
                [
                    [n.caller, n.prank, n.ghost, n.calls, local_time(n.last_call, p.tz)]
                    for n in r.nuisance
                ],
            )
        )
    else:
        lines.append("  none")
    if r.notes:
        lines += ["", "Notes"] + [f"  - {note}" for note in r.notes]
    return "\n".join(lines) + "\n"


def _category_table(rows: Sequence[CategoryRow], total: int, name: Callable[[str], str]) -> str:
    return _table(
        ["", "calls", "share", "answered", "abandoned"],
        [
            [name(c.name), c.calls, _pct(Share(c.calls, total)), c.answered, c.abandoned]
            for c in rows
        ],
    )


# -- callgate report --calltakers -----------------------------------------------------------


def _hms(seconds: float) -> str:
    """Seconds as ``H:MM:SS``."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _occupancy(row: CallTakerFigures) -> str:
    return "-" if row.occupancy is None else f"{row.occupancy:.1f}%"


def _calltaker_row(name: str, row: CallTakerFigures) -> list[object]:
    mean = row.mean_talk
    return [
        name,
        row.handled,
        row.callbacks,
        _hms(row.talk_seconds),
        "-" if mean is None else _hms(mean),
        _hms(row.logged_in_seconds),
        _hms(row.paused_seconds),
        _occupancy(row),
        row.missed_rings,
    ]


_CALLTAKER_HEADERS = [
    "call-taker",
    "handled",
    "callbacks",
    "talk",
    "mean talk",
    "logged in",
    "paused",
    "occupancy",
    "missed rings",
]


def render_calltakers_text(report: CallTakerReport) -> str:
    """``callgate report --calltakers`` as plain-text tables."""
    p = report.period
    rows = report.calltakers
    lines = [
        f"callgate report --calltakers: {p.label}",
        f"from {local_time(p.start, p.tz)} to {local_time(p.end, p.tz)} local time",
        "",
        f"Call-takers ({len(rows)}; times H:MM:SS)",
    ]
    if not rows:
        lines.append("  nobody logged in, talked or missed a ring in this period")
    else:
        table = [_calltaker_row(r.agent_id, r) for r in rows]
        table.append(_calltaker_row(ALL, report.total))
        lines.append(_table(_CALLTAKER_HEADERS, table))
    lines += ["", "Pauses by reason"]
    pauses = [
        [r.agent_id, reason, r.pause_counts.get(reason, 0), _hms(seconds)]
        for r in rows
        for reason, seconds in r.pause_seconds.items()
    ]
    if pauses:
        lines.append(_table(["call-taker", "reason", "pauses", "time"], pauses))
    else:
        lines.append("  none")
    lines += ["", f"By shift ({p.tz.key}; a shift is named by the day it starts)"]
    for shift in report.shifts:
        hours = f"{local_time(shift.start, p.tz)[11:]}-{local_time(shift.end, p.tz)[11:]}"
        lines.append(f"  {shift.day} {shift.shift} {hours}")
        table = [_calltaker_row(r.agent_id, r) for r in shift.calltakers]
        table.append(_calltaker_row(ALL, shift.total))
        lines.append(_table(_CALLTAKER_HEADERS, table, indent="    "))
    if not report.shifts:
        lines.append("  none")
    lines += [
        "",
        "occupancy = talk / (logged in - paused); handled: 112 calls answered in the window;",
        "talk: conversations (112 calls and callbacks) in the window; wrap-up is not talk.",
    ]
    if report.notes:
        lines += ["", "Notes"] + [f"  - {note}" for note in report.notes]
    return "\n".join(lines) + "\n"
