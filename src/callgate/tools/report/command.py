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
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from callgate.config import Settings
from callgate.reports.calltaker_figures import CallTakerReport
from callgate.reports.centre_time import centre_shifts, centre_zone, shifts_spec
from callgate.reports.figures import Report
from callgate.reports.periods import (
    DEFAULT_SHIFTS,
    Period,
    ReportUsageError,
    ShiftHours,
    day_period,
    month_period,
    parse_datetime,
    parse_month,
    parse_shifts,
    range_period,
    shift_period,
    zone,
)
from callgate.reports.reading import read_calltakers, read_report, with_readonly_journal
from callgate.storage.database import JournalError, redact_url
from callgate.storage.journal import Journal
from callgate.storage.reports import ReportRows, load_report_rows
from callgate.tools.report.export import (
    CALLTAKER_CSV_FILES,
    CSV_FILES,
    write_calltakers_csv,
    write_csv,
    write_png,
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
    parser.add_argument("--month", help="a local calendar month: 2026-11")
    parser.add_argument(
        "--shift",
        help="with --day: the shift that starts that day (a name of the shifts, e.g. malam)",
    )
    parser.add_argument(
        "--shifts",
        help="shift hours, local time, e.g. pagi=07-15,siang=15-23,malam=23-07 (default: the "
        "config's [[roster.shifts]]; when it names none, those three)",
    )
    parser.add_argument(
        "--from", dest="start", metavar="FROM", help="start: '2026-11-01' or '2026-11-01 07:00'"
    )
    parser.add_argument("--to", dest="end", metavar="TO", help="end (not included), same forms")
    parser.add_argument(
        "--tz",
        help="the centre's time zone: Asia/Jakarta (WIB), Asia/Makassar (WITA), Asia/Jayapura "
        "(WIT) (default: the config's [roster] timezone, WIB when it names none)",
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


def period_from_args(
    args: argparse.Namespace,
    today: date,
    *,
    tz: ZoneInfo | None = None,
    shifts: Sequence[ShiftHours] | None = None,
) -> Period:
    """The period the arguments ask for; ``today`` is the local date (for today/yesterday);
    ``tz`` and ``shifts`` the centre's (default: ``--tz`` and ``--shifts``, else WIB and the
    fixed shifts)."""
    tz = tz or zone(args.tz or DEFAULT_TZ)
    month = getattr(args, "month", None)
    if sum(x is not None for x in (args.day, month, args.start or args.end)) > 1:
        raise ReportUsageError("give only one of --day (with --shift), --month, or --from and --to")
    if month is not None:
        if args.shift is not None:
            raise ReportUsageError("--shift needs --day (the day the shift starts)")
        return month_period(parse_month(month), tz)
    if args.day is not None:
        day = _parse_day(args.day, today)
        if args.shift is None:
            return day_period(day, tz)
        if shifts is None:
            shifts = parse_shifts(args.shifts) if args.shifts else DEFAULT_SHIFTS
        by_name = {s.name: s for s in shifts}
        if args.shift not in by_name:
            raise ReportUsageError(
                f"unknown shift {args.shift!r}: use {', '.join(by_name)} (or define it in --shifts)"
            )
        return shift_period(day, by_name[args.shift], tz)
    if args.shift is not None:
        raise ReportUsageError("--shift needs --day (the day the shift starts)")
    if args.start is None or args.end is None:
        raise ReportUsageError(
            "say which period: --day 2026-11-23, --day 2026-11-23 --shift malam, "
            "--month 2026-11, or --from 2026-11-01 --to 2026-12-01"
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


def _settings(config: str | None) -> Settings:
    from callgate.config import ConfigError, load_settings

    path = config or (str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None)
    try:
        return load_settings(path)
    except ConfigError as exc:
        raise ReportUsageError(f"{path or 'configuration'}: {exc}") from None


async def _read(url: str, period: Period, top: int) -> Report:
    # The same reading as the daemon's report pages (callgate.daemon.report_service).
    return await with_readonly_journal(
        url, lambda journal, callbacks: read_report(journal, period, callbacks=callbacks, top=top)
    )


async def _read_calltakers(
    url: str, period: Period, shifts: Sequence[ShiftHours]
) -> CallTakerReport:
    now = datetime.now(UTC)
    return await with_readonly_journal(
        url, lambda journal, _: read_calltakers(journal, period, shifts, now=now)
    )


def _run_calltakers(
    args: argparse.Namespace, url: str, period: Period, shifts: Sequence[ShiftHours]
) -> int:
    if args.png is not None:
        print("callgate report: --png draws the calls' hours, not --calltakers", file=sys.stderr)
        return USAGE
    try:
        report = asyncio.run(_read_calltakers(url, period, shifts))
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
        settings = _settings(args.config)
        # The centre's zone and shifts, as the report pages read them, unless given here.
        tz = zone(args.tz) if args.tz else centre_zone(settings)
        shifts = parse_shifts(args.shifts) if args.shifts else centre_shifts(settings)
        period = period_from_args(args, datetime.now(tz).date(), tz=tz, shifts=shifts)
        url = settings.storage.url.get_secret_value()
    except ReportUsageError as exc:
        print(f"callgate report: {exc}", file=sys.stderr)
        return USAGE
    if args.calltakers:
        print(f"callgate report: shifts {shifts_spec(shifts)}", file=sys.stderr)
        return _run_calltakers(args, url, period, shifts)
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
