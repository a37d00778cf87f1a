"""The managers' report pages' API (issue #24 item 6) on a real journal in a WITA centre: its
figures equal ``callgate report``'s for the same day, shift, month and call-taker, read with
the config's zone and the roster's own shifts; only supervisors and admins may read them."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from callgate.auth import Authenticator
from callgate.config import load_settings
from callgate.daemon.health import Health
from callgate.daemon.report_service import ReportService
from callgate.http.reporting import ReportQuery, ReportRoutes
from callgate.http.server import OpsHttp
from callgate.reports.centre_time import centre_shifts, centre_zone
from callgate.reports.periods import DEFAULT_SHIFTS
from callgate.storage.agent_events import AgentEvent, save_agent_event
from callgate.storage.journal import Journal
from callgate.tools.report import main
from tests.unit.auth_users import USERS, basic
from tests.unit.test_report import KNOWN, write_callbacks, write_known

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
#: The roster's own shifts: none of them is the old fixed 07/15/23 set.
CONFIG = """
[storage]
url = "{url}"

[calltakers]
endpoints = ["PJSIP/1001", "PJSIP/1002"]

[roster]
timezone = "WITA"

[[roster.shifts]]
name = "pagi"
start = "06:00"
end = "14:00"

[[roster.shifts]]
name = "sore"
start = "14:00"
end = "22:00"

[[roster.shifts]]
name = "malam"
start = "22:00"
end = "06:00"
"""


class _View:
    def status(self) -> dict[str, object]:
        return {}


@pytest.fixture
async def centre(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    journal = await Journal.open(url)
    await write_known(journal, KNOWN)
    await write_callbacks(journal)
    start = KNOWN[0].start
    for minutes, event, reason in ((-90, "login", None), (30, "pause", "prayer"),
                                   (45, "unpause", None), (400, "logout", None)):  # fmt: skip
        at = start + timedelta(minutes=minutes)
        await save_agent_event(journal, AgentEvent(at, "1001", event, reason=reason))
    config = tmp_path / "callgate.toml"
    config.write_text(CONFIG.format(url=url), encoding="utf-8")
    settings = load_settings(config)
    http = OpsHttp(
        _View(),  # type: ignore[arg-type]
        Health(),
        CollectorRegistry(),
        authenticator=Authenticator(USERS),
        port=0,
        extensions=(ReportRoutes(ReportService(settings, clock=lambda: NOW)),),
    )
    await http.start()
    yield http.url, config
    await http.stop()
    await journal.close()


async def _get(url: str, path: str, who: str = "sup") -> tuple[int, Any]:
    async with aiohttp.ClientSession() as client, client.get(url + path, headers=basic(who)) as r:
        if r.content_type == "text/csv":
            return r.status, await r.text()
        return r.status, await r.json()


async def _cli_csv(config: Path, folder: Path, *args: str) -> dict[str, list[list[str]]]:
    """``callgate report ... --csv folder``'s tables (in a thread: it runs its own loop)."""
    return await asyncio.to_thread(_run_cli, ["--config", str(config), *args, "--csv", str(folder)])


def _run_cli(argv: list[str]) -> dict[str, list[list[str]]]:
    assert main(argv) == 0
    folder = Path(argv[-1])
    return {
        p.name: list(csv.reader(p.read_text(encoding="utf-8").splitlines()))
        for p in sorted(folder.glob("*.csv"))
    }


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def _assert_same(api: dict[str, Any], files: dict[str, list[list[str]]]) -> None:
    """The API's figures are the CLI's, table by table."""
    summary = dict(files["summary.csv"][1:])
    s = api["summary"]
    pairs = {
        "received": "received", "in_progress": "in_progress", "offered": "offered",
        "answered": "answered", "answered_time_unknown": "answered_time_unknown",
        "abandoned_pct": "abandonment_pct", "answer_p50": "answer_p50_s",
        "answer_p90": "answer_p90_s", "answer_mean": "answer_mean_s", "answer_max": "answer_max_s",
        "within_15": "within_15s_of_offered", "within_15_pct": "within_15s_of_offered_pct",
        "within_20": "within_20s_of_offered", "within_20_pct": "within_20s_of_offered_pct",
        "abandoned": "outcome_abandoned", "fallback": "outcome_fallback",
        "overflowed": "outcome_overflowed",
    }  # fmt: skip
    for mine, theirs in pairs.items():
        assert s[mine] == _number(summary[theirs]), mine
    assert api["start"] == summary["period_start"]
    assert api["end"] == summary["period_end"]
    assert [[h["label"], h["calls"]] for h in api["answer_times"]] == [
        [label, int(n)] for label, n in files["answer_times.csv"][1:]
    ]
    assert [
        [
            f"{h['hour']:02d}",
            h["offered"],
            h["answered"],
            h["within_15"],
            h["within_20"],
            h["abandoned"],
            h["p50"],
            h["p90"],
        ]
        for h in api["hours"]
    ] == [[row[0], *map(int, row[1:6]), *map(_number, row[6:])] for row in files["hours.csv"][1:]]
    dispositions = {row[0]: int(row[1]) for row in files["dispositions.csv"][1:]}
    assert s["prank_ghost"] == dispositions["prank"] + dispositions["ghost"]
    callbacks = {(row[0], row[1]): int(row[2]) for row in files["callbacks.csv"][1:]}
    assert s["callbacks"] == callbacks["tasks", "created"]


async def test_given_a_wita_day_then_the_page_has_the_figures_of_callgate_report(
    centre: tuple[str, Path], tmp_path: Path
) -> None:
    url, config = centre
    status, api = await _get(url, "/api/reports?kind=day&day=2026-11-23")
    assert status == 200
    assert api["zone"] == "Asia/Makassar"
    assert api["start"] == "2026-11-23T00:00:00+08:00"
    _assert_same(api, await _cli_csv(config, tmp_path / "cli", "--day", "2026-11-23"))
    # WITA's day starts an hour before WIB's: the call at 23:59:59 WIB of the 22nd is in it.
    assert api["summary"]["received"] == 11


async def test_given_a_roster_shift_then_page_and_command_cut_it_the_same(
    centre: tuple[str, Path], tmp_path: Path
) -> None:
    url, config = centre
    status, api = await _get(url, "/api/reports?kind=shift&day=2026-11-23&shift=pagi")
    assert status == 200
    # The roster's pagi (06-14 WITA), not the old fixed 07-15.
    assert (api["start"], api["end"]) == ("2026-11-23T06:00:00+08:00", "2026-11-23T14:00:00+08:00")
    cli = await _cli_csv(config, tmp_path / "cli", "--day", "2026-11-23", "--shift", "pagi")
    _assert_same(api, cli)
    status, sore = await _get(url, "/api/reports?kind=shift&day=2026-11-23&shift=sore")
    assert status == 200
    _assert_same(
        sore, await _cli_csv(config, tmp_path / "sore", "--day", "2026-11-23", "--shift", "sore")
    )


async def test_given_a_month_then_page_and_command_agree(
    centre: tuple[str, Path], tmp_path: Path
) -> None:
    url, config = centre
    status, api = await _get(url, "/api/reports?kind=month&month=2026-11")
    assert status == 200
    assert len(api["hours"]) == 24
    _assert_same(api, await _cli_csv(config, tmp_path / "cli", "--month", "2026-11"))


async def test_given_a_calltaker_then_their_figures_are_the_commands(
    centre: tuple[str, Path], tmp_path: Path
) -> None:
    url, config = centre
    status, api = await _get(url, "/api/reports?kind=calltaker&agent=1001&day=2026-11-23")
    assert status == 200
    files = await _cli_csv(config, tmp_path / "cli", "--day", "2026-11-23", "--calltakers")
    row = next(r for r in files["calltakers.csv"][1:] if r[0] == "1001")
    f = api["figures"]
    assert [f["handled"], f["callbacks"], f["talk_s"], f["logged_in_s"], f["paused_s"],
            f["available_s"], f["occupancy_pct"], f["missed_rings"]] == [
        int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]), int(row[6]),
        _number(row[7]), int(row[8])]  # fmt: skip
    assert f["pauses"] == [{"reason": "prayer", "count": 1, "seconds": 900}]
    shifts = [(r[1], r[4]) for r in files["calltaker_shifts.csv"][1:] if r[4] == "1001"]
    assert [(s["shift"], "1001") for s in api["shifts"]] == shifts
    status, text = await _get(
        url, "/api/reports?kind=calltaker&agent=1001&day=2026-11-23&format=csv"
    )
    assert status == 200
    assert "\r\n1001," in text
    assert ",all," not in text  # one call-taker's report: not everyone's total


async def test_given_csv_then_it_holds_the_commands_tables(
    centre: tuple[str, Path], tmp_path: Path
) -> None:
    url, config = centre
    status, text = await _get(url, "/api/reports?kind=day&day=2026-11-23&format=csv")
    assert status == 200
    files = await _cli_csv(config, tmp_path / "cli", "--day", "2026-11-23")
    sections = [s.strip("\r\n").split("\r\n") for s in text.split("\r\n\r\n")]
    # The download is the command's tables, one under another, in the command's cells.
    assert sorted(s[0] for s in sections) == sorted(f"# {n.removesuffix('.csv')}" for n in files)
    for section in sections:
        name = section[0].removeprefix("# ") + ".csv"
        assert list(csv.reader(io.StringIO("\n".join(section[1:])))) == files[name]


async def test_given_the_centre_then_the_options_are_its_zone_and_roster_shifts(
    centre: tuple[str, Path],
) -> None:
    url, _ = centre
    status, options = await _get(url, "/api/reports/options", "root")
    assert status == 200
    assert options == {
        "zone": "Asia/Makassar",
        "today": "2026-12-07",
        "shifts": [
            {"name": "pagi", "start": "06:00", "end": "14:00"},
            {"name": "sore", "start": "14:00", "end": "22:00"},
            {"name": "malam", "start": "22:00", "end": "06:00"},
        ],
        "calltakers": ["1001", "1002"],
    }


@pytest.mark.parametrize("path", ["/api/reports/options", "/api/reports?kind=day&day=2026-11-23"])
async def test_given_a_calltaker_then_reports_are_refused(
    centre: tuple[str, Path], path: str
) -> None:
    url, _ = centre
    assert (await _get(url, path, "ct1001"))[0] == 403
    async with aiohttp.ClientSession() as client, client.get(url + path) as reply:
        assert reply.status == 401


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("kind=week&day=2026-11-23", "kind must be one of"),
        ("kind=day", "day is required"),
        ("kind=day&day=23/11/2026", "is not a date"),
        ("kind=shift&day=2026-11-23&shift=siang", "shift must be one of pagi, sore, malam"),
        ("kind=month&month=November", "is not a month"),
        ("kind=month", "month is required"),
        ("kind=calltaker&day=2026-11-23", "agent"),
        ("kind=day&day=" + "9" * 65, "longer than 64"),
    ],
)
async def test_given_a_bad_query_then_400_says_why(
    centre: tuple[str, Path], query: str, message: str
) -> None:
    url, _ = centre
    status, answer = await _get(url, f"/api/reports?{query}")
    assert status == 400
    assert message in answer["error"]


def test_given_no_roster_shifts_then_the_old_fixed_shifts_and_wib(tmp_path: Path) -> None:
    config = tmp_path / "callgate.toml"
    config.write_text("", encoding="utf-8")
    settings = load_settings(config)
    assert centre_shifts(settings) == DEFAULT_SHIFTS
    assert centre_zone(settings).key == "Asia/Jakarta"


class _Unreadable:
    """A report source whose journal cannot be read (the database is down)."""

    def options(self) -> dict[str, object]:
        return {}

    async def report(self, query: ReportQuery) -> dict[str, object]:
        raise ConnectionError("cannot open the journal")

    async def csv(self, query: ReportQuery) -> tuple[str, str]:
        raise ConnectionError("cannot open the journal")


async def test_given_no_journal_then_the_service_says_so_and_the_port_answers_503(
    tmp_path: Path,
) -> None:
    config = tmp_path / "callgate.toml"
    config.write_text(f'[storage]\nurl = "sqlite+aiosqlite:///{tmp_path / "none.db"}"\n')
    with pytest.raises(ConnectionError, match="journal"):
        await ReportService(load_settings(config)).report(ReportQuery("day", day="2026-11-23"))
    assert not (tmp_path / "none.db").exists()  # read-only: never created
    http = OpsHttp(
        _View(),  # type: ignore[arg-type]
        Health(),
        CollectorRegistry(),
        authenticator=Authenticator(USERS),
        port=0,
        extensions=(ReportRoutes(_Unreadable()),),
    )
    await http.start()
    try:
        for query in ("kind=day&day=2026-11-23", "kind=day&day=2026-11-23&format=csv"):
            status, answer = await _get(http.url, f"/api/reports?{query}")
            assert status == 503
            assert answer == {"error": "the journal cannot be read now"}
    finally:
        await http.stop()
