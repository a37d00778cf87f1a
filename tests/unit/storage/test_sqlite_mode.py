"""The SQLite journal, its -wal and -shm are 0640 whatever the umask: they hold callers'
numbers, and a daemon started by hand (umask 022) must not leave them readable by every user."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from callgate.storage.database import SQLITE_MODE, prepare_sqlite_file
from callgate.storage.journal import Journal


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask of a shell (022): files follow 0644 unless callgate says otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
async def test_a_new_journal_and_its_wal_and_shm_are_0640_under_umask_022(tmp_path: Path) -> None:
    file = tmp_path / "state" / "journal.db"
    journal = await Journal.open(f"sqlite+aiosqlite:///{file}")
    try:
        await journal.recent_calls(1)  # a connection is open: the -wal and -shm exist
        files = [file, file.with_name("journal.db-wal"), file.with_name("journal.db-shm")]
        assert {p.name: oct(_mode(p)) for p in files} == {p.name: oct(SQLITE_MODE) for p in files}
    finally:
        await journal.close()


@pytest.mark.usefixtures("open_umask")
def test_an_existing_journal_readable_by_all_is_narrowed_and_a_narrower_one_kept(
    tmp_path: Path,
) -> None:
    wide, wal = tmp_path / "wide.db", tmp_path / "wide.db-wal"
    for path in (wide, wal):
        path.write_bytes(b"")
        path.chmod(0o666)
    narrow = tmp_path / "narrow.db"
    narrow.write_bytes(b"")
    narrow.chmod(0o600)
    assert prepare_sqlite_file(wide) == []
    assert prepare_sqlite_file(narrow) == []
    assert (_mode(wide), _mode(wal), _mode(narrow)) == (0o640, 0o640, 0o600)
