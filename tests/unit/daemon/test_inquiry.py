"""Inquiries (#23) end to end on the admin port: search, timeline, playback with range requests,
export, holds and verify, on a real journal and real recording files; who may do what, and the
audit trail naming each step's user."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from callgate.auth import Authenticator, UserSettings
from callgate.daemon.health import Health
from callgate.daemon.inquiry_service import InquiryService, caller_prefixes
from callgate.http.inquiry import InquiryRoutes
from callgate.http.server import AUTHENTICATED, Handler, Identify, OpsHttp
from callgate.storage import inquiries as store
from callgate.storage.agent_events import AgentEvent, save_agent_event
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.journal import Journal
from callgate.storage.retention import delete_expired_recordings
from callgate.tools.admin import main
from callgate.tools.call_inquiry import check_bundle
from tests.unit.auth_users import _CHEAP, USERS, basic, bearer, token

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)  # 12:00 WIB
WIB = ZoneInfo("Asia/Jakarta")
AUDIO = b"RIFF" + bytes(range(256)) * 40
#: A CAD client with a token: it may fetch recordings (recording-ready's URL), nothing else.
CAD_WITH_TOKEN = UserSettings(name="cad-rec", role="cad", token_hash=_CHEAP.hash("cad-secret"))  # type: ignore[arg-type]
CAD = {"Authorization": "Bearer cad-rec.cad-secret"}


@dataclass
class Lab:
    url: str
    journal: Journal
    folder: Path
    problems: list[str]


class _View:
    """The daemon view the port needs besides the inquiry routes (not used here)."""

    def status(self) -> dict[str, object]:
        return {}


async def _calls(journal: Journal, folder: Path) -> None:
    calls = (
        ("c1", "+6281234560001", "081234560001", "1001", NOW - timedelta(hours=30)),
        ("c2", "+6281234560002", "6281234560002", "1002", NOW - timedelta(hours=2)),
        ("c3", "+6285600000003", "085600000003", None, NOW - timedelta(hours=1)),
    )
    for call_id, caller, sent, agent, at in calls:
        await journal.call_started(
            call_id, caller=caller, caller_sent=sent, dialed="112", priority=1,
            category="repeat-nuisance" if call_id == "c3" else "none", at=at,
        )  # fmt: skip
        await journal.call_ended(
            call_id, at=at + timedelta(seconds=90),
            outcome="COMPLETED" if agent else "ABANDONED",
            answered_at=at + timedelta(seconds=10) if agent else None, answered_by=agent,
        )  # fmt: skip
        if agent:
            file = folder / "callgate" / f"{call_id}.wav"
            file.write_bytes(AUDIO)
            await journal.recording_ready(
                call_id, path=str(file), sha256=hashlib.sha256(AUDIO).hexdigest(),
                size_bytes=len(AUDIO), duration_s=80.0, at=at + timedelta(seconds=91),
            )  # fmt: skip
    await JournalAnnotations(journal).set_disposition("c2", "genuine", "ct1002", NOW)


class _OpenToAnyUser:
    """Stand-ins for the routes other extensions open to any authenticated user (the live
    feed's stream slots, the agencies): the port's rule for CAD must refuse them too."""

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        async def answer(request: web.Request) -> web.Response:
            return web.json_response({})

        return {("GET", path): (AUTHENTICATED, answer) for path in ("/api/live", "/api/agencies")}

    async def close(self) -> None:
        return None


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    folder = tmp_path / "monitor"
    (folder / "callgate").mkdir(parents=True)
    await _calls(journal, folder)
    problems: list[str] = []
    service = InquiryService(
        journal, folder, zone=WIB, retention_days=90, problem=problems.append, clock=lambda: NOW
    )
    http = OpsHttp(
        _View(),  # type: ignore[arg-type]
        Health(),
        CollectorRegistry(),
        authenticator=Authenticator([*USERS, CAD_WITH_TOKEN]),
        port=0,
        extensions=(InquiryRoutes(service), _OpenToAnyUser()),
    )
    await http.start()
    yield Lab(http.url, journal, folder, problems)
    await http.stop()
    await journal.close()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _get(
    client: aiohttp.ClientSession, lab: Lab, path: str, who: str
) -> tuple[int, dict[str, object]]:
    async with client.get(lab.url + path, headers=basic(who)) as reply:
        return reply.status, await reply.json()


async def _trail(lab: Lab) -> list[tuple[str, str, str | None]]:
    return [(e.by, e.action, e.call_id) for e in reversed(await store.audit_trail(lab.journal))]


def test_a_number_is_found_in_every_spelling_the_journal_may_hold() -> None:
    assert set(caller_prefixes("0812")) == {"0812", "+62812", "62812"}
    assert set(caller_prefixes("+62812")) >= {"0812", "+62812", "62812"}
    assert caller_prefixes("anonymous") == ("anonymous",)


async def test_a_supervisor_finds_calls_by_number_and_day_newest_first_and_it_is_audited(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    status, body = await _get(client, lab, "/api/calls/search?caller=0812", "sup")
    assert status == 200
    assert [c["call_id"] for c in body["calls"]] == ["c2", "c1"]  # type: ignore[index]
    assert body["total"] == 2
    c2 = body["calls"][0]  # type: ignore[index]
    assert c2["caller_sent"] == "6281234560002"
    assert c2["disposition"] == "genuine"
    assert c2["started_at"].endswith("+07:00")
    assert c2["wait_s"] == 10.0
    assert c2["recording"]
    # Today in WIB (07 Dec) holds c2 and c3; c1 was yesterday.
    status, body = await _get(client, lab, "/api/calls/search?since=2026-12-07", "sup")
    assert [c["call_id"] for c in body["calls"]] == ["c3", "c2"]  # type: ignore[index]
    status, body = await _get(client, lab, "/api/calls/search?tag=repeat-nuisance", "sup")
    assert [c["call_id"] for c in body["calls"]] == ["c3"]  # type: ignore[index]
    status, body = await _get(client, lab, "/api/calls/search?per_page=1&page=2", "sup")
    assert [c["call_id"] for c in body["calls"]] == ["c2"]
    assert body["total"] == 3
    status, body = await _get(client, lab, "/api/calls/search?since=yesterday", "sup")
    assert status == 400
    assert [t[:2] for t in await _trail(lab)] == [("sup", "search")] * 4


async def test_a_search_answers_csv_that_a_spreadsheet_cannot_run(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    async with client.get(
        lab.url + "/api/calls/search?outcome=completed&format=csv", headers=basic("sup")
    ) as reply:
        assert reply.status == 200
        assert reply.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await reply.text())))
    assert [r["call_id"] for r in rows] == ["c2", "c1"]
    assert rows[0]["caller"] == "+6281234560002"  # a number, not a formula


async def test_a_call_taker_sees_only_the_calls_they_answered(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    status, body = await _get(client, lab, "/api/calls/search", "ct1001")
    assert [c["call_id"] for c in body["calls"]] == ["c1"]  # type: ignore[index]
    status, body = await _get(client, lab, "/api/calls/c1/timeline", "ct1001")
    assert status == 200
    status, body = await _get(client, lab, "/api/calls/c2/timeline", "ct1001")
    assert status == 403
    async with client.get(lab.url + "/api/calls/c2/recording", headers=basic("ct1001")) as reply:
        assert reply.status == 403
    assert ("ct1001", "refused", "c2") in await _trail(lab)


async def test_the_timeline_tells_the_call_in_order_in_indonesian(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    start = NOW - timedelta(hours=2)
    for offered, agent, event, ended in (
        (3, "1001", "ring-missed", 7),
        (8, "1002", "call-answered", 10),
    ):
        await lab.journal.call_state(
            "c2", at=start + timedelta(seconds=offered), from_state="QUEUED", to_state="OFFERED",
            trigger="OFFER",
        )  # fmt: skip
        await save_agent_event(
            lab.journal,
            AgentEvent(at=start + timedelta(seconds=ended), agent_id=agent, event=event,
                       call_id="c2", cause="test"),
        )  # fmt: skip
    status, body = await _get(client, lab, "/api/calls/c2/timeline", "sup")
    assert status == 200
    offers = [e["text"] for e in body["events"] if e["kind"] == "offered"]  # type: ignore[attr-defined]
    assert offers == [
        "Ditawarkan ke petugas 1001; berdering 4 detik, tidak dijawab",
        "Ditawarkan ke petugas 1002; berdering 2 detik, dijawab",
    ]
    kinds = [e["kind"] for e in body["events"]]  # type: ignore[attr-defined]
    assert kinds[0] == "entered"
    assert "answered" in kinds
    assert "disposition" in kinds
    assert kinds.index("answered") < kinds.index("ended")
    assert "Panggilan masuk dari 6281234560002" in body["events"][0]["text"]  # type: ignore[index]
    recording = body["recording"]
    assert recording["url"] == "/api/calls/c2/recording"  # type: ignore[index]
    assert recording["sha256"] == hashlib.sha256(AUDIO).hexdigest()  # type: ignore[index]
    assert recording["hold"] is None
    assert recording["expires_at"] is not None
    status, _ = await _get(client, lab, "/api/calls/nope/timeline", "sup")
    assert status == 404


async def test_playback_serves_ranges_and_audits_only_its_first_request(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    url = lab.url + "/api/calls/c1/recording"
    async with client.get(url, headers=basic("ct1001")) as reply:
        assert reply.status == 200
        assert reply.headers["Accept-Ranges"] == "bytes"
        assert reply.content_type == "audio/wav"
        assert await reply.read() == AUDIO
    async with client.get(url, headers={**basic("ct1001"), "Range": "bytes=100-199"}) as reply:
        assert reply.status == 206
        assert await reply.read() == AUDIO[100:200]
    assert [t for t in await _trail(lab) if t[1] == "played"] == [("ct1001", "played", "c1")]
    _status, body = await _get(client, lab, "/api/calls/c1/timeline", "sup")
    assert [a["action"] for a in body["access"]] == ["played"]  # type: ignore[attr-defined]


async def test_a_changed_recording_is_never_served_but_alarmed_counted_and_audited(
    lab: Lab, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    url = lab.url + "/api/calls/c1/recording"
    async with client.get(url, headers=basic("sup")) as reply:
        assert reply.status == 200
    (lab.folder / "callgate" / "c1.wav").write_bytes(AUDIO[:-1] + b"!")
    async with client.get(url, headers=basic("sup")) as reply:
        assert reply.status == 409
        assert "error" in await reply.json()
    assert lab.problems == ["changed"]
    assert any(r.getMessage().startswith("ALARM") for r in caplog.records)
    assert ("sup", "mismatch", "c1") in await _trail(lab)
    async with client.post(
        lab.url + "/api/calls/c1/export", json={"reason": "polisi"}, headers=basic("sup")
    ) as reply:
        assert reply.status == 409


async def test_an_export_is_a_bundle_whose_hashes_match_the_journal(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    url = lab.url + "/api/calls/c2/export"
    async with client.post(url, json={}, headers=basic("sup")) as reply:
        assert reply.status == 400  # no reason
    async with client.post(url, json={"reason": "x"}, headers=basic("ct1002")) as reply:
        assert reply.status == 403  # call-takers do not export, even their own calls
    async with client.post(url, json={"reason": "Polres: banjir"}, headers=basic("sup")) as reply:
        assert reply.status == 200
        assert reply.content_type == "application/zip"
        bundle = zipfile.ZipFile(io.BytesIO(await reply.read()))
    assert set(bundle.namelist()) == {
        "recording.wav",
        "call.json",
        "ringkasan.txt",
        "manifest.json",
    }
    manifest = json.loads(bundle.read("manifest.json"))
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(bundle.read(name)).hexdigest() == digest
    assert manifest["files"]["recording.wav"] == manifest["journal_sha256"]
    assert manifest["exported_by"] == "sup"
    assert manifest["reason"] == "Polres: banjir"
    assert "RINGKASAN PANGGILAN 112" in bundle.read("ringkasan.txt").decode()
    assert json.loads(bundle.read("call.json"))["call"]["call_id"] == "c2"
    [entry] = [e for e in await store.audit_trail(lab.journal) if e.action == "exported"]
    assert entry.by == "sup"
    assert entry.reason == "Polres: banjir"
    assert entry.call_id == "c2"


async def test_a_held_recording_outlives_retention_until_the_hold_is_lifted(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    hold = lab.url + "/api/calls/c1/hold"
    async with client.post(hold, json={"reason": "x"}, headers=basic("ct1001")) as reply:
        assert reply.status == 403
    async with client.post(hold, json={"reason": "pengadilan"}, headers=bearer("sup")) as reply:
        assert reply.status == 200
    _status, body = await _get(client, lab, "/api/holds", "root")
    assert body["holds"][0]["call_id"] == "c1"
    assert body["holds"][0]["by"] == "sup"
    later = NOW + timedelta(days=400)
    assert await delete_expired_recordings(lab.journal, lab.folder, 90, later) != []
    assert (lab.folder / "callgate" / "c1.wav").exists()  # c2's went, c1's is held
    assert not (lab.folder / "callgate" / "c2.wav").exists()
    async with client.delete(hold, json={"reason": "selesai"}, headers=bearer("root")) as reply:
        assert reply.status == 200
    async with client.delete(hold, json={"reason": "lagi"}, headers=bearer("root")) as reply:
        assert reply.status == 404
    assert await delete_expired_recordings(lab.journal, lab.folder, 90, later) != []
    assert not (lab.folder / "callgate" / "c1.wav").exists()
    trail = await _trail(lab)
    assert ("sup", "hold", "c1") in trail
    assert ("root", "unhold", "c1") in trail


async def test_verify_reports_missing_changed_and_unexpected_files(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    verify = lab.url + "/api/recordings/verify"
    async with client.post(verify, json={}, headers=basic("root")) as reply:
        body = await reply.json()
    assert body == {"checked": 2, "missing": [], "changed": [], "unexpected": []}
    (lab.folder / "callgate" / "c1.wav").unlink()
    (lab.folder / "callgate" / "c2.wav").write_bytes(b"changed")
    (lab.folder / "callgate" / "stray.wav").write_bytes(b"who?")
    async with client.post(verify, json={"since": "2026-12-01"}, headers=basic("sup")) as reply:
        body = await reply.json()
    assert [m["call_id"] for m in body["missing"]] == ["c1"]
    assert [m["call_id"] for m in body["changed"]] == ["c2"]
    assert [Path(u["path"]).name for u in body["unexpected"]] == ["stray.wav"]
    assert sorted(lab.problems) == ["changed", "missing", "unexpected"]
    async with client.post(verify, json={}, headers=basic("ct1001")) as reply:
        assert reply.status == 403


async def _cli(lab: Lab, *argv: str) -> int:
    # The CLI blocks on its HTTP request; the server needs this loop meanwhile.
    return await asyncio.to_thread(main, [*argv, "--url", lab.url])


async def test_the_cli_searches_reads_a_timeline_exports_and_holds(
    lab: Lab,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CALLGATE_TOKEN", token("sup"))
    assert await _cli(lab, "calls", "search", "--caller", "+62812") == 0
    out = capsys.readouterr().out
    assert "c2" in out
    assert "calls 1-2 of 2" in out
    assert await _cli(lab, "calls", "search", "--since", "2026-12-07", "--csv") == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("call_id,started_at")
    assert await _cli(lab, "calls", "timeline", "c2") == 0
    assert "Dijawab oleh petugas 1002" in capsys.readouterr().out
    assert await _cli(lab, "calls", "export", "c2", str(tmp_path)) == 2  # no reason
    assert await _cli(lab, "calls", "export", "c2", "--reason", "polisi", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert hashlib.sha256(AUDIO).hexdigest() in out
    assert (tmp_path / "panggilan-c2.zip").exists()
    assert await _cli(lab, "calls", "hold", "c2", "--reason", "pengadilan") == 0
    assert await _cli(lab, "calls", "holds") == 0
    assert "pengadilan" in capsys.readouterr().out
    assert await _cli(lab, "calls", "unhold", "c2", "--reason", "selesai") == 0
    assert await _cli(lab, "recordings", "verify") == 0
    (lab.folder / "callgate" / "c2.wav").write_bytes(b"changed")
    assert await _cli(lab, "recordings", "verify", "--since", "2026-12-01") == 1
    assert "CHANGED" in capsys.readouterr().out
    assert await _cli(lab, "calls", "export", "c2", "--reason", "x", str(tmp_path)) == 1


def test_a_bundle_whose_file_was_changed_fails_its_check() -> None:
    files = {"recording.wav": b"audio", "call.json": b"{}"}
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest = {"files": hashes, "journal_sha256": hashes["recording.wav"]}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as bundle:
        bundle.writestr("recording.wav", b"audio!")
        bundle.writestr("call.json", b"{}")
        bundle.writestr("manifest.json", json.dumps(manifest))
    _, problems = check_bundle(out.getvalue())
    assert problems == ["recording.wav: SHA-256 differs from the manifest"]


async def test_cads_token_fetches_a_recording_and_nothing_else_of_an_inquiry(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    async with client.get(lab.url + "/api/calls/c2/recording", headers=CAD) as reply:
        assert reply.status == 200
        assert await reply.read() == AUDIO
    for path in (
        "/api/calls/c2/timeline", "/api/calls/search", "/api/holds", "/api/whoami",
        "/api/live", "/api/agencies", "/api/agents",
    ):  # fmt: skip
        async with client.get(lab.url + path, headers=CAD) as reply:
            assert reply.status == 403, path
    for path in ("/api/whoami", "/api/live", "/api/agencies"):
        async with client.get(lab.url + path, headers=basic("ct1001")) as reply:
            assert reply.status == 200, path
    assert ("cad-rec", "played", "c2") in await _trail(lab)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("caller=-", "caller"),
        ("caller=%20-%20-", "caller"),
        ("until=9999-12-31", "until"),
        ("since=0001-01-01", "since"),
        ("until=9999-12-31T23:59:59-01:00", "until"),
    ],
)
async def test_a_search_outside_the_calendar_or_without_a_number_is_a_400_naming_its_field(
    lab: Lab, client: aiohttp.ClientSession, query: str, field: str
) -> None:
    status, body = await _get(client, lab, f"/api/calls/search?{query}", "sup")
    assert status == 400, body
    assert str(body["error"]).startswith(field)


def test_only_dashes_are_no_caller_prefix() -> None:
    assert caller_prefixes(" - ") == ()


@pytest.mark.parametrize(
    "asked",
    [
        {"Range": "bytes=-999999"},
        {"Range": "BYTES=0-"},
        {"Range": "bytes=00-"},
        {"Range": "bytes=-0"},
        {"Range": "bytes=100-", "If-Range": "Thu, 01 Jan 1970 00:00:00 GMT"},
    ],
)
async def test_every_request_that_may_serve_the_recording_from_its_start_is_audited(
    lab: Lab, client: aiohttp.ClientSession, asked: dict[str, str]
) -> None:
    url = lab.url + "/api/calls/c1/recording"
    async with client.get(url, headers={**basic("ct1001"), **asked}) as reply:
        assert reply.status in (200, 206)
        assert (await reply.read()).startswith(b"RIFF")
    assert [t for t in await _trail(lab) if t[1] == "played"] == [("ct1001", "played", "c1")]


async def test_reading_a_timeline_is_audited_naming_the_reader(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    status, _ = await _get(client, lab, "/api/calls/c2/timeline", "sup")
    assert status == 200
    status, _ = await _get(client, lab, "/api/calls/c1/timeline", "ct1001")
    assert status == 200
    status, _ = await _get(client, lab, "/api/calls/nope/timeline", "sup")
    assert status == 404
    assert await _trail(lab) == [("sup", "timeline", "c2"), ("ct1001", "timeline", "c1")]


async def test_a_call_taker_is_not_shown_who_investigated_their_call_nor_why(
    lab: Lab, client: aiohttp.ClientSession
) -> None:
    async with client.post(
        lab.url + "/api/calls/c1/hold", json={"reason": "pengaduan atas petugas"},
        headers=basic("sup"),
    ) as reply:  # fmt: skip
        assert reply.status == 200
    _status, body = await _get(client, lab, "/api/calls/c1/timeline", "sup")
    assert [(a["action"], a["reason"]) for a in body["access"]] == [  # type: ignore[attr-defined]
        ("hold", "pengaduan atas petugas")
    ]
    assert body["recording"]["hold"]["reason"] == "pengaduan atas petugas"  # type: ignore[index]
    status, body = await _get(client, lab, "/api/calls/c1/timeline", "ct1001")
    assert status == 200
    assert body["access"] == []
    hold = body["recording"]["hold"]  # type: ignore[index]
    assert (hold["reason"], hold["by"]) == (None, None)  # held, but not by whom nor why
