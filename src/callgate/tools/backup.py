"""``callgate backup DEST``: the journal, the config and secrets, and the recordings, with a
manifest of every file's SHA-256 (``callgate restore`` checks it before it writes anything).

Layout of DEST (mode 0700: it holds secrets and callers' numbers)::

    DEST/recordings/<sha256>     recordings copied by --recordings copy, named by their hash and
                                 shared by every backup: a later backup copies only new ones
    DEST/<UTC time>/             one backup (0700)
        manifest.json            every file below with its SHA-256, size, mode and owner, the
                                 journal's kind and calls, and every recording the journal holds
        journal.sqlite3          the SQLite journal (online backup API) or
        journal.pgdump           the PostgreSQL journal (pg_dump, custom format)
        files/etc/callgate/...   the config folder (callgate.toml, secrets.env, ...) and the
        files/etc/asterisk/...   FastAGI secret Asterisk reads, each under its absolute path

Recordings are by default kept by reference: the manifest lists each with the hash the journal
sealed at the end of its call, so a restore (or an auditor) can check the files where they are.
"""

from __future__ import annotations

import argparse
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from callgate import __version__

if TYPE_CHECKING:
    from callgate.storage.database import JournalUrl

MANIFEST = "manifest.json"
FORMAT = 1
RECORDINGS = "recordings"
FILES = "files"
DEFAULT_CONFIG = "/etc/callgate/callgate.toml"
DEFAULT_AGI_SECRET = "/etc/asterisk/callgate-agi-secret.conf"  # noqa: S105 - a path
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore cannot go on; the message names the file or key."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Progress:
    """Progress of long work on stderr: at most one line every ``every`` seconds, and the last."""

    def __init__(self, what: str, total: int, out: TextIO | None, every: float = 2.0) -> None:
        self.what, self.total, self.out, self.every = what, total, out, every
        self.done = 0
        self.bytes = 0
        self._shown = time.monotonic()

    def step(self, size: int) -> None:
        self.done += 1
        self.bytes += size
        now = time.monotonic()
        if self.out is not None and (now - self._shown >= self.every or self.done == self.total):
            self._shown = now
            print(
                f"{self.what}: {self.done}/{self.total} ({self.bytes / 1e6:.1f} MB)",
                file=self.out,
                flush=True,
            )


def _name(lookup: Callable[[int], Any], number: int) -> str | None:
    try:
        return str(lookup(number)[0])
    except KeyError:
        return None


def file_entry_owner(path: Path) -> dict[str, Any]:
    """A file's mode and owner, as a manifest keeps them."""
    info = path.stat()
    return {
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "uid": info.st_uid,
        "gid": info.st_gid,
        "owner": _name(pwd.getpwuid, info.st_uid),
        "group": _name(grp.getgrgid, info.st_gid),
    }


def file_entry(path: Path, stored: str, restore_to: str) -> dict[str, Any]:
    """A manifest entry: ``stored`` relative to the backup, where it goes back, hash and owner."""
    return {
        "path": stored,
        "restore_to": restore_to,
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
        **file_entry_owner(path),
    }


def copy_kept(source: Path, dest: Path) -> None:
    """Copy a file with its mode (``dest``'s folders made 0700), never following a link."""
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(source, dest, follow_symlinks=False)
    os.chmod(dest, stat.S_IMODE(source.stat().st_mode))


def _config_files(folder: Path, agi_secret: Path | None) -> Iterable[Path]:
    if not folder.is_dir():
        raise BackupError(f"config folder {folder} does not exist")
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path
    if agi_secret is not None and agi_secret.is_file():
        yield agi_secret


def store_recording(
    source: Path, sha256: str, store: Path
) -> tuple[str, int]:  # (what happened, bytes copied)
    """Copy one recording into the store under its journal hash, checking the hash as it copies:
    ``"kept"`` if the store has it already (incremental), ``"copied"``, ``"missing"`` or
    ``"changed"`` (the file no longer matches the journal; not stored, the manifest says so)."""
    target = store / sha256
    if target.is_file():
        return "kept", 0
    if not source.is_file():
        return "missing", 0
    partial = store / f".{sha256}.part"
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as data, partial.open("wb") as out:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if digest.hexdigest() != sha256:
        partial.unlink()
        return "changed", 0
    os.chmod(partial, 0o400)
    partial.replace(target)
    return "copied", size


@dataclass(frozen=True, slots=True)
class Sources:
    """What a backup reads: the config file and folder, the FastAGI secret, the journal URL."""

    config: Path
    agi_secret: Path | None
    journal_url: str


def env_file_values(path: Path) -> dict[str, str]:
    """The variables of a systemd ``EnvironmentFile`` (``KEY=value``, quotes allowed); none when
    it does not exist."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() and not name.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values.setdefault(name.strip(), value)  # the first wins, as env_file_value read it
    return values


def env_file_value(path: Path, key: str) -> str | None:
    """``key``'s value in a systemd ``EnvironmentFile`` (``KEY=value``, quotes allowed)."""
    return env_file_values(path).get(key)


def journal_url(config: Path, override: str | None) -> str:
    """The journal's URL as the daemon would get it: ``--journal``, else the environment's
    ``CALLGATE_STORAGE__URL``, else the one in ``secrets.env`` beside the config (the unit's
    EnvironmentFile), else the config's ``[storage] url``."""
    if override:
        return override
    key = "CALLGATE_STORAGE__URL"
    from_env = os.environ.get(key) or env_file_value(config.parent / "secrets.env", key)
    if from_env:
        return from_env
    from callgate.config import ConfigError, load_settings

    try:
        return load_settings(config).storage.url.get_secret_value()
    except ConfigError as exc:
        raise BackupError(str(exc)) from None


def take_backup(
    dest: Path,
    sources: Sources,
    *,
    copy_recordings: bool,
    out: TextIO | None = None,
    now: datetime | None = None,
) -> Path:
    """Take one backup into ``dest``; returns its folder. :class:`BackupError` or
    :class:`~callgate.ports.JournalError` (secrets hidden) if it cannot, and then no folder of
    it is left (recordings it stored stay: they are whole, named by their hash)."""
    from callgate.storage.database import parse_url

    journal = parse_url(sources.journal_url)
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    folder = dest / stamp
    folder.mkdir(mode=0o700)
    try:
        manifest = _fill(folder, journal, sources, copy_recordings=copy_recordings, out=out)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    manifest |= {"format": FORMAT, "created": stamp, "callgate": __version__}
    partial = folder / f".{MANIFEST}.part"
    partial.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.chmod(partial, 0o600)
    # Last and atomic: a folder without a manifest is an unfinished backup, never restored.
    partial.replace(folder / MANIFEST)
    return folder


def _fill(
    folder: Path,
    journal: JournalUrl,
    sources: Sources,
    *,
    copy_recordings: bool,
    out: TextIO | None,
) -> dict[str, Any]:
    from callgate.storage import dumps
    from callgate.storage.database import parse_url

    def say(line: str) -> None:
        if out is not None:
            print(line, file=out, flush=True)

    if journal.is_sqlite:
        source = dumps.sqlite_path(journal)
        say(f"journal: online backup of {source} ...")
        dumps.copy_sqlite(source, folder / "journal.sqlite3")
        kind, name, restore_to = "sqlite", "journal.sqlite3", str(source.resolve())
        # What the copy holds, read from the copy: the manifest says what a restore brings.
        copy = parse_url(f"sqlite+aiosqlite:///{(folder / name).resolve()}")
        calls, recordings = dumps.calls_and_recordings(copy)
    else:
        say(f"journal: pg_dump of {journal.shown} ...")
        kind, name, restore_to = "postgresql", "journal.pgdump", journal.shown
        calls, recordings = dumps.dump_postgres(journal, folder / name)
    os.chmod(folder / name, 0o600)
    say(f"journal: {calls} calls, {(folder / name).stat().st_size / 1e6:.1f} MB")
    entry = file_entry(folder / name, name, restore_to)
    if kind == "sqlite":
        # The journal's own mode and owner, not the copy's: a restore gives them back.
        entry |= file_entry_owner(source)
    files = [entry]

    config = sources.config.parent
    if sources.agi_secret is not None and not sources.agi_secret.is_file():
        say(f"config: WARNING no FastAGI secret at {sources.agi_secret}: not in this backup")
    for path in _config_files(config, sources.agi_secret):
        absolute = path.resolve()
        stored = f"{FILES}{absolute}"
        copy_kept(path, folder / stored)
        entry = file_entry(path, stored, str(absolute))
        entry["sha256"] = sha256_file(folder / stored)
        files.append(entry)
    say(f"config: {len(files) - 1} files from {config}")
    # The config folder's own mode and owner too (/etc/callgate: root:callgate 0750).
    folders = [
        {"restore_to": str(path.resolve()), **file_entry_owner(path)}
        for path in (config, *sorted(p for p in config.rglob("*") if p.is_dir()))
    ]
    items = _recordings(folder.parent, recordings, copy_recordings=copy_recordings, out=out)
    return {
        "journal": {"kind": kind, "file": name, "calls": calls, "source": restore_to},
        "files": files,
        "folders": folders,
        "recordings": {"mode": "copy" if copy_recordings else "reference", "items": items},
    }


def _recordings(
    dest: Path, recordings: list[Any], *, copy_recordings: bool, out: TextIO | None
) -> list[dict[str, Any]]:
    items = []
    counts: dict[str, int] = {}
    store = dest / RECORDINGS
    if copy_recordings:
        store.mkdir(exist_ok=True, mode=0o700)
    progress = Progress("recordings", len(recordings), out)
    for rec in recordings:
        item = {"call_id": rec.call_id, "path": rec.path, "sha256": rec.sha256}
        if copy_recordings:
            result, size = store_recording(Path(rec.path), rec.sha256, store)
            counts[result] = counts.get(result, 0) + 1
            item["stored"] = result in ("kept", "copied")
            if item["stored"] and Path(rec.path).is_file():
                # Its mode and owner (Asterisk's), for the restore to give back.
                item["owner"] = file_entry_owner(Path(rec.path))
            if not item["stored"]:
                item["problem"] = result
            progress.step(size)
        items.append(item)
    if out is not None:
        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        how = f"copied to {store}: {summary or 'none'}" if copy_recordings else "by reference"
        print(f"recordings: {len(recordings)} in the journal, {how}", file=out, flush=True)
    return items


def add_host_files(parser: argparse.ArgumentParser, config_help: str) -> None:
    """``-c/--config`` and ``--agi-secret``: the host's files a backup saves and a restore puts
    back (the same defaults on both sides)."""
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=Path(DEFAULT_CONFIG),
        help=f"the daemon's config; {config_help} (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--agi-secret",
        type=Path,
        default=Path(DEFAULT_AGI_SECRET),
        help=f"Asterisk's FastAGI secret file (default {DEFAULT_AGI_SECRET})",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dest", type=Path, help="backup folder (made 0700); each run adds one")
    add_host_files(parser, "its whole folder is saved")
    parser.add_argument(
        "--journal",
        metavar="URL",
        help="journal URL (default: as the daemon gets it from the config)",
    )
    parser.add_argument(
        "--recordings",
        choices=("reference", "copy"),
        default="reference",
        help="list recordings with their hashes, or copy new ones too",
    )


def run(args: argparse.Namespace) -> int:
    from callgate.ports import JournalError

    try:
        url = journal_url(args.config, args.journal)
        folder = take_backup(
            args.dest,
            Sources(args.config, args.agi_secret, url),
            copy_recordings=args.recordings == "copy",
            out=sys.stderr,
        )
    except (BackupError, JournalError, OSError) as exc:
        print(f"callgate backup: GAGAL (failed): {exc}", file=sys.stderr)
        return 1
    print(f"Cadangan selesai (backup done): {folder}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="callgate backup",
        description="Back up the journal, config and secrets, and recordings (by hash or copied).",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
