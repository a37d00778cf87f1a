"""``callgate report``: figures from a journal with known calls, periods across midnight and
time zones, the CSV and PNG outputs, and the command's messages and exit codes."""

from __future__ import annotations

import csv
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from callgate import cli
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.callbacks import CallbackAttemptRow, CallbackTaskRow
from callgate.storage.database import JournalError
from callgate.storage.journal import Journal
from callgate.storage.migrations import alembic_config
from callgate.tools.report import (
    CSV_FILES,
    CallFacts,
    Period,
    ReportUsageError,
    build_report,
    day_period,
    load,
    main,
    open_journal_readonly,
    parse_shifts,
    range_period,
    render_text,
    shift_period,
    write_csv,
    write_png,
    zone,
)
from callgate.tools.report import command as report_command

WIB = ZoneInfo("Asia/Jakarta")
DAY = date(2026, 11, 23)


def wib(hour: int, minute: int = 0, second: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=WIB)


@dataclass(frozen=True)
class Known:
    """A call of the known day: when, how it ended, what it was found to be."""

    call_id: str
    start: datetime
    outcome: str | None = "COMPLETED"
    answer_after: float | None = None
    end_after: float = 60.0
    disposition: str | None = None
    caller: str = "+6281100000000"
    category: str = ""


KNOWN = [
    Known("c1", wib(8, 0), answer_after=5, disposition="genuine", caller="+6281111111111"),
    Known("c2", wib(8, 10), answer_after=12, disposition="information"),
    Known("c3", wib(8, 20), answer_after=18, disposition="prank", caller="+62812000001"),
    # The same caller as c3 in national form: one nuisance caller, not two.
    Known("c4", wib(9, 0), answer_after=40, disposition="ghost", caller="0812000001"),
    Known("c5", wib(9, 30), outcome="ABANDONED", end_after=25, caller="+628130000005"),
    Known("c6", wib(10, 0), outcome="OVERFLOWED", category="repeat-nuisance"),
    # Withheld: a prank, but never listed as one shared "anonymous" nuisance caller.
    Known(
        "c7",
        wib(10, 30),
        outcome="FALLBACK",
        category="anonymous",
        caller="anonymous",
        disposition="prank",
    ),
    # A conversation adopted after a restart: ended COMPLETED without an answer time.
    Known("c8", wib(11, 0), disposition="test"),
    Known("c9", wib(12, 0), outcome=None),  # still in progress
    Known("cb1", wib(11, 30), answer_after=2, category="callback"),  # a callback, not a 112 call
    Known("c12", wib(13, 0), answer_after=3, disposition="prank", caller="+628139990000"),
    # Just outside the day, on either side.
    Known("early", wib(23, 59, 59, day=22), answer_after=1),
    Known("late", wib(0, 0, 0, day=24), answer_after=1),
]


async def write_known(journal: Journal, calls: list[Known]) -> None:
    notes = JournalAnnotations(journal)
    for k in calls:
        await journal.call_started(
            k.call_id,
            caller=k.caller,
            caller_sent=k.caller,
            dialed="112",
            priority=1,
            category=k.category,
            at=k.start,
        )
        if k.outcome is not None:
            await journal.call_ended(
                k.call_id,
                at=k.start + timedelta(seconds=k.end_after),
                outcome=k.outcome,
                answered_at=None
                if k.answer_after is None
                else k.start + timedelta(seconds=k.answer_after),
                answered_by=None if k.answer_after is None else "1001",
            )
        if k.disposition is not None:
            await notes.set_disposition(k.call_id, k.disposition, "1001", k.start + timedelta(1))


async def write_callbacks(journal: Journal) -> None:
    def task(task_id: str, created: datetime, state: str, reason: str, nuisance: bool) -> object:
        return CallbackTaskRow(
            task_id=task_id,
            number="081300000005",
            reason=reason,
            call_ids="c5",
            created_at=created,
            state=state,
            next_attempt_at=created,
            closed_at=None,
            nuisance=nuisance,
        )

    def attempt(task_id: str, started: datetime, outcome: str) -> object:
        return CallbackAttemptRow(
            task_id=task_id,
            call_id=f"{task_id}-{started:%H%M}",
            started_at=started,
            ended_at=started + timedelta(seconds=30),
            outcome=outcome,
            agent_id="1002",
            note="",
        )

    async with journal.transaction() as session:
        session.add_all(
            [
                task("cb-1", wib(9, 30, 30), "REACHED", "abandoned", False),
                task("cb-2", wib(10, 0), "GAVE_UP", "dropped", True),
                task("cb-0", wib(22, 0, day=22), "OPEN", "abandoned", False),  # the day before
            ]
        )
        await session.flush()
        session.add_all(
            [
                attempt("cb-1", wib(9, 32, 30), "reached"),
                attempt("cb-2", wib(10, 5), "no-answer"),
                attempt("cb-2", wib(10, 10), "busy"),
                attempt("cb-0", wib(1, 0), "failed"),  # made in the day, for an older task
            ]
        )


@pytest.fixture
async def known_db(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    async with await Journal.open(url) as journal:
        await write_known(journal, KNOWN)
        await write_callbacks(journal)
    return url


@pytest.fixture
def config(tmp_path: Path, known_db: str) -> Path:
    path = tmp_path / "callgate.toml"
    path.write_text(f'[storage]\nurl = "{known_db}"\n', encoding="utf-8")
    return path


async def report_of(url: str, period: Period):  # type: ignore[no-untyped-def]
    journal, callbacks = await open_journal_readonly(url)
    try:
        rows = await load(journal, period, callbacks=callbacks)
    finally:
        await journal.close()
    return build_report(period, *rows, callbacks_available=callbacks)


# -- every figure of the known day ------------------------------------------------------------


async def test_given_the_known_day_then_counts_and_outcomes_are_right(known_db: str) -> None:
    r = await report_of(known_db, day_period(DAY, WIB))
    assert r.received == 10  # c1-c9, c12; not cb1, not the two outside the day
    assert r.in_progress == 1
    assert r.ended == 9
    assert dict(r.outcomes) == {"COMPLETED": 6, "ABANDONED": 1, "OVERFLOWED": 1, "FALLBACK": 1}
    assert r.answered == 5
    assert r.answered_time_unknown == 1
    assert (r.abandoned.part, r.abandoned.whole) == (1, 9)
    assert r.abandoned.percent == pytest.approx(100 / 9)
    assert r.abandon_wait_p50 == 25
    assert r.callbacks.pseudo_calls == 1


async def test_given_the_known_day_then_answer_times_and_nena_are_right(known_db: str) -> None:
    r = await report_of(known_db, day_period(DAY, WIB))
    a = r.answer_times  # 3, 5, 12, 18, 40 s
    assert a.count == 5
    assert a.mean == pytest.approx(15.6)
    assert (a.p50, a.p90, a.max, a.longest_10pct_mean) == (12, 40, 40, 40)
    assert dict(a.buckets) == {
        "0-10 s": 2,
        "10-15 s": 1,
        "15-20 s": 1,
        "20-30 s": 0,
        "30-60 s": 1,
        "60-120 s": 0,
        ">120 s": 0,
    }
    assert (r.nena.of_answered[15].part, r.nena.of_answered[15].whole) == (3, 5)
    assert (r.nena.of_answered[20].part, r.nena.of_answered[20].whole) == (4, 5)
    # The standard's denominator is every call offered (ended), answered or not.
    assert (r.nena.of_offered[15].part, r.nena.of_offered[15].whole) == (3, 9)
    assert r.nena.of_offered[20].percent == pytest.approx(400 / 9)
    assert r.nena.met(15) is False
    assert r.nena.met(20) is False


async def test_given_the_known_day_then_categories_are_right(known_db: str) -> None:
    r = await report_of(known_db, day_period(DAY, WIB))
    dispositions = {c.name: (c.calls, c.answered, c.abandoned) for c in r.dispositions}
    assert dispositions == {
        "genuine": (1, 1, 0),
        "information": (1, 1, 0),
        "prank": (3, 2, 0),
        "ghost": (1, 1, 0),
        "test": (1, 0, 0),
        "wrong-number": (0, 0, 0),
        "undisposed": (2, 0, 1),
    }
    screening = {c.name: c.calls for c in r.screening}
    assert screening == {
        "": 7,
        "anonymous": 1,
        "repeat-nuisance": 1,
        "ghost": 0,
        "silent-key-pressed": 0,
        "blocked": 0,
        "blocked-valve": 0,
    }
    assert "callback" not in screening


async def test_given_the_known_day_then_hours_are_local_and_complete(known_db: str) -> None:
    r = await report_of(known_db, day_period(DAY, WIB))
    assert [h.hour for h in r.hours] == list(range(24))
    eight = r.hours[8]
    assert (eight.offered, eight.answered, eight.within_15, eight.within_20) == (3, 3, 2, 3)
    assert (eight.p50, eight.p90) == (12, 18)
    nine = r.hours[9]
    assert (nine.offered, nine.answered, nine.abandoned, nine.later) == (2, 1, 1, 1)
    assert sum(h.offered for h in r.hours) == r.ended
    assert r.hours[0].offered == 0


async def test_given_the_known_day_then_nuisance_callers_are_ranked(known_db: str) -> None:
    r = await report_of(known_db, day_period(DAY, WIB))
    rows = [(n.caller, n.prank, n.ghost, n.calls) for n in r.nuisance]
    assert rows == [("0812000001", 1, 1, 2), ("08139990000", 1, 0, 1)]
    assert r.nuisance[0].last_call == wib(9, 0)


async def test_given_the_known_day_then_callbacks_are_counted(known_db: str) -> None:
    c = (await report_of(known_db, day_period(DAY, WIB))).callbacks
    assert c.available
    assert c.tasks == 2
    assert dict(c.by_reason) == {"abandoned": 1, "dropped": 1}
    assert dict(c.by_state) == {
        "OPEN": 0,
        "DIALLING": 0,
        "REACHED": 1,
        "CANCELLED": 0,
        "GAVE_UP": 1,
    }
    assert c.nuisance_tasks == 1
    assert c.attempts == 4
    assert dict(c.attempts_by_outcome) == {"reached": 1, "no-answer": 1, "busy": 1, "failed": 1}
    assert c.first_attempt_p50 == 120


async def test_given_no_callback_rows_then_callbacks_are_zero_not_an_error(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'j.db'}"
    async with await Journal.open(url) as journal:
        await write_known(journal, KNOWN[:2])
    c = (await report_of(url, day_period(DAY, WIB))).callbacks
    assert (c.available, c.tasks, c.attempts, c.first_attempt_p50) == (True, 0, 0, None)


def test_given_a_journal_without_callback_tables_then_the_report_says_so(tmp_path: Path) -> None:
    period = day_period(DAY, WIB)
    r = build_report(period, [], callbacks_available=False)
    assert not r.callbacks.available
    assert "schema older than 0003" in render_text(r)


def test_given_no_calls_then_figures_are_empty_not_errors() -> None:
    r = build_report(day_period(DAY, WIB), [])
    assert (r.received, r.answered, r.answer_times.p50, r.abandoned.percent) == (0, 0, None, None)
    assert r.nena.met(15) is None
    assert "within 15 s" in render_text(r)


def test_given_a_sim_less_caller_with_identity_then_it_is_a_nuisance_key() -> None:
    calls = [
        # Withheld without an identity: no history to add them to.
        CallFacts(f"g{i}", "", "anonymous", wib(3, i), wib(3, i, 5), "COMPLETED", None, "ghost")
        for i in range(2)
    ]
    same = CallFacts("g9", "", "", wib(4), wib(4, 0, 5), "COMPLETED", None, "ghost", "35-1")
    r = build_report(day_period(DAY, WIB), [*calls, same, same])
    assert [(n.caller, n.ghost) for n in r.nuisance] == [("imei:35-1", 2)]


# -- periods --------------------------------------------------------------------------------


async def test_given_the_night_shift_then_it_crosses_midnight(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'j.db'}"
    edges = [
        Known("before", wib(22, 59, 59), answer_after=1),
        Known("first", wib(23, 0), answer_after=1),
        Known("after-midnight", wib(2, 0, day=24), answer_after=30),
        Known("last", wib(6, 59, 59, day=24), answer_after=1),
        Known("morning", wib(7, 0, day=24), answer_after=1),
    ]
    async with await Journal.open(url) as journal:
        await write_known(journal, edges)
    malam = {s.name: s for s in parse_shifts("pagi=07-15,siang=15-23,malam=23-07")}["malam"]
    period = shift_period(DAY, malam, WIB)
    assert (period.start, period.end) == (wib(23), wib(7, day=24))
    r = await report_of(url, period)
    assert r.received == 3
    assert [h.hour for h in r.hours] == [23, 0, 1, 2, 3, 4, 5, 6]
    assert [h.offered for h in r.hours] == [1, 0, 0, 1, 0, 0, 0, 1]
    assert "2026-11-23 shift malam 23:00-07:00" in r.period.label


def test_given_another_time_zone_then_the_day_and_hours_move() -> None:
    # 23:30 WIB on the 23rd is 00:30 WITA on the 24th.
    call = CallFacts("x", "+62811", "", wib(23, 30), wib(23, 31), "COMPLETED", wib(23, 30, 4))
    wita = zone("WITA")
    assert wita.key == "Asia/Makassar"
    assert build_report(day_period(DAY, WIB), [call]).received == 1
    assert build_report(day_period(DAY, wita), [call]).received == 0
    r = build_report(day_period(date(2026, 11, 24), wita), [call])
    assert r.received == 1
    assert r.hours[0].offered == 1


def test_given_a_range_with_naive_times_then_they_are_local() -> None:
    period = range_period(datetime(2026, 11, 1), datetime(2026, 12, 1, 7, 0), WIB)
    assert period.start == datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
    assert period.hours() == list(range(24))
    explicit = range_period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2), WIB)
    assert explicit.start.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("pagi=07", "not NAME=HH-HH"),
        ("pagi=07-07", "same time"),
        ("pagi=07-15,pagi=15-23", "defined twice"),
        ("pagi=7x-15", "not a time of day"),
        ("=07-15", "not NAME=HH-HH"),
    ],
)
def test_given_bad_shift_hours_then_the_message_says_why(spec: str, message: str) -> None:
    with pytest.raises(ReportUsageError, match=message):
        parse_shifts(spec)


def test_given_shift_hours_with_minutes_then_they_are_used() -> None:
    shifts = parse_shifts("a=06:30-14:30, b=14:30-24:00")
    assert shift_period(DAY, shifts[1], WIB).end == wib(0, day=24)


def test_given_an_empty_period_then_it_is_refused() -> None:
    with pytest.raises(ReportUsageError, match="must end after it starts"):
        range_period(datetime(2026, 11, 2), datetime(2026, 11, 1), WIB)


# -- outputs --------------------------------------------------------------------------------


async def test_given_a_report_then_the_text_shows_every_section(known_db: str) -> None:
    text = render_text(await report_of(known_db, day_period(DAY, WIB)))
    for expected in [
        "callgate report: 2026-11-23 (Asia/Jakarta)",
        "offered (ended)",
        "11.1% abandonment",
        "3/9",
        "NOT met",
        "prank",
        "(none)",
        "08:00",
        "attempts made 4",
        "0812000001",
        "adopted after a restart",
    ]:
        assert expected in text, expected


async def test_given_a_report_then_the_csv_files_hold_the_figures(
    known_db: str, tmp_path: Path
) -> None:
    report = await report_of(known_db, day_period(DAY, WIB))
    files = write_csv(report, tmp_path / "out")
    assert [f.name for f in files] == list(CSV_FILES)

    def read(name: str) -> list[dict[str, str]]:
        with (tmp_path / "out" / name).open(newline="", encoding="utf-8") as stream:
            return list(csv.DictReader(stream))

    summary = {row["metric"]: row["value"] for row in read("summary.csv")}
    assert summary["offered"] == "9"
    assert summary["within_15s_of_offered"] == "3"
    assert summary["within_15s_of_offered_pct"] == "33.3"
    assert summary["within_20s_of_answered_pct"] == "80.0"
    assert summary["nena_15s_met"] == "no"
    assert summary["period_start"] == "2026-11-23T00:00:00+07:00"
    assert read("hours.csv")[8]["within_15s"] == "2"
    assert read("nuisance.csv")[0]["caller"] == "0812000001"
    dispositions = {r["disposition"]: r["calls"] for r in read("dispositions.csv")}
    assert dispositions["prank"] == "3"
    callbacks = {(r["kind"], r["name"]): r["count"] for r in read("callbacks.csv")}
    assert callbacks[("attempt_outcome", "busy")] == "1"


async def test_given_a_report_then_the_png_is_a_real_image(known_db: str, tmp_path: Path) -> None:
    report = await report_of(known_db, day_period(DAY, WIB))
    path = write_png(report, tmp_path / "hours.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_given_no_calls_then_the_png_is_still_drawn(tmp_path: Path) -> None:
    path = write_png(build_report(day_period(DAY, WIB), []), tmp_path / "empty.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


# -- the database -----------------------------------------------------------------------------


async def test_given_a_running_daemon_then_the_report_reads_beside_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    async with await Journal.open(url) as daemon:
        await write_known(daemon, KNOWN[:3])
        first = await report_of(url, day_period(DAY, WIB))
        await write_known(daemon, KNOWN[3:5])  # the daemon writes on while reports run
        second = await report_of(url, day_period(DAY, WIB))
    assert (first.received, second.received) == (3, 5)


async def test_given_the_report_then_it_cannot_write(known_db: str) -> None:
    journal, _ = await open_journal_readonly(known_db)
    try:
        with pytest.raises(JournalError, match="readonly"):
            async with journal.transaction() as session:
                session.add(
                    CallbackTaskRow(
                        task_id="x",
                        number="1",
                        reason="r",
                        call_ids="",
                        created_at=wib(1),
                        state="OPEN",
                        next_attempt_at=wib(1),
                        nuisance=False,
                    )
                )
    finally:
        await journal.close()


async def test_given_no_database_file_then_it_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "journal.db"
    with pytest.raises(JournalError, match="no journal at"):
        await open_journal_readonly(f"sqlite+aiosqlite:///{missing}")
    assert not missing.parent.exists()


async def test_given_a_database_that_is_not_a_journal_then_it_says_so(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    with pytest.raises(JournalError, match="not a callgate journal"):
        await open_journal_readonly(f"sqlite+aiosqlite:///{other}")


async def test_given_a_garbage_file_then_it_cannot_be_opened(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(JournalError, match="cannot open the journal"):
        await open_journal_readonly(f"sqlite+aiosqlite:///{garbage}")


# -- the command ------------------------------------------------------------------------------


def test_given_a_day_then_the_command_prints_the_table(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["report", "--config", str(config), "--day", "2026-11-23"]) == 0
    out, err = capsys.readouterr()
    assert "callgate report: 2026-11-23 (Asia/Jakarta)" in out
    assert "11 calls read from" in err  # 10 received + 1 callback call
    assert "journal.db" in err


def test_given_csv_and_png_then_the_command_writes_them(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config), "--day", "2026-11-23", "--shift", "pagi"]
    args += ["--csv", str(tmp_path / "csv"), "--png", str(tmp_path / "chart.png")]
    assert main(args) == 0
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == sorted(CSV_FILES)
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert "shift pagi 07:00-15:00" in capsys.readouterr().out


def test_given_no_matplotlib_then_png_says_how_to_install_it_before_reading(
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(report_command, "png_available", lambda: False)
    args = ["--config", str(config), "--day", "2026-11-23", "--png", str(tmp_path / "chart.png")]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "pip install 'callgate[png]'" in captured.err
    assert captured.out == ""  # nothing was read or printed
    assert not (tmp_path / "chart.png").exists()


def test_given_a_wita_range_then_the_command_uses_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config), "--tz", "Asia/Makassar"]
    assert main([*args, "--from", "2026-11-23 09:00", "--to", "2026-11-23T10:00"]) == 0
    out = capsys.readouterr().out
    # 09:00-10:00 WITA is 08:00-09:00 WIB: c1, c2, c3.
    assert re.search(r"^  received\s+3$", out, re.MULTILINE)
    assert "(Asia/Makassar)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--day", "23-11-2026"], "is not a date"),
        (["--shift", "malam"], "--shift needs --day"),
        (["--day", "2026-11-23", "--shift", "subuh"], "unknown shift 'subuh'"),
        (["--day", "2026-11-23", "--from", "2026-11-01"], "only one of"),
        ([], "say which period"),
        (["--from", "2026-11-01"], "say which period"),
        (["--from", "yesterday", "--to", "2026-11-02"], "is not a date or time"),
        (["--from", "2026-11-02", "--to", "2026-11-01"], "must end after it starts"),
        (["--day", "2026-11-23", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["--month", "2026-11", "--day", "2026-11-23"], "only one of"),
        (["--month", "2026-11", "--shift", "pagi"], "--shift needs --day"),
        (["--month", "November"], "is not a month"),
    ],
)
def test_given_bad_arguments_then_exit_2_with_a_clear_message(
    config: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), *args]) == 2
    assert message in capsys.readouterr().err


def test_given_a_wita_roster_then_the_command_uses_its_zone_and_shifts(
    known_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "wita.toml"
    config.write_text(
        f'[storage]\nurl = "{known_db}"\n\n[roster]\ntimezone = "WITA"\n\n'
        '[[roster.shifts]]\nname = "subuh"\nstart = "04:00"\nend = "12:00"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "--day", "2026-11-23", "--shift", "subuh"]) == 0
    out = capsys.readouterr().out
    assert "2026-11-23 shift subuh 04:00-12:00 (Asia/Makassar)" in out
    # A calendar month; --tz still wins over the config.
    assert main(["--config", str(config), "--month", "2026-11", "--tz", "WIT"]) == 0
    assert "2026-11 (Asia/Jayapura)" in capsys.readouterr().out


def test_given_a_bad_top_then_argparse_refuses(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(config), "--day", "2026-11-23", "--top", "0"])
    assert exit_info.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_given_a_bad_config_then_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[storage]\nurl = "mysql://x"\n', encoding="utf-8")
    assert main(["--config", str(bad), "--day", "2026-11-23"]) == 2
    assert "storage" in capsys.readouterr().err


def test_given_a_missing_journal_then_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "callgate.toml"
    missing = tmp_path / "gone.db"
    path.write_text(f'[storage]\nurl = "sqlite+aiosqlite:///{missing}"\n', encoding="utf-8")
    assert main(["--config", str(path), "--day", "2026-11-23"]) == 1
    assert "no journal at" in capsys.readouterr().err
    assert not missing.exists()


def test_given_an_unwritable_output_then_exit_2(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["--config", str(config), "--day", "2026-11-23", "--csv", str(blocker / "sub")]
    assert main(args) == 2
    assert "cannot write" in capsys.readouterr().err


def test_given_today_then_the_day_is_the_local_date(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "--day", "today", "--tz", "WIT"]) == 0
    today = datetime.now(ZoneInfo("Asia/Jayapura")).date().isoformat()
    assert f"callgate report: {today} (Asia/Jayapura)" in capsys.readouterr().out


# -- invariants -------------------------------------------------------------------------------

_calls = st.lists(
    st.builds(
        lambda minute, wait, outcome, disposition: CallFacts(
            call_id=f"h{minute}-{wait}",
            caller=f"08{minute % 7}",
            category="",
            started_at=wib(0) + timedelta(minutes=minute),
            ended_at=wib(0) + timedelta(minutes=minute, seconds=wait + 1),
            outcome=outcome,
            answered_at=wib(0) + timedelta(minutes=minute, seconds=wait)
            if outcome == "COMPLETED"
            else None,
            disposition=disposition,
        ),
        st.integers(0, 24 * 60 - 1),
        st.integers(0, 300),
        st.sampled_from(["COMPLETED", "ABANDONED", "OVERFLOWED", "FALLBACK"]),
        st.sampled_from([None, "genuine", "prank", "ghost"]),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(_calls)
def test_figures_always_add_up(calls: list[CallFacts]) -> None:
    r = build_report(day_period(DAY, WIB), calls)
    assert r.ended == len(calls)
    assert sum(n for _, n in r.answer_times.buckets) == r.answered
    assert sum(h.offered for h in r.hours) == r.ended
    assert sum(c.calls for c in r.dispositions) == r.ended
    assert sum(r.outcomes.values()) == r.ended
    for s in (15, 20):
        assert r.nena.of_offered[s].part == r.nena.of_answered[s].part <= r.answered
    assert r.nena.of_answered[15].part <= r.nena.of_answered[20].part
    assert len(r.nuisance) <= 10


def test_given_a_journal_older_than_0003_then_calls_are_reported_without_callbacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection=connection), "0002")
        connection.execute(
            text(
                "INSERT INTO calls (call_id, caller, caller_sent, dialed, priority, category,"
                " started_at, ended_at, outcome, answered_at) VALUES ('old', '0811', '0811',"
                " '112', 1, '', '2026-11-23 01:00:00', '2026-11-23 01:02:00', 'COMPLETED',"
                " '2026-11-23 01:00:07')"
            )
        )
    engine.dispose()
    config = tmp_path / "old.toml"
    config.write_text(f'[storage]\nurl = "sqlite+aiosqlite:///{path}"\n', encoding="utf-8")
    assert main(["--config", str(config), "--day", "2026-11-23"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  answered by a call-taker\s+1  100.0%$", out, re.MULTILINE)
    assert "schema older than 0003" in out


async def test_given_a_task_attempted_after_the_period_then_its_wait_counts_not_the_attempt(
    known_db: str,
) -> None:
    period = range_period(wib(9, 0), wib(9, 31), WIB)
    c = (await report_of(known_db, period)).callbacks
    assert (c.tasks, c.attempts, c.first_attempt_p50) == (1, 0, 120)
