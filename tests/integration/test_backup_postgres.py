"""callgate backup and restore of a PostgreSQL journal (#22), on the throwaway PostgreSQL 15
cluster of test_journal_postgres: pg_dump taken while calls are being journaled restores into a
fresh database with every call it holds, as the source has it; a database with calls is kept
unless --force."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from callgate.cli import main as cli
from callgate.storage.journal import Journal
from callgate.storage.records import CallRecord
from tests.unit.storage.scenarios import at, start

from .test_journal_postgres import Cluster, cluster, lab  # noqa: F401 - the fixtures

SHA = "cd" * 32


class Writer:
    """Calls journaled one after another (started, ended, recorded, each in its own
    transaction, as the daemon writes them) in a thread, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.going = threading.Event()  # set once 25 calls are in
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(_write_calls(url, 20, self)))

    def __enter__(self) -> Writer:
        self.thread.start()
        assert self.going.wait(timeout=60), "the writer did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


async def _write_calls(url: str, first: int, writer: Writer | None = None, count: int = 0) -> None:
    journal = await Journal.open(url)
    try:
        n = first
        while (writer is None and n < first + count) or (writer and not writer.stop.is_set()):
            if writer is not None and n - first == 25:
                writer.going.set()
            call_id = f"pg-{n}"
            await start(journal, call_id, n)
            await journal.call_ended(call_id, at=at(n + 1), outcome="COMPLETED")
            await journal.recording_ready(
                call_id,
                path=f"/var/spool/asterisk/monitor/callgate/{call_id}.wav",
                sha256=SHA,
                size_bytes=1000 + n,
                duration_s=1.0,
                at=at(n + 2),
            )
            n += 1
    finally:
        await journal.close()


def _calls(url: str) -> dict[str, CallRecord]:
    async def read() -> dict[str, CallRecord]:
        journal = await Journal.open(url)
        try:
            return {c.call_id: c for c in await journal.recent_calls(limit=10_000)}
        finally:
            await journal.close()

    return asyncio.run(read())


def test_given_postgres_when_backed_up_while_writing_then_a_fresh_database_gets_every_call(
    cluster: Cluster,  # noqa: F811 - the fixture
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster.createdb("backup_source")
    cluster.createdb("backup_fresh")
    source, fresh = cluster.url("backup_source"), cluster.url("backup_fresh")
    asyncio.run(_write_calls(source, 0, count=20))
    etc = tmp_path / "etc" / "callgate"
    etc.mkdir(parents=True)
    config = etc / "callgate.toml"
    config.write_text("[ops]\n")
    # The password only in secrets.env, as the README advises; the backup finds it there.
    (etc / "secrets.env").write_text(f"CALLGATE_STORAGE__URL={source}\n")
    dest = tmp_path / "backups"

    # The host's files: where the backup takes them from and a restore puts them back (only there).
    host = ["-c", str(config), "--agi-secret", str(tmp_path / "no")]
    with Writer(source):
        code = cli(["backup", str(dest), *host])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "pg_dump" in out.err
    assert "Pa55word" not in out.out + out.err
    (folder,) = (p.parent for p in dest.glob("*/manifest.json"))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["journal"]["kind"] == "postgresql"
    assert "Pa55word" not in json.dumps(manifest["journal"])
    in_backup = manifest["journal"]["calls"]
    assert in_backup >= 45
    # Every call's recording, but perhaps the last call's, written after the snapshot.
    assert in_backup - 1 <= len(manifest["recordings"]["items"]) <= in_backup

    code = cli(["restore", str(dest), "--root", str(tmp_path / "root"), "--journal", fresh, *host])
    assert code == 0, capsys.readouterr().err
    everything = _calls(source)
    restored = _calls(fresh)
    assert len(restored) == in_backup
    assert len(everything) > in_backup  # the writer went on during the dump
    # A consistent snapshot: the first calls, in order, each as the source has it, but for the
    # last, whose end or recording may have come after the snapshot.
    assert set(restored) == {f"pg-{n}" for n in range(in_backup)}
    last = f"pg-{in_backup - 1}"
    assert {k: v for k, v in restored.items() if k != last} == {
        k: everything[k] for k in restored if k != last
    }
    assert restored[last].started_at == everything[last].started_at

    # The fresh database has calls now: a second restore is refused unless forced.
    assert (
        cli(["restore", str(dest), "--root", str(tmp_path / "r2"), "--journal", fresh, *host]) == 1
    )
    assert f"already holds {in_backup} calls" in capsys.readouterr().err
    asyncio.run(_write_calls(fresh, 5000, count=1))  # a call taken since the restore
    code = cli(
        ["restore", str(dest), "--root", str(tmp_path / "r3"), "--journal", fresh, "--force", *host]
    )
    assert code == 0, capsys.readouterr().err
    assert set(_calls(fresh)) == set(restored)
