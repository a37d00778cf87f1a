"""``callgate restore SRC``: a backup of ``callgate backup`` put back, onto a fresh install.

Nothing is written before the whole backup is checked: every file against the SHA-256 in its
manifest (a changed or missing one is refused, by name), and the journal it would replace (one
that already holds calls is refused unless ``--force``: a restore must never silently drop calls
taken since). Then the config and secrets go back with their modes and owners (owners by name, as
the fresh host numbers its users; only when run as root), the journal (SQLite: the file, with
stale ``-wal``/``-shm`` removed; PostgreSQL: ``pg_restore``), and copied recordings to where the
journal says they are. Stop the daemon first; start it after (it migrates an older journal).

``--root DIR`` puts everything under DIR instead of / (a chroot, or a folder to inspect). The
manifest is not signed: nothing is written outside the config folder and FastAGI secret of the
command line, or the journal folder and recordings folder of the backed-up config (see
:func:`places`), nor through a symbolic link.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from callgate.tools.backup import (
    DEFAULT_AGI_SECRET,
    DEFAULT_CONFIG,
    MANIFEST,
    RECORDINGS,
    BackupError,
    Progress,
    add_host_files,
    journal_url,
    sha256_file,
)


def find_backup(src: Path) -> Path:
    """The backup folder ``src`` names: itself if it holds a manifest, else its newest backup."""
    if (src / MANIFEST).is_file():
        return src
    found = sorted(p.parent for p in src.glob(f"*/{MANIFEST}"))
    if not found:
        raise BackupError(f"{src}: no {MANIFEST}, and no backup folder with one in it")
    return found[-1]


def _inside(folder: Path, relative: str) -> Path:
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise BackupError(f"{MANIFEST}: {relative!r} points outside the backup: refused")
    return path


def verify(folder: Path, out: TextIO | None = None) -> dict[str, Any]:
    """The manifest, once every file and copied recording matches its SHA-256; otherwise
    :class:`BackupError` naming the first file that does not."""
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
        files = manifest["files"]
        items = manifest["recordings"]["items"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{folder / MANIFEST} is not a callgate backup manifest: {exc}") from None
    for entry in files:
        path = _inside(folder, entry["path"])
        if not path.is_file():
            raise BackupError(f"missing file {entry['path']}: the backup is incomplete")
        if sha256_file(path) != entry["sha256"]:
            raise BackupError(
                f"changed file {entry['path']}: its SHA-256 differs from the manifest's; refused"
            )
    stored = [item for item in items if item.get("stored")]
    progress = Progress("verifying recordings", len(stored), out)
    for item in stored:
        path = _inside(folder.parent / RECORDINGS, item["sha256"])
        if not path.is_file() or sha256_file(path) != item["sha256"]:
            raise BackupError(
                f"changed or missing recording {RECORDINGS}/{item['sha256']} (call "
                f"{item['call_id']}); refused"
            )
        progress.step(path.stat().st_size)
    return manifest


def _rooted(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


def _owner(entry: dict[str, Any]) -> tuple[int, int]:
    """The entry's owner on this host: by name if it exists here, else by number."""
    try:
        uid = pwd.getpwnam(entry["owner"]).pw_uid if entry.get("owner") else entry["uid"]
    except KeyError:
        uid = entry["uid"]
    try:
        gid = grp.getgrnam(entry["group"]).gr_gid if entry.get("group") else entry["gid"]
    except KeyError:
        gid = entry["gid"]
    return int(uid), int(gid)


def _mode(entry: dict[str, Any], allowed: int) -> int:
    # The manifest is not signed: whoever can edit a backup must not get setuid files from root.
    return int(entry["mode"], 8) & allowed


def put_file(source: Path, target: Path, entry: dict[str, Any]) -> None:
    """Copy ``source`` to ``target`` atomically with the entry's mode and (as root) owner.

    The folder may be writable by others (Asterisk's recordings): the partial file gets an
    unpredictable name made with ``O_EXCL``, its mode and owner are set on the open descriptor
    (never through a link planted in its place), and a ``target`` that is a link is refused."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        raise BackupError(f"{target} is a symbolic link: refused")
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".restore", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as data:
            shutil.copyfileobj(data, out)
            os.fchmod(out.fileno(), _mode(entry, 0o777))
            if os.geteuid() == 0:
                os.fchown(out.fileno(), *_owner(entry))
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def put_folder(target: Path, entry: dict[str, Any]) -> None:
    """Make the folder (if missing) with the entry's mode and (as root) owner."""
    target.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        raise BackupError(f"{target} is a symbolic link: refused")
    # setgid kept: a folder's new files then take its group; setuid means nothing on a folder.
    os.chmod(target, _mode(entry, 0o2777))
    if os.geteuid() == 0:
        os.chown(target, *_owner(entry), follow_symlinks=False)


def _placed(root: Path, absolute: str, place: Path, what: str) -> Path:
    """``absolute`` under ``root``, resolved, if it lies in ``place`` (resolved, under ``root``).

    The manifest is not signed: whoever can edit a backup (on the NAS) must not make root write
    anywhere else, e.g. ``/etc/cron.d`` or ``--root``'s ``../..``."""
    target = (root / absolute.lstrip("/")).resolve()
    if not target.is_relative_to(place):
        raise BackupError(
            f"{MANIFEST}: {what} {absolute!r} lies outside {place}, where a backup restores "
            "to: refused, nothing restored"
        )
    return target


@dataclass(frozen=True, slots=True)
class Places:
    """Where one restore may write, each resolved under ``--root``."""

    config: Path  # the config's folder (the command line's, never the manifest's)
    agi_secret: Path  # the FastAGI secret's file
    journal_url: str  # the journal restored into
    recordings: Path | None  # <[recording] asterisk_dir>/callgate of the backed-up config


def _place(root: Path, absolute: Path) -> Path:
    place = (root / str(absolute).lstrip("/")).resolve()
    if not place.is_relative_to(root.resolve()):
        raise BackupError(f"{absolute} lies outside {root} (a link?): refused, nothing restored")
    return place


def places(
    folder: Path,
    manifest: dict[str, Any],
    root: Path,
    sources: tuple[Path, Path],
    override: str | None,
) -> Places:
    """Where the backup's files go; :class:`BackupError` naming the first entry elsewhere. The
    config folder and FastAGI secret come from the command line (as ``callgate backup`` takes
    them); the journal's folder and the recordings' from the backed-up config (checked against
    the manifest), as the daemon will find them once it is restored."""
    from callgate.config import ConfigError, load_settings
    from callgate.storage import dumps
    from callgate.storage.database import parse_url

    config, agi_secret = (Path(os.path.abspath(p)) for p in sources)
    config_dir = _place(root, config.parent)
    for entry in manifest.get("folders", []):
        _placed(root, entry["restore_to"], config_dir, "folder")
    secret_file = _place(root, agi_secret)
    for entry in manifest["files"][1:]:
        _config_target(root, entry, Places(config_dir, secret_file, "", None))
    backed_up = next((e for e in manifest["files"][1:] if e["restore_to"] == str(config)), None)
    copy = None if backed_up is None else _inside(folder, backed_up["path"])
    journal = manifest["journal"]
    url = override or ("" if copy is None else journal_url(copy, None))
    if not url:
        raise BackupError(f"no {config} in the backup: give the journal with --journal URL")
    if journal["kind"] == "sqlite" and not override:
        # The file the backed-up config names, in the folder the daemon will use.
        file = dumps.sqlite_path(parse_url(url))
        place = _place(root, Path(os.path.abspath(file)).parent)
        url = f"sqlite+aiosqlite:///{_placed(root, journal['source'], place, 'journal')}"
    recordings = None
    if any(item.get("stored") for item in manifest["recordings"]["items"]):
        if copy is None:
            raise BackupError(f"no {config} in the backup: its [recording] asterisk_dir unknown")
        try:
            asterisk_dir = load_settings(copy).recording.asterisk_dir
        except ConfigError as exc:
            raise BackupError(str(exc)) from None
        # Where callgate keeps them (asterisk/recordings.py): never a folder cron or the like read.
        recordings = _place(root, Path(asterisk_dir) / "callgate")
        for item in manifest["recordings"]["items"]:
            if item.get("stored"):
                _placed(root, item["path"], recordings, f"recording of call {item['call_id']}")
    return Places(config_dir, secret_file, url, recordings)


def _config_target(root: Path, entry: dict[str, Any], where: Places) -> Path:
    target = (root / str(entry["restore_to"]).lstrip("/")).resolve()
    if target == where.agi_secret:
        return target
    return _placed(root, entry["restore_to"], where.config, "file")


def restore(
    src: Path,
    *,
    root: Path = Path("/"),
    journal: str | None = None,
    force: bool = False,
    out: TextIO | None = None,
    config: Path = Path(DEFAULT_CONFIG),
    agi_secret: Path = Path(DEFAULT_AGI_SECRET),
) -> dict[str, Any]:
    """Check and restore a backup; returns its manifest. :class:`BackupError` or
    :class:`~callgate.ports.JournalError` (nothing written) if it cannot."""
    from callgate.storage import dumps
    from callgate.storage.database import parse_url

    def say(line: str) -> None:
        if out is not None:
            print(line, file=out, flush=True)

    folder = find_backup(src)
    say(f"checking {folder} ...")
    manifest = verify(folder, out)
    where = places(folder, manifest, root, (config, agi_secret), journal)
    kind = manifest["journal"]["kind"]
    target = parse_url(where.journal_url)
    if target.is_sqlite != (kind == "sqlite"):
        raise BackupError(f"the backup holds a {kind} journal; {target.shown} is not one")
    if target.is_sqlite:
        calls = dumps.sqlite_calls(dumps.sqlite_path(target))
    else:
        calls = dumps.calls_and_recordings(target)[0]
    if calls and not force:
        raise BackupError(
            f"journal {target.shown} already holds {calls} calls: not overwritten "
            "(stop the daemon and give --force to replace it with the backup's)"
        )

    journal_entry, *config_entries = manifest["files"]
    for entry in manifest.get("folders", []):
        put_folder(_placed(root, entry["restore_to"], where.config, "folder"), entry)
    for entry in config_entries:
        put_file(_inside(folder, entry["path"]), _config_target(root, entry, where), entry)
    say(f"config: {len(config_entries)} files restored with their modes and owners")
    dump = _inside(folder, journal_entry["path"])
    if target.is_sqlite:
        file = dumps.sqlite_path(target)
        for stale in (file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
            stale.unlink(missing_ok=True)
        put_file(dump, file, journal_entry)
    else:
        dumps.restore_postgres(target, dump)
    say(f"journal: {manifest['journal']['calls']} calls restored to {target.shown}")
    _recordings(folder, manifest, root, where.recordings, say, out)
    return manifest


def _recordings(
    folder: Path,
    manifest: dict[str, Any],
    root: Path,
    place: Path | None,
    say: Any,
    out: TextIO | None,
) -> None:
    items = manifest["recordings"]["items"]
    stored = [item for item in items if item.get("stored")]
    progress = Progress("recordings", len(stored), out)
    for item in stored:
        assert place is not None  # places() found it, as there are stored recordings
        target = _placed(root, item["path"], place, f"recording of call {item['call_id']}")
        source = folder.parent / RECORDINGS / item["sha256"]
        if not (target.is_file() and sha256_file(target) == item["sha256"]):
            # Without a recorded owner (the file was gone when it was backed up again): as
            # Asterisk writes them (asterisk:asterisk 0640, see "Installing under systemd").
            default = {"mode": "0640", "owner": "asterisk", "group": "asterisk", "uid": 0, "gid": 0}
            entry = default | item.get("owner", {})
            put_file(source, target, entry)
        progress.step(source.stat().st_size)
    elsewhere = [i for i in items if not i.get("stored")]
    missing = sum(not _rooted(root, i["path"]).is_file() for i in elsewhere)
    say(
        f"recordings: {len(stored)} restored from the backup, {len(elsewhere)} by reference"
        f" ({missing} of them not at their path)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "src", type=Path, help="a backup folder, or DEST of callgate backup (newest)"
    )
    parser.add_argument("--root", type=Path, default=Path("/"), help="restore under this folder")
    parser.add_argument("--journal", metavar="URL", help="journal to restore into")
    add_host_files(parser, "only its folder takes config files")
    parser.add_argument(
        "--force", action="store_true", help="replace a journal that already holds calls"
    )


def run(args: argparse.Namespace) -> int:
    from callgate.ports import JournalError

    try:
        manifest = restore(
            args.src,
            root=args.root,
            journal=args.journal,
            force=args.force,
            out=sys.stderr,
            config=args.config,
            agi_secret=args.agi_secret,
        )
    except (BackupError, JournalError, OSError) as exc:
        print(f"callgate restore: GAGAL (failed): {exc}", file=sys.stderr)
        return 1
    print(
        f"Pemulihan selesai (restore done): {manifest['journal']['calls']} panggilan (calls);"
        " start the daemon now"
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="callgate restore",
        description="Check a backup's manifest, then restore config, secrets, journal, recordings.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
