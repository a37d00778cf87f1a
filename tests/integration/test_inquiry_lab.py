"""An inquiry (#23) on the real lab: two real calls answered and recorded, then found by number
and date, their timeline read, the recording played with a range request (and fetched with a
CAD token), exported and the bundle's hashes checked against the journal, held and skipped by
retention; a call-taker refused a call that is not theirs; a changed recording caught by
playback and by ``callgate recordings verify``. The audit trail names each step's user."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import labpeers
import pytest
from argon2 import PasswordHasher

from callgate.storage.inquiries import AuditEntry, audit_trail
from callgate.storage.records import CallRecord, RecordingStatus
from callgate.storage.retention import delete_expired_recordings

from .conftest import Daemon, run_cli, wait_for

ADMIN = "http://127.0.0.1:8089"
_RUN = f"{int(time.time()) % 10**7:07d}"
CALLERS = [f"0819{_RUN}{n}" for n in (1, 2)]
_CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
#: A second call-taker (never on a call here) and a CAD client with a token, beside the lab's.
CT1002 = ("lab-ct1002", "lab-ct1002-password")
CAD_TOKEN = "cad-rec.cad-rec-token"
USERS = [
    *labpeers.LAB_USERS,
    {"name": CT1002[0], "role": "call-taker", "agent_id": "1002",
     "password_hash": _CHEAP.hash(CT1002[1])},
    {"name": "cad-rec", "role": "cad", "token_hash": _CHEAP.hash("cad-rec-token")},
]  # fmt: skip


def _request(
    method: str, path: str, headers: dict[str, str], body: dict[str, object] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers = {**headers, "Content-Type": "application/json"}
    request = urllib.request.Request(ADMIN + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            return reply.status, reply.read(), dict(reply.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def _admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {labpeers.LAB_ADMIN_TOKEN}"}


def _basic(user: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(":".join(user).encode()).decode()}


def _recorded(daemon: Daemon) -> list[CallRecord]:
    return [
        c
        for c in daemon.calls()
        if c.answered_by == "1001"
        and c.recording is not None
        and c.recording.status == RecordingStatus.READY
    ]


def _trail(daemon: Daemon) -> list[AuditEntry]:
    async def read() -> list[AuditEntry]:
        async with daemon.journal() as journal:
            return await audit_trail(journal)

    return asyncio.run(read())


def _retention(daemon: Daemon, now: datetime) -> list[Path]:
    async def run() -> list[Path]:
        async with daemon.journal() as journal:
            return await delete_expired_recordings(journal, labpeers.RECORDINGS, 90, now)

    return asyncio.run(run())


@pytest.mark.daemon_env(
    CALLGATE_CALLTAKERS__ENDPOINTS='["PJSIP/1001"]',
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
    CALLGATE_AUTH__USERS=json.dumps(USERS),
)
def test_a_supervisor_finds_plays_exports_and_holds_a_call_and_the_trail_names_each_step(
    daemon: Daemon,
    tmp_path: Path,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    wait_for(lambda: "ready: taking calls" in daemon.log_text(), 30, "the daemon to be ready")
    takers = phones("1001")
    with labpeers.CallTakersHangUp(2.0, takers):
        for number in CALLERS:
            calls = carrier([number], talk_seconds=30)
            assert calls.wait(timeout=60) == 0, calls.errors()
            time.sleep(1.5)  # wrap-up (1 s) before the next call
    wait_for(lambda: len(_recorded(daemon)) == 2, 30, "both calls answered and recorded")
    first, second = _recorded(daemon)
    assert first.recording is not None
    assert second.recording is not None

    # -- search: by number (the CLI, as sent) and by day (the API, the centre's zone) -------
    found = run_cli("calls", "search", "--caller", CALLERS[0])
    assert found.returncode == 0, found.stdout + found.stderr
    assert first.call_id in found.stdout
    assert second.call_id not in found.stdout
    day = (datetime.now(ZoneInfo("Asia/Jakarta")) - timedelta(days=1)).date().isoformat()
    query = urllib.parse.urlencode({"caller": f"+62{CALLERS[0][1:-1]}", "since": day})
    status, body, _ = _request("GET", f"/api/calls/search?{query}", _admin())
    assert status == 200, body
    page = json.loads(body)
    assert [c["call_id"] for c in page["calls"]] == [second.call_id, first.call_id]
    assert page["total"] == 2

    # -- the timeline -------------------------------------------------------------------------
    status, body, _ = _request("GET", f"/api/calls/{first.call_id}/timeline", _admin())
    assert status == 200, body
    timeline = json.loads(body)
    kinds = [e["kind"] for e in timeline["events"]]
    for kind in ("entered", "answered", "ended", "recording"):
        assert kind in kinds, kinds
    assert timeline["recording"]["sha256"] == first.recording.sha256
    assert timeline["recording"]["url"] == f"/api/calls/{first.call_id}/recording"

    # -- playback: a range request as an audio element seeks; CAD's token fetches it too -----
    file = Path(str(first.recording.path))
    audio = file.read_bytes()
    url = timeline["recording"]["url"]
    status, body, headers = _request("GET", url, {**_admin(), "Range": "bytes=0-99"})
    assert status == 206
    assert body == audio[:100]
    assert headers["Accept-Ranges"] == "bytes"
    status, body, _ = _request("GET", url, {"Authorization": f"Bearer {CAD_TOKEN}"})
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == first.recording.sha256

    # -- a call-taker may not open a call that is not theirs ----------------------------------
    status, _, _ = _request("GET", f"/api/calls/{first.call_id}/timeline", _basic(CT1002))
    assert status == 403
    status, _, _ = _request("GET", url, _basic(CT1002))
    assert status == 403
    status, _, _ = _request("GET", url, _basic(labpeers.LAB_CALLTAKER))
    assert status == 200

    # -- export: the bundle's hashes match the journal ---------------------------------------
    exported = run_cli(
        "calls", "export", first.call_id, "--reason", "Polres: banjir", str(tmp_path)
    )
    assert exported.returncode == 0, exported.stdout + exported.stderr
    [bundle_path] = tmp_path.glob("panggilan-*.zip")
    with zipfile.ZipFile(io.BytesIO(bundle_path.read_bytes())) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        for name, digest in manifest["files"].items():
            assert hashlib.sha256(bundle.read(name)).hexdigest() == digest
    assert manifest["files"]["recording.wav"] == first.recording.sha256
    assert manifest["exported_by"] == "lab-admin"

    # -- a hold outlives retention; the other call's recording goes ---------------------------
    held = run_cli("calls", "hold", first.call_id, "--reason", "pengadilan")
    assert held.returncode == 0, held.stdout + held.stderr
    deleted = _retention(daemon, datetime.now(UTC) + timedelta(days=400))
    assert [p.name for p in deleted] == [Path(str(second.recording.path)).name]
    assert file.exists()

    # -- a changed recording: refused by playback, caught by verify ---------------------------
    file.write_bytes(audio[:-1] + bytes([audio[-1] ^ 1]))
    status, body, _ = _request("GET", url, _admin())
    assert status == 409, body
    verify = run_cli("recordings", "verify")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "CHANGED" in verify.stdout
    assert first.call_id in verify.stdout
    wait_for(
        lambda: "ALARM: recording" in daemon.log_text(), 10, "the daemon's ALARM for the change"
    )

    # -- the audit trail names each step's user ----------------------------------------------
    steps = {(e.by, e.action, e.call_id) for e in _trail(daemon)}
    for step in (
        ("lab-admin", "search", None),
        ("lab-admin", "played", first.call_id),
        ("cad-rec", "played", first.call_id),
        ("lab-ct1002", "refused", first.call_id),
        ("lab-admin", "exported", first.call_id),
        ("lab-admin", "hold", first.call_id),
        ("lab-admin", "mismatch", first.call_id),
    ):
        assert step in steps, (step, steps)
