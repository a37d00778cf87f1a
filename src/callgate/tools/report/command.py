"""``callgate report``: its options, the period they ask for, and the run (read the journal,
print the tables, write the files); exit 0 done, 1 journal unreadable, 2 bad arguments."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from callgate.storage.agent_events import (
    agent_events_between,
    handled_calls_between,
    has_agent_events,
)
from callgate.storage.database import JournalError, redact_url
from callgate.storage.journal import Journal
from callgate.storage.reports import ReportRows, load_report_rows, open_journal_readonly
from callgate.tools.report.calltaker_figures import CallTakerReport, build_calltaker_report
from callgate.tools.report.compute import build_report
from callgate.tools.report.export import (
    CALLTAKER_CSV_FILES,
    CSV_FILES,
    write_calltakers_csv,
    write_csv,
    write_png,
)
from callgate.tools.report.figures import Report
from callgate.tools.report.periods import (
    Period,
    ReportUsageError,
    day_period,
    parse_datetime,
    parse_shifts,
    range_period,
    shift_period,
    zone,
)
from callgate.tools.report.text import render_calltakers_text, render_text

OK, DATABASE, USAGE = 0, 1, 2
DEFAULT_TZ = "Asia/Jakarta"
DEFAULT_CONFIG = Path("/etc/callgate/callgate.toml")


async def load(journal: Journal, period: Period, *, callbacks: bool = True) -> ReportRows:
    """The rows of ``period``: calls with their disposition, callback tasks created in it, and
    every attempt of those tasks or made in it (``callbacks``: the journal has their tables)."""
    return await load_report_rows(journal, period.start, period.end, callbacks=callbacks)


# -- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``report`` options to ``parser``."""
    parser.add_argument(
        "-c",
        "--config",
        help=f"config file with the journal's [storage] url (default: {DEFAULT_CONFIG} if "
        "present, else built-in defaults; CALLGATE_STORAGE__URL overrides either)",
    )
    parser.add_argument("--day", help="a local day: 2026-11-23, today or yesterday")
    parser.add_argument(
        "--shift", help="with --day: the shift that starts that day (pagi, siang or malam)"
    )
    parser.add_argument(
        "--shifts",
        default="pagi=07-15,siang=15-23,malam=23-07",
        help="shift hours, local time (default: %(default)s)",
    )
    parser.add_argument(
        "--from", dest="start", metavar="FROM", help="start: '2026-11-01' or '2026-11-01 07:00'"
    )
    parser.add_argument("--to", dest="end", metavar="TO", help="end (not included), same forms")
    parser.add_argument(
        "--tz",
        default=DEFAULT_TZ,
        help="the centre's time zone: Asia/Jakarta (WIB, default), Asia/Makassar (WITA), "
        "Asia/Jayapura (WIT)",
    )
    parser.add_argument(
        "--calltakers",
        action="store_true",
        help="what each call-taker did instead, over the period and per shift of --shifts: "
        "calls handled, talk time, logged-in and pause time by reason, missed rings, occupancy",
    )
    parser.add_argument(
        "--csv",
        type=Path,
        metavar="DIR",
        help=f"also write {', '.join(CSV_FILES)} into DIR "
        f"(with --calltakers: {', '.join(CALLTAKER_CSV_FILES)})",
    )
    parser.add_argument(
        "--png", type=Path, metavar="FILE", help="also draw answer times per hour into FILE"
    )
    parser.add_argument(
        "--top", type=_positive, default=10, help="nuisance callers to list (default 10)"
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def period_from_args(args: argparse.Namespace, today: date) -> Period:
    """The period the arguments ask for; ``today`` is the local date (for today/yesterday)."""
    tz = zone(args.tz)
    if args.day is not None and (args.start is not None or args.end is not None):
        raise ReportUsageError("give either --day (with --shift) or --from and --to, not both")
    if args.day is not None:
        day = _parse_day(args.day, today)
        if args.shift is None:
            return day_period(day, tz)
        shifts = {s.name: s for s in parse_shifts(args.shifts)}
        if args.shift not in shifts:
            raise ReportUsageError(
                f"unknown shift {args.shift!r}: use {', '.join(shifts)} (or define it in --shifts)"
            )
        return shift_period(day, shifts[args.shift], tz)
    if args.shift is not None:
        raise ReportUsageError("--shift needs --day (the day the shift starts)")
    if args.start is None or args.end is None:
        raise ReportUsageError(
            "say which period: --day 2026-11-23, --day 2026-11-23 --shift malam, "
            "or --from 2026-11-01 --to 2026-12-01"
        )
    return range_period(parse_datetime(args.start), parse_datetime(args.end), tz)


def _parse_day(text: str, today: date) -> date:
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    if text.lower() in named:
        return named[text.lower()]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReportUsageError(f"--day {text!r} is not a date (use 2026-11-23)") from None


def _storage_url(config: str | None) -> str:
    from callgate.config import ConfigError, load_settings

    path = config or (str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raise ReportUsageError(f"{path or 'configuration'}: {exc}") from None
    return settings.storage.url.get_secret_value()


async def _read(url: str, period: Period, top: int) -> Report:
    journal, callbacks = await open_journal_readonly(url)
    try:
        calls, tasks, attempts = await load(journal, period, callbacks=callbacks)
    finally:
        await journal.close()
    return build_report(period, calls, tasks, attempts, callbacks_available=callbacks, top=top)


async def _read_calltakers(url: str, period: Period, args: argparse.Namespace) -> CallTakerReport:
    journal, _ = await open_journal_readonly(url)
    try:
        if not await has_agent_events(journal):
            raise JournalError(
                "this journal has no call-takers' record (schema older than 0006: run the "
                "daemon of this version once to migrate it)"
            )
        found = await agent_events_between(journal, period.start, period.end)
        handled = await handled_calls_between(journal, period.start, period.end)
    finally:
        await journal.close()
    return build_calltaker_report(
        period,
        found.before,
        found.events,
        handled,
        shifts=parse_shifts(args.shifts),
        now=datetime.now(UTC),
    )


def _run_calltakers(args: argparse.Namespace, url: str, period: Period) -> int:
    if args.png is not None:
        print("callgate report: --png draws the calls' hours, not --calltakers", file=sys.stderr)
        return USAGE
    try:
        parse_shifts(args.shifts)
        report = asyncio.run(_read_calltakers(url, period, args))
    except ReportUsageError as exc:
        print(f"callgate report: {exc}", file=sys.stderr)
        return USAGE
    except JournalError as exc:
        print(f"callgate report: {exc}", file=sys.stderr)
        return DATABASE
    sys.stdout.write(render_calltakers_text(report))
    if args.csv is not None:
        try:
            files = write_calltakers_csv(report, args.csv)
        except OSError as exc:
            print(
                f"callgate report: cannot write {exc.filename or ''}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return USAGE
        print(f"callgate report: wrote {len(files)} CSV files into {args.csv}", file=sys.stderr)
    return OK


#: matplotlib is an extra (about 125 MB): said before the journal is read, not after.
PNG_MISSING = (
    "callgate report: --png needs matplotlib, which is not installed; install the extra into "
    "callgate's environment: pip install 'callgate[png]' (or: pip install matplotlib)"
)


def png_available() -> bool:
    """Whether matplotlib can be imported (without importing it: that takes a second)."""
    return importlib.util.find_spec("matplotlib") is not None


def run(args: argparse.Namespace) -> int:
    """Entry point of ``callgate report``; returns the exit code."""
    try:
        tz = zone(args.tz)
        period = period_from_args(args, datetime.now(tz).date())
        url = _storage_url(args.config)
    except ReportUsageError as exc:
        print(f"callgate report: {exc}", file=sys.stderr)
        return USAGE
    if args.calltakers:
        return _run_calltakers(args, url, period)
    if args.png is not None and not png_available():
        print(PNG_MISSING, file=sys.stderr)
        return USAGE
    began = time.monotonic()
    try:
        report = asyncio.run(_read(url, period, args.top))
    except JournalError as exc:
        print(f"callgate report: {exc}", file=sys.stderr)
        return DATABASE
    except SQLAlchemyError as exc:  # pragma: no cover - JournalError wraps the known cases
        print(
            f"callgate report: cannot read {redact_url(url)}: {type(exc).__name__}", file=sys.stderr
        )
        return DATABASE
    print(
        f"callgate report: {report.received + report.callbacks.pseudo_calls} calls read from "
        f"{redact_url(url)} in {time.monotonic() - began:.1f} s",
        file=sys.stderr,
    )
    sys.stdout.write(render_text(report))
    try:
        if args.csv is not None:
            files = write_csv(report, args.csv)
            print(f"callgate report: wrote {len(files)} CSV files into {args.csv}", file=sys.stderr)
        if args.png is not None:
            write_png(report, args.png)
            print(f"callgate report: wrote the chart {args.png}", file=sys.stderr)
    except OSError as exc:
        print(
            f"callgate report: cannot write {exc.filename or ''}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return USAGE
    return OK


def main(argv: Sequence[str] | None = None) -> int:
    """``callgate report ...`` (argv without the ``report`` word)."""
    parser = argparse.ArgumentParser(
        prog="callgate report",
        description="Figures of a day, a shift or a date range from the journal (read-only): "
        "calls by category, answer times and NENA compliance, abandonment, callbacks, "
        "nuisance callers; with --calltakers, each call-taker's work per shift. "
        "Exit 0 done, 1 journal unreadable, 2 bad arguments or config.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
