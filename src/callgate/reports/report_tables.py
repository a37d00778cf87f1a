"""A report's tables (headers and rows), as ``callgate report --csv`` writes them one file each
and the managers' report page offers them as one CSV download: one builder, the same cells."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import TextIO

from callgate.reports import csv_cells
from callgate.reports.calltaker_figures import CallTakerFigures, CallTakerReport
from callgate.reports.figures import NENA_TARGETS, Callbacks, Report

#: A table: its headers and its rows.
Table = tuple[list[str], list[list[object]]]

#: The report's tables, one CSV file each (``callgate report --csv DIR``).
CSV_FILES = (
    "summary.csv",
    "answer_times.csv",
    "hours.csv",
    "dispositions.csv",
    "screening.csv",
    "callbacks.csv",
    "nuisance.csv",
)
#: The call-takers' tables (``callgate report --calltakers --csv DIR``).
CALLTAKER_CSV_FILES = ("calltakers.csv", "calltaker_pauses.csv", "calltaker_shifts.csv")


def num(value: float | None) -> str:
    """A figure with one decimal, empty when there is none."""
    return "" if value is None else f"{value:.1f}"


def report_tables(report: Report) -> dict[str, Table]:
    """Every table of ``report`` by the name of its CSV file (:data:`CSV_FILES`)."""
    r = report
    p = r.period
    a = r.answer_times
    summary: list[list[object]] = [
        ["period_start", p.start.astimezone(p.tz).isoformat()],
        ["period_end", p.end.astimezone(p.tz).isoformat()],
        ["time_zone", p.tz.key],
        ["received", r.received],
        ["in_progress", r.in_progress],
        ["offered", r.ended],
        ["answered", r.answered],
        ["answered_time_unknown", r.answered_time_unknown],
        *[[f"outcome_{k.lower()}", v] for k, v in r.outcomes.items()],
        ["abandonment_pct", num(r.abandoned.percent)],
        ["abandon_wait_p50_s", num(r.abandon_wait_p50)],
        ["answer_mean_s", num(a.mean)],
        ["answer_p50_s", num(a.p50)],
        ["answer_p90_s", num(a.p90)],
        ["answer_longest_10pct_mean_s", num(a.longest_10pct_mean)],
        ["answer_max_s", num(a.max)],
    ]
    for s in NENA_TARGETS:
        offered, answered = r.nena.of_offered[s], r.nena.of_answered[s]
        summary += [
            [f"within_{s}s_of_offered", offered.part],
            [f"within_{s}s_of_offered_pct", num(offered.percent)],
            [f"within_{s}s_of_answered_pct", num(answered.percent)],
            [f"nena_{s}s_target_pct", f"{NENA_TARGETS[s]:.0f}"],
            [f"nena_{s}s_met", {None: "", True: "yes", False: "no"}[r.nena.met(s)]],
        ]
    hours_headers = ["hour", "offered", "answered", "within_15s", "within_20s", "abandoned"]
    return {
        "summary.csv": (["metric", "value"], summary),
        "answer_times.csv": (["answered_in", "calls"], [[lbl, n] for lbl, n in a.buckets]),
        "hours.csv": (
            [*hours_headers, "p50_s", "p90_s"],
            [
                [
                    f"{h.hour:02d}",
                    h.offered,
                    h.answered,
                    h.within_15,
                    h.within_20,
                    h.abandoned,
                    num(h.p50),
                    num(h.p90),
                ]
                for h in r.hours
            ],
        ),
        "dispositions.csv": (
            ["disposition", "calls", "answered", "abandoned"],
            [[c.name, c.calls, c.answered, c.abandoned] for c in r.dispositions],
        ),
        "screening.csv": (
            ["category", "calls", "answered", "abandoned"],
            [[c.name, c.calls, c.answered, c.abandoned] for c in r.screening],
        ),
        "callbacks.csv": (["kind", "name", "count"], _callback_rows(r.callbacks)),
        "nuisance.csv": (
            ["caller", "prank", "ghost", "calls", "last_call"],
            [
                [n.caller, n.prank, n.ghost, n.calls, n.last_call.astimezone(p.tz).isoformat()]
                for n in r.nuisance
            ],
        ),
    }


def _callback_rows(c: Callbacks) -> list[list[object]]:
    return [
        ["tasks", "created", c.tasks],
        ["tasks", "nuisance", c.nuisance_tasks],
        *[["task_reason", k, v] for k, v in c.by_reason.items()],
        *[["task_state", k, v] for k, v in c.by_state.items()],
        ["attempts", "made", c.attempts],
        *[["attempt_outcome", k, v] for k, v in c.attempts_by_outcome.items()],
        ["pseudo_calls", "callback", c.pseudo_calls],
    ]


_FIGURE_HEADERS = [
    "handled",
    "callbacks",
    "talk_s",
    "logged_in_s",
    "paused_s",
    "available_s",
    "occupancy_pct",
    "missed_rings",
]


def _figures(row: CallTakerFigures) -> list[object]:
    return [
        row.handled,
        row.callbacks,
        round(row.talk_seconds),
        round(row.logged_in_seconds),
        round(row.paused_seconds),
        round(row.available_seconds),
        num(row.occupancy),
        row.missed_rings,
    ]


def calltaker_tables(report: CallTakerReport, *, total: bool = True) -> dict[str, Table]:
    """The call-takers' tables by file name (:data:`CALLTAKER_CSV_FILES`); ``total``: with the
    row of everyone together (left out of one call-taker's report)."""
    tz = report.period.tz
    everyone = [*report.calltakers, *([report.total] if total else [])]
    return {
        "calltakers.csv": (
            ["calltaker", *_FIGURE_HEADERS],
            [[r.agent_id, *_figures(r)] for r in everyone],
        ),
        "calltaker_pauses.csv": (
            ["calltaker", "reason", "pauses", "paused_s"],
            [
                [r.agent_id, reason, r.pause_counts.get(reason, 0), round(seconds)]
                for r in everyone
                for reason, seconds in r.pause_seconds.items()
            ],
        ),
        "calltaker_shifts.csv": (
            ["day", "shift", "start", "end", "calltaker", *_FIGURE_HEADERS],
            [
                [
                    s.day,
                    s.shift,
                    s.start.astimezone(tz).isoformat(),
                    s.end.astimezone(tz).isoformat(),
                    r.agent_id,
                    *_figures(r),
                ]
                for s in report.shifts
                for r in [*s.calltakers, *([s.total] if total else [])]
            ],
        ),
    }


def write_table(stream: TextIO, table: Table) -> None:
    """``table``'s headers, then its rows, as CSV on ``stream``, no cell a formula."""
    headers, rows = table
    writer = csv.writer(stream)
    writer.writerow(csv_cells.row(headers))
    writer.writerows(csv_cells.row(r) for r in rows)


def one_csv(tables: Mapping[str, Table], names: Sequence[str]) -> str:
    """The tables ``names`` in one CSV text (the page's download): each after a row naming it
    (``# summary``), a blank row between them, so a spreadsheet shows them one under another."""
    out = io.StringIO(newline="")
    for i, name in enumerate(names):
        if i:
            out.write("\r\n")
        csv.writer(out).writerow([f"# {name.removesuffix('.csv')}"])
        write_table(out, tables[name])
    return out.getvalue()
