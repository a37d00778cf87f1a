"""Records a journal writer still held at a stop, kept on disk until the next start writes them.

While the database is away the writers (:mod:`callgate.backlog`) keep their records in memory.
A clean stop during an outage used to lose them; now each writer's :meth:`Spool.save` writes
what it still holds, oldest first (the record being retried included), to
``<[storage] spool_dir>/<writer>.jsonl``: one JSON object per line, written to a temporary file,
fsynced and renamed over the old one, so a crash leaves the old file or the new one, never half
of one. At the next start :meth:`Spool.load` puts them back at the head of the writer's queue,
before anything new, and the file is removed only once every one of them is written
(:meth:`Spool.done` counts them): a process killed before that finds the file again, and a
process stopped cleanly before that saves what is still unwritten over it.

The spool holds what the writer's queue holds, so ``[storage] max_backlog`` bounds it too.

What can go wrong is said, never silent: a file with a line that cannot be read (edited by
hand, written by another version) is kept aside as ``<file>.bad-<UTC time>`` with an ALARM
naming it, and its readable records are replayed; a spool that cannot be written (disk full,
folder not writable) is an ALARM with the count of records lost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
#: One record as a JSON object (what :func:`json.loads` gives for a line).
JsonObject = dict[str, Any]
#: Mode of a spool file: the records carry callers' numbers.
FILE_MODE = 0o640
#: Mode of the spool folder when callgate creates it.
FOLDER_MODE = 0o750


def prepare_folder(folder: Path) -> str | None:
    """Create ``folder`` (mode 0750) if missing; what keeps callgate from spooling in it (with
    the fix), or None when it can write there."""
    try:
        folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {folder} ({exc.strerror}): set [storage] spool_dir to a folder"
    if not folder.is_dir() or not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return (
            f"callgate cannot read, write and traverse {folder}: set [storage] spool_dir to a"
            " folder it owns (the unit's StateDirectory)"
        )
    return None


class Spool(Generic[T]):
    """One writer's spool file; ``encode``/``decode`` turn its records into JSON objects and
    back (``decode`` raises ``ValueError``, ``KeyError`` or ``TypeError`` on what it cannot
    read). ``folder`` None: nothing is spooled (records still held at a stop are lost, with
    an ALARM)."""

    def __init__(
        self,
        folder: Path | None,
        writer: str,
        encode: Callable[[T], JsonObject],
        decode: Callable[[JsonObject], T],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.writer = writer
        self.path = None if folder is None else folder / f"{writer}.jsonl"
        self.encode = encode
        self.decode = decode
        self.clock = clock
        self.loaded = 0
        "Records :meth:`load` gave back at start."
        self._unwritten = 0  # of those, not yet reported done

    # -- at start --------------------------------------------------------------------------

    def load(self) -> list[T]:
        """The records the last stop spooled, oldest first. Report each one written (or
        refused for good) with :meth:`done`: the file goes once all are."""
        path = self.path
        if path is None:
            return []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            self._set_aside(path, 0, str(exc))
            return []
        records: list[T] = []
        bad, error = 0, ""
        for line in lines:
            if not line.strip():
                continue
            try:
                records.append(self.decode(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                bad += 1
                error = error or f"{type(exc).__name__}: {exc}"
        if bad:
            # The file as it was is kept for a person to read; the spool keeps what can be
            # written, with the same rule as any spool (removed once written).
            self._set_aside(path, len(records), error)
            failure = self._write(records) if records else None
            if failure is not None:
                # Written all the same from memory; only a kill before then would lose them.
                log.error(
                    "ALARM: readable spooled records not kept on disk again",
                    extra={"writer": self.writer, "records": len(records), "error": failure},
                )
        self.loaded = self._unwritten = len(records)
        if records:
            log.info(
                "spooled records found; written before new ones",
                extra={"writer": self.writer, "records": len(records), "file": str(path)},
            )
        return records

    def done(self, count: int = 1) -> None:
        """``count`` loaded records were written (or refused for good); the file goes after
        the last one."""
        if self._unwritten <= 0:
            return
        self._unwritten = max(0, self._unwritten - count)
        if self._unwritten == 0 and self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            log.info(
                f"spool replayed: {self.loaded} records",
                extra={"writer": self.writer, "records": self.loaded},
            )

    # -- at stop ---------------------------------------------------------------------------

    def save(self, records: Sequence[T]) -> bool:
        """Keep ``records`` (all the writer still holds, oldest first) for the next start, in
        place of the file loaded at start; True when they are safe on disk (or there are none).
        """
        self._unwritten = 0  # the loaded ones still unwritten are among ``records``
        if not records:
            if self.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            return True
        failure = "no [storage] spool_dir" if self.path is None else self._write(records)
        if failure is None:
            log.warning(
                "records not written at stop (database unavailable); spooled for the next start",
                extra={"writer": self.writer, "records": len(records), "file": str(self.path)},
            )
            return True
        log.error(
            "ALARM: records not written at stop (database unavailable) and not spooled; lost",
            extra={
                "writer": self.writer,
                "records": len(records),
                "file": str(self.path),
                "error": failure,
            },
        )
        return False

    def _write(self, records: Sequence[T]) -> str | None:
        """Replace the file with ``records``, atomically; what failed, or None."""
        assert self.path is not None
        lines = []
        for record in records:
            try:
                lines.append(json.dumps(self.encode(record), separators=(",", ":")) + "\n")
            except (TypeError, ValueError) as exc:  # a bug: that record cannot be kept
                log.error(
                    "record not spooled: not JSON",
                    extra={"writer": self.writer, "error": str(exc)},
                )
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                os.fchmod(fd, FILE_MODE)  # whatever the umask
                out.writelines(lines)
                out.flush()
                os.fsync(fd)
            os.replace(temporary, self.path)
            _sync_folder(self.path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            return f"{type(exc).__name__}: {exc}"
        return None

    def _set_aside(self, path: Path, readable: int, error: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        aside = path.with_name(f"{path.name}.bad-{stamp}")
        try:
            os.replace(path, aside)
        except OSError as exc:
            aside, error = path, f"{error}; not renamed: {exc}"
        log.error(
            "ALARM: spool file not readable; kept aside, its readable records written",
            extra={"writer": self.writer, "file": str(aside), "readable": readable, "error": error},
        )


def _sync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
