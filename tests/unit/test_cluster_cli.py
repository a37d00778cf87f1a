"""``callgate cluster reset-fence`` (#21): after etcd was rebuilt, an admin lowers the journal's
fence to etcd's revision, refused while etcd shows a leader of the centre, audited by name."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from callgate import cli
from callgate.storage.fence_reset import fence_epoch
from callgate.storage.journal import Journal
from callgate.tools import cluster as module
from tests.unit.cluster.fake_etcd import FakeEtcd
from tests.unit.storage.test_fence import journal_trail


def _config(tmp_path: Path, *, clustered: bool = True) -> Path:
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    text = f'[storage]\nurl = "{url}"\n'
    if clustered:
        text += '[cluster]\netcd = ["http://127.0.0.1:1"]\ncentre = "jakarta"\n'
    path = tmp_path / "callgate.toml"
    path.write_text(text)
    return path


def _journal(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"


async def _claimed(url: str, epoch: int) -> None:
    journal = await Journal.open(url)
    try:
        await journal.claim_epoch(epoch)
    finally:
        await journal.close()


async def _state(url: str) -> tuple[int, list[tuple[str, str]]]:
    journal = await Journal.open(url)
    try:
        trail = await journal_trail(journal)
        return await fence_epoch(journal), [(row.by, row.action) for row in trail]
    finally:
        await journal.close()


@pytest.fixture
def etcd(monkeypatch: pytest.MonkeyPatch) -> FakeEtcd:
    fake = FakeEtcd()  # a rebuilt etcd: a few revisions only
    fake.revision = 14
    fake.close = lambda: asyncio.sleep(0)  # type: ignore[attr-defined]
    monkeypatch.setattr(module, "EtcdClient", lambda urls, timeout: fake)
    monkeypatch.setattr(module, "os_user", lambda: "budi (uid 1000)")
    return fake


def test_given_etcd_rebuilt_and_no_leader_then_the_fence_is_lowered_and_audited(
    tmp_path: Path,
    etcd: FakeEtcd,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, url = _config(tmp_path), _journal(tmp_path)
    asyncio.run(_claimed(url, 9000))
    caplog.set_level(logging.WARNING)
    assert cli.main(["cluster", "reset-fence", "-c", str(config), "--yes"]) == module.OK
    assert asyncio.run(_state(url)) == (14, [("budi (uid 1000)", "fence_reset")])
    out = capsys.readouterr().out
    # Indonesian first, then English.
    assert out.index("diturunkan dari 9000 ke 14 oleh budi (uid 1000)") < out.index(
        "lowered from 9000 to 14 by budi (uid 1000)"
    )
    assert "lowered by hand from 9000 to 14 by budi (uid 1000)" in caplog.text
    # Run again: nothing left to lower.
    assert module.main(["reset-fence", "-c", str(config), "--yes"]) == module.OK
    assert "Tidak ada yang diubah" in capsys.readouterr().out
    assert asyncio.run(_state(url))[0] == 14


def test_given_a_leader_in_etcd_then_refused_naming_it(
    tmp_path: Path, etcd: FakeEtcd, capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = _config(tmp_path), _journal(tmp_path)
    asyncio.run(_claimed(url, 9000))

    async def someone_leads() -> None:
        lease, _ = await etcd.grant(3)
        await etcd.create("/callgate/jakarta/leader", "cg-node2", lease)

    asyncio.run(someone_leads())
    assert module.main(["reset-fence", "-c", str(config), "--yes"]) == module.REFUSED
    err = capsys.readouterr().err
    assert "ditolak: cg-node2 memimpin pusat jakarta" in err
    assert "refused: cg-node2 leads centre jakarta" in err
    assert asyncio.run(_state(url)) == (9000, [])


def test_given_no_confirmation_then_nothing_changes(
    tmp_path: Path, etcd: FakeEtcd, capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = _config(tmp_path), _journal(tmp_path)
    asyncio.run(_claimed(url, 9000))
    asked: list[str] = []
    argv = ["reset-fence", "-c", str(config)]
    assert module.main(argv, confirm=lambda q: asked.append(q) or "n") == module.REFUSED
    assert "Lower the fence to 14?" in asked[0]
    assert "Dibatalkan" in capsys.readouterr().out

    def no_terminal(question: str) -> str:
        raise EOFError

    assert module.main(argv, confirm=no_terminal) == module.REFUSED
    assert asyncio.run(_state(url)) == (9000, [])
    assert module.main(argv, confirm=lambda q: "ya") == module.OK
    assert asyncio.run(_state(url))[0] == 14


def test_given_etcd_away_then_it_fails_and_changes_nothing(
    tmp_path: Path, etcd: FakeEtcd, capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = _config(tmp_path), _journal(tmp_path)
    asyncio.run(_claimed(url, 9000))
    etcd.down = True
    assert module.main(["reset-fence", "-c", str(config), "--yes"]) == module.FAILED
    assert "gagal, tidak ada yang diubah" in capsys.readouterr().err
    assert asyncio.run(_state(url)) == (9000, [])


def test_given_a_single_callgate_or_no_config_then_a_usage_error(
    tmp_path: Path, etcd: FakeEtcd, capsys: pytest.CaptureFixture[str]
) -> None:
    single = _config(tmp_path, clustered=False)
    assert module.main(["reset-fence", "-c", str(single), "--yes"]) == module.USAGE
    assert "[cluster] etcd is not set" in capsys.readouterr().err
    missing = tmp_path / "nowhere.toml"
    assert module.main(["reset-fence", "-c", str(missing), "--yes"]) == module.USAGE
    assert "does not exist" in capsys.readouterr().err


def test_given_the_os_user_then_its_name_and_uid() -> None:
    assert "(uid " in module.os_user()
