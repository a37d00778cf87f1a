"""The report as files: one CSV per table, and a PNG chart of the hours."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from callgate.reports.calltaker_figures import CallTakerReport
from callgate.reports.figures import Report
from callgate.reports.report_tables import (
    CALLTAKER_CSV_FILES,
    CSV_FILES,
    Table,
    calltaker_tables,
    report_tables,
    write_table,
)

__all__ = ["CALLTAKER_CSV_FILES", "CSV_FILES", "write_calltakers_csv", "write_csv", "write_png"]


def write_csv(report: Report, folder: Path) -> list[Path]:
    """Write one CSV file per table into ``folder`` (created if needed); return the files."""
    return _write_csv(folder, CSV_FILES, report_tables(report))


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


def write_calltakers_csv(report: CallTakerReport, folder: Path) -> list[Path]:
    """Write the call-takers' tables into ``folder`` (created if needed); return the files."""
    return _write_csv(folder, CALLTAKER_CSV_FILES, calltaker_tables(report))


def _write_csv(folder: Path, names: Sequence[str], tables: Mapping[str, Table]) -> list[Path]:
    """Write each of ``names`` (its headers, then its rows) in ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = folder / name
        with path.open("w", newline="", encoding="utf-8") as stream:
            write_table(stream, tables[name])
        written.append(path)
    return written
