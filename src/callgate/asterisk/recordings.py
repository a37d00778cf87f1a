"""Sealing a call's recording once MixMonitor has finished it.

A sealed recording is final: nobody but its owner can change it, and its SHA-256 is journaled.
In production the file belongs to Asterisk (user ``asterisk``) and callgate reads it as a member
of Asterisk's group, so callgate cannot (and must not try to) chmod it: Asterisk's ``UMask=0027``
makes the file 0640, which is already sealed. The rule, decided on ``st_uid == os.geteuid()`` so
that it is the same as root in tests and as ``callgate`` in production:

- ours: chmod 0440 (nobody, callgate included, alters evidence), then hash: sealed;
- someone else's, not group- or world-writable: hash: sealed;
- someone else's and group- or world-writable: hash (the evidence is kept) but not sealed, and
  :attr:`RecordingInfo.unsealed` says why and what fixes it;
- missing, or unreadable: a :class:`RecordingFailure` whose reason names the fix.

Every function here blocks on the file system: call them in a thread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from callgate.ports import RecordingInfo

#: Read-only for owner and group: once sealed, not even callgate may alter the evidence.
SEALED_MODE = 0o440


@dataclass(frozen=True)
class RecordingFailure:
    """No usable recording: the file is missing or callgate cannot read it."""

    call_id: str
    reason: str
    """What went wrong and what fixes it, for the ALARM line and the journal."""


def recording_in(call_id: str, folder: Path, name: str) -> Path | RecordingFailure:
    """``folder / name`` if it resolves to a file inside ``folder``, ``..`` and symlinks (of
    folders and of the file) followed; else a :class:`RecordingFailure` naming it.

    ``name`` comes from a channel variable or from queue_log, which a dialplan or a line
    callgate did not write can fill: no such name may make callgate hash (and chmod, when the
    file is callgate's) a file elsewhere on the machine. Only the name is checked, so call it
    right before sealing."""
    refused = RecordingFailure(
        call_id,
        f"recording path {name!r} is outside the recordings folder {folder}: refused, not hashed",
    )
    try:
        root = folder.resolve()
        path = folder / name
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        return refused
    if resolved == root or not resolved.is_relative_to(root):
        return refused
    return path


def seal_when_stable(
    call_id: str, path: Path, *, settle: float = 0.5, limit: float = 15.0
) -> RecordingInfo | RecordingFailure:
    """Wait until MixMonitor has stopped writing ``path`` (its size holds for ``settle`` s),
    then seal it; gives up waiting after ``limit`` s and seals what is there."""
    deadline = time.monotonic() + limit
    last = -1
    while time.monotonic() < deadline:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = -1
        except OSError as exc:
            return RecordingFailure(call_id, _unreadable(path, exc))
        if size >= 0 and size == last:
            break
        last = size
        time.sleep(settle)
    return seal(call_id, path)


def seal(call_id: str, path: Path) -> RecordingInfo | RecordingFailure:
    """Seal a finished recording (see the module's rule); never raises ``OSError``."""
    try:
        # O_NOFOLLOW: the file hashed and chmod-ed is the one at the path, not a link's target;
        # everything after this works on the one open file, so nothing can swap it meanwhile.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return RecordingFailure(call_id, f"file {path} missing after the call")
    except OSError as exc:
        return RecordingFailure(call_id, _unreadable(path, exc))
    try:
        data = os.fdopen(fd, "rb")
    except OSError as exc:  # e.g. a folder: fdopen leaves the descriptor open then
        os.close(fd)
        return RecordingFailure(call_id, _unreadable(path, exc))
    try:
        with data:
            return _seal_open(call_id, path, data)
    except OSError as exc:
        return RecordingFailure(call_id, _unreadable(path, exc))


def _seal_open(call_id: str, path: Path, data: BinaryIO) -> RecordingInfo | RecordingFailure:
    info = os.fstat(data.fileno())
    if not stat.S_ISREG(info.st_mode):
        return RecordingFailure(call_id, f"{path} is not a regular file")
    unsealed = None
    if info.st_uid == os.geteuid():
        os.fchmod(data.fileno(), SEALED_MODE)
    elif info.st_mode & 0o022:
        unsealed = _why_unsealed(info)
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: data.read(1 << 16), b""):
        digest.update(chunk)
        size += len(chunk)
    data.seek(0)
    return RecordingInfo(
        call_id, path, digest.hexdigest(), size, _duration(path, data, size), unsealed
    )


def _why_unsealed(info: os.stat_result) -> str:
    writable = {
        0o020: "group-writable",
        0o002: "world-writable",
        0o022: "group- and world-writable",
    }
    mode = stat.S_IMODE(info.st_mode)
    return (
        f"{writable[mode & 0o022]} (mode {mode:04o}) and owned by uid {info.st_uid},"
        f" not callgate (uid {os.geteuid()}): run Asterisk with UMask=0027"
    )


def _unreadable(path: Path, exc: OSError) -> str:
    text = f"cannot read {path}: {exc.strerror or exc}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        # The one cause seen in production: callgate is not in Asterisk's group.
        return f"{text}; callgate cannot read it: add callgate to Asterisk's group"
    return text


def _duration(path: Path, data: BinaryIO, size: int) -> float:
    """Seconds of audio: from the WAV header, or from the size of 8 kHz raw formats."""
    if path.suffix == ".wav":
        try:
            with wave.open(data, "rb") as wav:
                return wav.getnframes() / float(wav.getframerate())
        except (wave.Error, EOFError):
            return 0.0
    bytes_per_second = {".gsm": 1650.0, ".ulaw": 8000.0, ".alaw": 8000.0}
    return size / bytes_per_second.get(path.suffix, 8000.0)


def folder_problem(asterisk_dir: Path) -> str | None:
    """What keeps callgate from sealing and deleting recordings in ``<asterisk_dir>/callgate``
    (the dialplan's folder), with the fix; None when it can read, write and traverse it."""
    folder = asterisk_dir / "callgate"
    if os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return None
    return (
        f"callgate cannot read, write and traverse {folder}: recordings will not be sealed or"
        " deleted; create it asterisk:asterisk mode 2770 and add callgate to Asterisk's group"
        " (SupplementaryGroups=asterisk)"
    )
