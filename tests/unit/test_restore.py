"""callgate restore must write only where a backup belongs, never through a planted link: the
manifest is not signed, and Asterisk's user can write in the recordings folder."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from callgate.tools.backup import MANIFEST, BackupError, take_backup
from callgate.tools.restore import put_file, restore
from tests.unit.test_backup import Site


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "host")


def _edited_backup(site: Site, tmp_path: Path, where: str, value: str) -> Path:
    """A whole backup whose manifest someone changed: ``where`` says which entry now goes to
    ``value`` (the manifest is not signed; the files' hashes still match)."""
    site.add_calls("c1")
    folder = take_backup(tmp_path / "b", site.sources(), copy_recordings=True, out=None)
    manifest = json.loads((folder / MANIFEST).read_text())
    if where == "file":
        manifest["files"][-1]["restore_to"] = value
    elif where == "folder":
        manifest["folders"][0]["restore_to"] = value
    elif where == "journal":
        manifest["journal"]["source"] = value
    else:
        manifest["recordings"]["items"][0]["path"] = value
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize(
    ("where", "value", "named"),
    [
        ("file", "/../../../ESCAPED", "file '/../../../ESCAPED'"),
        ("file", "/etc/cron.d/callgate", "file '/etc/cron.d/callgate'"),
        ("folder", "/etc/cron.d", "folder '/etc/cron.d'"),
        ("journal", "/etc/cron.d/journal.db", "journal '/etc/cron.d/journal.db'"),
        ("recording", "/etc/cron.d/c1.wav", "recording of call c1 '/etc/cron.d/c1.wav'"),
    ],
)
def test_restore_refuses_an_entry_outside_the_places_a_backup_restores_to(
    site: Site, tmp_path: Path, where: str, value: str, named: str
) -> None:
    folder = _edited_backup(site, tmp_path, where, value)
    fresh = tmp_path / "x" / "fresh"

    with pytest.raises(BackupError, match=f"{named} lies outside .*nothing restored"):
        restore(folder, root=fresh, out=None, **site.places())
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "ESCAPED").exists()


def test_a_link_in_the_root_does_not_lead_a_restore_out_of_it(site: Site, tmp_path: Path) -> None:
    site.add_calls("c1")
    folder = take_backup(tmp_path / "b", site.sources(), copy_recordings=True, out=None)
    fresh = tmp_path / "fresh"
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = fresh / str(site.recordings.parent).lstrip("/")
    planted.parent.mkdir(parents=True)
    planted.symlink_to(outside)

    with pytest.raises(BackupError, match="outside"):
        restore(folder, root=fresh, out=None, **site.places())
    assert list(outside.iterdir()) == []


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
