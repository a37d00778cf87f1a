"""The report as files: one CSV per table, and a PNG chart of the hours."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from callgate.tools import csv_cells
from callgate.tools.report.calltaker_figures import CallTakerFigures, CallTakerReport
from callgate.tools.report.figures import NENA_TARGETS, Callbacks, Report

#: Files written by :func:`write_csv`, one table each.
CSV_FILES = (
    "summary.csv",
    "answer_times.csv",
    "hours.csv",
    "dispositions.csv",
    "screening.csv",
    "callbacks.csv",
    "nuisance.csv",
)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def write_csv(report: Report, folder: Path) -> list[Path]:
    """Write one CSV file per table into ``folder`` (created if needed); return the files."""
    r = report
    p = r.period
    folder.mkdir(parents=True, exist_ok=True)
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
        ["abandonment_pct", _num(r.abandoned.percent)],
        ["abandon_wait_p50_s", _num(r.abandon_wait_p50)],
        ["answer_mean_s", _num(a.mean)],
        ["answer_p50_s", _num(a.p50)],
        ["answer_p90_s", _num(a.p90)],
        ["answer_longest_10pct_mean_s", _num(a.longest_10pct_mean)],
        ["answer_max_s", _num(a.max)],
    ]
    for s in NENA_TARGETS:
        offered, answered = r.nena.of_offered[s], r.nena.of_answered[s]
        summary += [
            [f"within_{s}s_of_offered", offered.part],
            [f"within_{s}s_of_offered_pct", _num(offered.percent)],
            [f"within_{s}s_of_answered_pct", _num(answered.percent)],
            [f"nena_{s}s_target_pct", f"{NENA_TARGETS[s]:.0f}"],
            [f"nena_{s}s_met", {None: "", True: "yes", False: "no"}[r.nena.met(s)]],
        ]
    tables: dict[str, tuple[list[str], list[list[object]]]] = {
        "summary.csv": (["metric", "value"], summary),
        "answer_times.csv": (["answered_in", "calls"], [[lbl, n] for lbl, n in a.buckets]),
        "hours.csv": (
            [
                "hour",
                "offered",
                "answered",
                "within_15s",
                "within_20s",
                "abandoned",
                "p50_s",
                "p90_s",
            ],
            [
                [
                    f"{h.hour:02d}",
                    h.offered,
                    h.answered,
                    h.within_15,
                    h.within_20,
                    h.abandoned,
                    _num(h.p50),
                    _num(h.p90),
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
    return _write_csv(folder, CSV_FILES, tables)


def _callback_rows(c: Callbacks) -> list[list[object]]:
    rows: list[list[object]] = [
        ["tasks", "created", c.tasks],
        ["tasks", "nuisance", c.nuisance_tasks],
        *[["task_reason", k, v] for k, v in c.by_reason.items()],
        *[["task_state", k, v] for k, v in c.by_state.items()],
        ["attempts", "made", c.attempts],
        *[["attempt_outcome", k, v] for k, v in c.attempts_by_outcome.items()],
        ["pseudo_calls", "callback", c.pseudo_calls],
    ]
    return rows


def write_png(report: Report, path: Path) -> Path:
    """A bar chart of the hours: calls answered within 15 s, 15-20 s, later, and not answered
    by a call-taker, stacked, with the p90 answer time on the right axis."""
    # Imported here: matplotlib is slow to import and the daemon never needs it.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    hours = report.hours
    labels = [f"{h.hour:02d}" for h in hours]
    x = list(range(len(hours)))
    stacks = [
        ("answered <= 15 s", [h.within_15 for h in hours], "#2e7d32"),
        ("15-20 s", [h.within_20 - h.within_15 for h in hours], "#f9a825"),
        ("> 20 s", [h.later for h in hours], "#ef6c00"),
        ("not answered by a call-taker", [h.not_answered for h in hours], "#9e9e9e"),
    ]
    figure, axes = plt.subplots(figsize=(11, 5), dpi=100)
    try:
        bottom = [0] * len(hours)
        for label, values, colour in stacks:
            axes.bar(x, values, bottom=bottom, label=label, color=colour, width=0.8)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes.set_xticks(x, labels)
        axes.set_xlabel(f"hour of the day ({report.period.tz.key})")
        axes.set_ylabel("calls offered")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(f"112 calls by hour: {report.period.label}")
        p90_axes = axes.twinx()
        p90 = [math.nan if h.p90 is None else h.p90 for h in hours]
        p90_axes.plot(x, p90, "o-", color="#c62828", label="p90 answer time (s)")
        p90_axes.axhline(15, color="#c62828", linestyle=":", linewidth=1)
        p90_axes.set_ylabel("p90 answer time (s); dotted: 15 s")
        p90_axes.set_ylim(bottom=0)
        handles, names = axes.get_legend_handles_labels()
        more_handles, more_names = p90_axes.get_legend_handles_labels()
        # Below the plot, so it never hides a bar.
        axes.legend(
            handles + more_handles,
            names + more_names,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncol=5,
            fontsize=8,
            frameon=False,
        )
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return path


#: Files written by :func:`write_calltakers_csv` (``callgate report --calltakers --csv DIR``).
CALLTAKER_CSV_FILES = ("calltakers.csv", "calltaker_pauses.csv", "calltaker_shifts.csv")

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
        _num(row.occupancy),
        row.missed_rings,
    ]


def write_calltakers_csv(report: CallTakerReport, folder: Path) -> list[Path]:
    """Write the call-takers' tables into ``folder`` (created if needed); return the files."""
    tz = report.period.tz
    folder.mkdir(parents=True, exist_ok=True)
    everyone = [*report.calltakers, report.total]
    tables: dict[str, tuple[list[str], list[list[object]]]] = {
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
                for r in [*s.calltakers, s.total]
            ],
        ),
    }
    return _write_csv(folder, CALLTAKER_CSV_FILES, tables)


def _write_csv(
    folder: Path, names: Sequence[str], tables: Mapping[str, tuple[list[str], list[list[object]]]]
) -> list[Path]:
    """Write each of ``names`` (its headers, then its rows) in ``folder``; the paths written."""
    written = []
    for name in names:
        headers, rows = tables[name]
        path = folder / name
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(csv_cells.row(headers))
            writer.writerows(csv_cells.row(r) for r in rows)
        written.append(path)
    return written
