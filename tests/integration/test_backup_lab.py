"""callgate backup and restore on the real lab (#22): a backup taken while a call is going on
(the daemon writing its journal, Asterisk recording) and one after, each restored into a fresh
folder with every call and every recording's hash as the daemon's journal has them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import labpeers
import pytest

from callgate.storage.journal import Journal
from callgate.storage.records import CallRecord

from .conftest import Daemon, run_cli, wait_for

_RUN = f"{int(time.time()) % 10**7:07d}"
FIRST, SECOND = (f"0819{_RUN}{n}" for n in (1, 2))


def _recorded(daemon: Daemon) -> set[str]:
    return {str(r["call_id"]) for r in daemon.records("recording ready")}


def _connected(daemon: Daemon) -> set[str]:
    return {str(r["call_id"]) for r in daemon.records("call connected")}


def _restored_calls(root: Path, journal: Path) -> list[CallRecord]:
    url = f"sqlite+aiosqlite:///{root}{journal.resolve()}"

    async def read() -> list[CallRecord]:
        restored = await Journal.open(url)
        try:
            return list(reversed(await restored.recent_calls(limit=1000)))
        finally:
            await restored.close()

    return asyncio.run(read())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _backup(dest: Path, config: Path, secret: Path) -> tuple[Path, str]:
    done = run_cli(
        "backup", str(dest), "--config", str(config), "--agi-secret", str(secret),
        "--recordings", "copy",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    newest = max(p.parent for p in dest.glob("*/manifest.json"))
    return newest, done.stderr


@pytest.mark.daemon_env(CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
def test_given_a_backup_during_calls_then_a_fresh_restore_has_every_call_and_recording_hash(
    daemon: Daemon,
    tmp_path: Path,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    wait_for(lambda: "ready: taking calls" in daemon.log_text(), 30, "the daemon to be ready")
    phones("1001")
    # The host's config folder and FastAGI secret, as /etc/callgate and /etc/asterisk hold them.
    etc = tmp_path / "etc" / "callgate"
    etc.mkdir(parents=True)
    config = etc / "callgate.toml"
    # The daemon's journal and recordings folder: a restore puts files back only there (and in
    # the config folder and FastAGI secret it is given), whatever an edited manifest says.
    config.write_text(
        f'[storage]\nurl = "sqlite+aiosqlite:///{daemon.journal_path}"\n'
        f'[recording]\nasterisk_dir = "{labpeers.RECORDINGS}"\n'
    )
    (etc / "secrets.env").write_text("CALLGATE_AMI__PASSWORD=not-for-the-log\n")
    os.chmod(etc / "secrets.env", 0o600)
    secret = tmp_path / "etc" / "asterisk" / "callgate-agi-secret.conf"
    secret.parent.mkdir()
    secret.write_text("CALLGATE_AGI_SECRET=lab-agi-shared-secret\n")
    dest = tmp_path / "backups"
    places = ("--config", str(config), "--agi-secret", str(secret))  # where they go back

    first = carrier([FIRST], talk_seconds=3)
    assert first.wait(timeout=60) == 0, first.errors()
    wait_for(lambda: len(_recorded(daemon)) == 1, 20, "the first call's recording")
    # The second caller talks for 40 s: the backup is taken in the middle of that call.
    second = carrier([SECOND], talk_seconds=40)
    wait_for(lambda: len(_connected(daemon)) == 2, 30, "the second call to connect")
    during, said = _backup(dest, config, secret)
    assert "1 copied" in said, said
    assert second.wait(timeout=120) == 0, second.errors()
    wait_for(lambda: len(_recorded(daemon)) == 2, 20, "the second call's recording")
    after, said = _backup(dest, config, secret)
    assert "1 copied, 1 kept" in said, said  # incremental: only the new recording
    final = {c.call_id: c for c in daemon.calls()}  # the daemon still runs
    assert len(final) == 2
    assert all(c.recording is not None and c.recording.sha256 for c in final.values())
    open_call = next(c for c in final.values() if c.call_id not in _recorded_at(during))

    # -- the backup taken during the second call, restored into a fresh folder -----------------
    fresh = tmp_path / "fresh-during"
    done = run_cli("restore", str(during), "--root", str(fresh), *places)
    assert done.returncode == 0, done.stdout + done.stderr
    restored = {c.call_id: c for c in _restored_calls(fresh, daemon.journal_path)}
    assert set(restored) == set(final)
    for call_id in _recorded_at(during):
        assert restored[call_id] == final[call_id]  # the whole record, recording hash included
    # The second call as it was at the backup: connected to 1001, not yet ended (the journal
    # writes who answered at the end), no recording yet; its history since then is all that
    # the daemon's journal has more.
    snapshot = restored[open_call.call_id]
    assert (snapshot.state, snapshot.ended_at, snapshot.recording) == ("CONNECTED", None, None)
    assert snapshot.agents == open_call.agents
    assert [a.agent_id for a in snapshot.agents] == ["1001"]
    assert snapshot.transitions == open_call.transitions[: len(snapshot.transitions)]
    assert (snapshot.started_at, snapshot.caller) == (open_call.started_at, open_call.caller)
    _check_recordings(fresh, [c for c in restored.values() if c.recording])

    # -- the one after the calls (the newest in the folder), into another fresh folder --------
    fresh = tmp_path / "fresh-after"
    done = run_cli("restore", str(dest), "--root", str(fresh), *places)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {c.call_id: c for c in _restored_calls(fresh, daemon.journal_path)} == final
    _check_recordings(fresh, list(final.values()))
    secrets = fresh / str((etc / "secrets.env").resolve()).lstrip("/")
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert (fresh / str(secret.resolve()).lstrip("/")).read_text() == secret.read_text()
    assert json.loads((after / "manifest.json").read_text())["journal"]["calls"] == 2


def _recorded_at(backup: Path) -> set[str]:
    items = json.loads((backup / "manifest.json").read_text())["recordings"]["items"]
    return {item["call_id"] for item in items}


def _check_recordings(root: Path, calls: list[CallRecord]) -> None:
    """Each call's recording is back at its path, with the hash the daemon journaled, and the
    same bytes as Asterisk's file."""
    assert calls
    for call in calls:
        assert call.recording is not None
        assert call.recording.path is not None
        original = Path(call.recording.path)
        restored = root / str(original).lstrip("/")
        assert _sha256(restored) == call.recording.sha256 == _sha256(original)
        assert stat.S_IMODE(restored.stat().st_mode) == stat.S_IMODE(original.stat().st_mode)
