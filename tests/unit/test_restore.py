"""callgate restore must write only where a backup belongs, never through a planted link: the
manifest is not signed, and Asterisk's user can write in the recordings folder."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from callgate.tools.backup import BackupError
from callgate.tools.restore import put_file


def test_put_file_does_not_write_through_a_planted_partial_link(tmp_path: Path) -> None:
    victim = tmp_path / "shadow"
    victim.write_text("root:secret\n")
    victim.chmod(0o600)
    folder = tmp_path / "monitor"
    folder.mkdir()
    (folder / ".c1.wav.restore").symlink_to(victim)
    source = tmp_path / "c1.wav"
    source.write_bytes(b"RIFF")

    put_file(source, folder / "c1.wav", {"mode": "4755", "uid": 0, "gid": 0})

    assert victim.read_text() == "root:secret\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert (folder / "c1.wav").read_bytes() == b"RIFF"
    # Never setuid from a manifest anyone who can edit the backup can write.
    assert stat.S_IMODE((folder / "c1.wav").stat().st_mode) == 0o755
    assert sorted(p.name for p in folder.iterdir()) == [".c1.wav.restore", "c1.wav"]


def test_put_file_refuses_a_target_that_is_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "shadow"
    victim.write_text("root:secret\n")
    (tmp_path / "c1.wav").symlink_to(victim)
    source = tmp_path / "source"
    source.write_bytes(b"RIFF")

    with pytest.raises(BackupError, match="symbolic link"):
        put_file(source, tmp_path / "c1.wav", {"mode": "0640", "uid": 0, "gid": 0})
    assert victim.read_text() == "root:secret\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c1.wav", "shadow", "source"]
