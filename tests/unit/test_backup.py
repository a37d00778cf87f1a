"""callgate backup and restore: the manifest, incremental recordings, refusals, SQLite's online
backup while another connection writes."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import sqlite3
import stat
import subprocess
import threading
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url

from callgate.cli import main as cli
from callgate.storage import dumps
from callgate.storage.database import parse_url
from callgate.storage.journal import Journal
from callgate.tools.backup import MANIFEST, BackupError, Sources, take_backup
from callgate.tools.restore import find_backup, restore
from tests.unit.storage.scenarios import at, start


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class Site:
    """A host as a backup sees it: /etc/callgate, the FastAGI secret, a journal, recordings."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.etc = base / "etc" / "callgate"
        self.etc.mkdir(parents=True)
        self.etc.chmod(0o750)
        self.journal = base / "var" / "lib" / "callgate" / "journal.db"
        self.journal.parent.mkdir(parents=True)
        self.url = f"sqlite+aiosqlite:///{self.journal}"
        self.config = self.etc / "callgate.toml"
        self.recordings = base / "monitor" / "callgate"
        self.config.write_text(
            f'[storage]\nurl = "{self.url}"\n[recording]\nasterisk_dir = "{base / "monitor"}"\n'
        )
        self.config.chmod(0o640)
        secrets = self.etc / "secrets.env"
        secrets.write_text("CALLGATE_ARI__PASSWORD=not-the-lab-one\n")
        secrets.chmod(0o600)
        self.agi_secret = base / "etc" / "asterisk" / "callgate-agi-secret.conf"
        self.agi_secret.parent.mkdir(parents=True)
        self.agi_secret.write_text("CALLGATE_AGI_SECRET=0123456789abcdef0123\n")
        self.agi_secret.chmod(0o640)
        self.recordings.mkdir(parents=True)
        asyncio.run(self._open())

    async def _open(self) -> None:
        journal = await Journal.open(self.url)
        await journal.close()

    def sources(self) -> Sources:
        return Sources(self.config, self.agi_secret, self.url)

    def places(self) -> dict[str, Path]:
        """Where a restore of this host's backups may write (besides the backed-up config's)."""
        return {"config": self.config, "agi_secret": self.agi_secret}

    def add_calls(self, *call_ids: str, recorded: bool = True) -> dict[str, str]:
        """Journal the calls, each with a recording file; their hashes by call."""
        hashes = {}

        async def write() -> None:
            journal = await Journal.open(self.url)
            try:
                for i, call_id in enumerate(call_ids):
                    await start(journal, call_id, i)
                    if not recorded:
                        continue
                    wav = self.recordings / f"{call_id}.wav"
                    wav.write_bytes(f"RIFF audio of {call_id}".encode() * 100)
                    wav.chmod(0o640)
                    digest = hashlib.sha256(wav.read_bytes()).hexdigest()
                    hashes[call_id] = digest
                    await journal.recording_ready(
                        call_id,
                        path=str(wav),
                        sha256=digest,
                        size_bytes=wav.stat().st_size,
                        duration_s=1.0,
                        at=at(i + 1),
                    )
            finally:
                await journal.close()

        asyncio.run(write())
        return hashes


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "host")


def test_backup_holds_a_manifest_of_every_file_with_modes_kept(site: Site, tmp_path: Path) -> None:
    site.add_calls("c1", "c2")
    dest = tmp_path / "backups"
    folder = take_backup(dest, site.sources(), copy_recordings=False, out=None)

    assert _mode(dest) == 0o700
    assert _mode(folder) == 0o700
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["journal"] == {
        "kind": "sqlite",
        "file": "journal.sqlite3",
        "calls": 2,
        "source": str(site.journal.resolve()),
    }
    by_target = {entry["restore_to"]: entry for entry in manifest["files"]}
    assert set(by_target) == {
        str(site.journal.resolve()),
        str(site.config.resolve()),
        str((site.etc / "secrets.env").resolve()),
        str(site.agi_secret.resolve()),
    }
    for entry in manifest["files"]:
        stored = folder / entry["path"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == entry["sha256"]
    assert by_target[str((site.etc / "secrets.env").resolve())]["mode"] == "0600"
    assert _mode(folder / by_target[str((site.etc / "secrets.env").resolve())]["path"]) == 0o600
    assert by_target[str(site.agi_secret.resolve())]["mode"] == "0640"
    # By reference: every recording with the hash the journal sealed, nothing copied.
    items = manifest["recordings"]["items"]
    assert manifest["recordings"]["mode"] == "reference"
    assert [(i["call_id"], i["path"]) for i in items] == [
        ("c1", str(site.recordings / "c1.wav")),
        ("c2", str(site.recordings / "c2.wav")),
    ]
    assert not (dest / "recordings").exists()


def test_a_later_backup_copies_only_new_recordings(site: Site, tmp_path: Path) -> None:
    first = site.add_calls("c1", "c2")
    dest = tmp_path / "backups"
    out = io.StringIO()
    take_backup(dest, site.sources(), copy_recordings=True, out=out)
    assert "2 copied" in out.getvalue()
    stored = {p.name: p.stat().st_ino for p in (dest / "recordings").iterdir()}
    assert set(stored) == set(first.values())

    second = site.add_calls("c3")
    out = io.StringIO()
    folder = take_backup(
        dest, site.sources(), copy_recordings=True, out=out, now=datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert "1 copied, 2 kept" in out.getvalue()
    after = {p.name: p.stat().st_ino for p in (dest / "recordings").iterdir()}
    assert set(after) == set(first.values()) | set(second.values())
    assert all(after[name] == inode for name, inode in stored.items())  # not copied again
    assert find_backup(dest) == folder  # the newest
    items = json.loads((folder / MANIFEST).read_text())["recordings"]["items"]
    assert all(item["stored"] for item in items)
    assert {item["owner"]["mode"] for item in items} == {"0640"}  # kept ones' too


def test_a_recording_changed_since_its_call_is_not_stored_and_the_manifest_says_so(
    site: Site, tmp_path: Path
) -> None:
    site.add_calls("c1")
    (site.recordings / "c1.wav").write_bytes(b"tampered")
    folder = take_backup(tmp_path / "b", site.sources(), copy_recordings=True, out=None)
    (item,) = json.loads((folder / MANIFEST).read_text())["recordings"]["items"]
    assert (item["stored"], item["problem"]) == (False, "changed")


def test_restore_onto_a_fresh_root_brings_back_calls_recordings_and_modes(
    site: Site, tmp_path: Path
) -> None:
    hashes = site.add_calls("c1", "c2", "c3")
    dest = tmp_path / "backups"
    take_backup(dest, site.sources(), copy_recordings=True, out=None)
    fresh = tmp_path / "fresh"

    manifest = restore(dest, root=fresh, out=None, **site.places())

    assert manifest["journal"]["calls"] == 3
    journal = fresh / str(site.journal.resolve()).lstrip("/")
    assert dumps.sqlite_calls(journal) == 3
    calls, recordings = dumps.calls_and_recordings(parse_url(f"sqlite+aiosqlite:///{journal}"))
    assert calls == 3
    assert {r.call_id: r.sha256 for r in recordings} == hashes
    for rec in recordings:
        restored = fresh / rec.path.lstrip("/")
        assert hashlib.sha256(restored.read_bytes()).hexdigest() == rec.sha256
        assert _mode(restored) == 0o640
    secrets = fresh / str((site.etc / "secrets.env").resolve()).lstrip("/")
    assert secrets.read_text() == (site.etc / "secrets.env").read_text()
    assert _mode(secrets) == 0o600
    assert _mode(fresh / str(site.agi_secret.resolve()).lstrip("/")) == 0o640
    assert _mode(secrets.parent) == 0o750  # the config folder's own mode


def test_a_failed_backup_leaves_no_folder_behind(site: Site, tmp_path: Path) -> None:
    site.journal.unlink()
    dest = tmp_path / "backups"
    with pytest.raises(dumps.JournalError, match="does not exist"):
        take_backup(dest, site.sources(), copy_recordings=True, out=None)
    assert list(dest.iterdir()) == []


def test_restore_refuses_a_changed_file_by_name_and_writes_nothing(
    site: Site, tmp_path: Path
) -> None:
    site.add_calls("c1")
    folder = take_backup(tmp_path / "b", site.sources(), copy_recordings=True, out=None)
    secrets = next(folder.rglob("secrets.env"))
    secrets.write_text("CALLGATE_ARI__PASSWORD=someone-elses\n")
    fresh = tmp_path / "fresh"

    with pytest.raises(BackupError, match=r"changed file files/.*/secrets\.env"):
        restore(folder, root=fresh, out=None)
    assert not fresh.exists()


def test_restore_refuses_a_changed_recording_in_the_store(site: Site, tmp_path: Path) -> None:
    hashes = site.add_calls("c1")
    take_backup(tmp_path / "b", site.sources(), copy_recordings=True, out=None)
    stored = tmp_path / "b" / "recordings" / hashes["c1"]
    stored.chmod(0o600)
    stored.write_bytes(b"not the call")
    with pytest.raises(BackupError, match=rf"recordings/{hashes['c1']} \(call c1\)"):
        restore(tmp_path / "b", root=tmp_path / "fresh", out=None)


def test_restore_keeps_a_journal_that_has_calls_unless_forced(site: Site, tmp_path: Path) -> None:
    site.add_calls("c1", "c2", recorded=False)
    folder = take_backup(tmp_path / "b", site.sources(), copy_recordings=False, out=None)
    site.add_calls("c3", recorded=False)  # taken since the backup

    with pytest.raises(BackupError, match="already holds 3 calls"):
        restore(folder, out=None, **site.places())
    assert dumps.sqlite_calls(site.journal) == 3
    # A stale -wal of the replaced journal must not be replayed onto the restored one.
    with closing(sqlite3.connect(site.journal)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    restore(folder, force=True, out=None, **site.places())
    assert dumps.sqlite_calls(site.journal) == 2
    assert not site.journal.with_name("journal.db-wal").exists()


def test_sqlite_online_backup_is_consistent_while_another_thread_writes(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    with closing(sqlite3.connect(live)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, pair INTEGER NOT NULL)")
        db.commit()
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        # Two rows per transaction: a torn copy would hold an odd number.
        with closing(sqlite3.connect(live, timeout=10)) as db:
            while not stop.is_set():
                n = written[0]
                db.execute("INSERT INTO t VALUES (?, ?)", (2 * n + 1, n))
                db.execute("INSERT INTO t VALUES (?, ?)", (2 * n + 2, n))
                db.commit()
                written[0] = n + 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        counts = []
        for i in range(5):
            while written[0] < 50 * (i + 1):
                stop.wait(0.01)
            copy = tmp_path / f"copy{i}.db"
            before = written[0]
            dumps.copy_sqlite(live, copy)
            with closing(sqlite3.connect(copy)) as db:
                rows = db.execute("SELECT n, pair FROM t ORDER BY n").fetchall()
                assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            assert len(rows) % 2 == 0
            assert [n for n, _ in rows] == list(range(1, len(rows) + 1))  # no gap
            assert len(rows) // 2 >= before
            counts.append(len(rows))
    finally:
        stop.set()
        thread.join()
    assert counts == sorted(counts)
    assert not copy.with_name(copy.name + "-wal").exists()


def test_postgres_password_reaches_pg_dump_by_environment_only() -> None:
    options, env = dumps._libpq(make_url("postgresql+asyncpg://cg:s3cret-pw@127.0.0.1:5433/j"))
    assert "s3cret-pw" not in " ".join(options)
    assert options == [
        "--dbname",
        "j",
        "--host",
        "127.0.0.1",
        "--port",
        "5433",
        "--username",
        "cg",
    ]
    assert env["PGPASSWORD"] == "s3cret-pw"


def test_a_failed_pg_dump_names_the_url_without_its_password(tmp_path: Path) -> None:
    # Nothing listens on port 9 of loopback: pg_dump fails to connect.
    journal = parse_url("postgresql+asyncpg://cg:s3cret-pw@127.0.0.1:9/j")
    with pytest.raises(dumps.JournalError) as failed:
        dumps.dump_postgres(journal, tmp_path / "j.pgdump")
    assert "s3cret-pw" not in str(failed.value)
    assert "127.0.0.1:9/j" in str(failed.value)


def test_the_command_line_takes_the_journal_from_the_config_and_reports_failures(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_calls("c1")
    dest = tmp_path / "backups"
    args = ["--config", str(site.config), "--agi-secret", str(site.agi_secret)]
    assert cli(["backup", str(dest), *args, "--recordings", "copy"]) == 0
    assert "Cadangan selesai" in capsys.readouterr().out

    fresh = ["--root", str(tmp_path / "fresh")]
    assert cli(["restore", str(dest), *fresh, *args]) == 0
    assert "1 panggilan" in capsys.readouterr().out

    assert cli(["restore", str(dest), *fresh, *args]) == 1
    assert "already holds 1 calls" in capsys.readouterr().err
    assert cli(["backup", str(dest), "--config", str(tmp_path / "none.toml")]) == 1
    assert "none.toml" in capsys.readouterr().err


def test_the_journal_url_in_secrets_env_wins_over_the_config(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callgate.tools.backup import journal_url

    monkeypatch.delenv("CALLGATE_STORAGE__URL", raising=False)
    assert journal_url(site.config, None) == site.url
    (site.etc / "secrets.env").write_text(
        "CALLGATE_STORAGE__URL='postgresql+asyncpg://cg:pw@127.0.0.1/j'\n"
    )
    assert journal_url(site.config, None) == "postgresql+asyncpg://cg:pw@127.0.0.1/j"
    assert journal_url(site.config, "sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_the_backup_timer_runs_daily_and_its_service_passes_systemd_verify() -> None:
    timer = (REPO / "systemd" / "callgate-backup.timer").read_text().splitlines()
    assert "OnCalendar=*-*-* 02:30:00" in timer
    assert "Persistent=yes" in timer
    service = (REPO / "systemd" / "callgate-backup.service").read_text()
    assert "--recordings copy" in service
    assert "Type=oneshot" in service.splitlines()
    done = subprocess.run(
        [REPO / "scripts" / "check-systemd-unit", REPO / "systemd" / "callgate-backup.service"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
