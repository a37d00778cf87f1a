"""Journals the calls the dialplan's fallback queue took, from Asterisk's queue_log.

While callgate is away, Stasis() fails and the dialplan sends 112 callers to app_queue; when
callgate stops it hands its waiting callers there too. callgate never sees how those calls end,
so an inquiry after an outage would find them in no journal and no report, their recordings
neither hashed nor expired. This service reads queue_log at start and every ``scan_seconds``,
journals each call that is over (outcome FALLBACK, the call-taker who answered, start, answer
and end), and seals its recording (``callgate/<call id>.wav``) like any other call's.

Everything it writes is idempotent: a file read again, or read after a restart of callgate,
changes nothing. The file is followed from where the last read ended; a smaller file or a new
inode (logrotate) starts again from its beginning, after the rest of the rotated file
(``<name>.1``) if it is still there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from callgate.asterisk.queue_log import FallbackCall, FallbackQueueLog, Refused
from callgate.asterisk.recordings import (
    RecordingFailure,
    recording_in,
    seal,
    seal_when_stable,
)
from callgate.ports import JournalError, RecordingInfo
from callgate.storage.fallback_calls import FallbackCallFacts, FallbackWrite
from callgate.storage.journal import Journal

log = logging.getLogger(__name__)

#: At the first read (start of callgate), at most this much of the end of the file is read:
#: a queue_log of years must not stall the start. Calls older than that stay as they are.
FIRST_READ_BYTES = 64 * 1024 * 1024
#: Bytes read at a time; a pass reads on until the end of the file.
CHUNK_BYTES = 4 * 1024 * 1024
#: What an operator does about a queue_log callgate cannot read.
UNREADABLE_FIX = (
    "callgate reads it as a member of group asterisk: add SupplementaryGroups=asterisk to the "
    "unit, keep Asterisk's umask 0027 (queue_log 0640 asterisk:asterisk), and check [fallback] "
    "queue_log and logger.conf queue_log_name"
)


#: Refused lines logged one by one in a pass; the rest are counted in one more WARNING.
MAX_REFUSED_WARNINGS = 20

#: A recording not written for this long is finished: MixMonitor closed it with the call.
SETTLED_SECONDS = 5.0


def seal_finished(call_id: str, path: Path) -> RecordingInfo | RecordingFailure:
    """Seal a fallback call's recording. queue_log says the call is over, so MixMonitor has
    closed the file unless it ended seconds ago: only then wait for its size to settle. A
    missing file is said at once; after an outage a pass may have hundreds of calls, and a
    15 s wait for each missing one would hold the journal of all the others."""
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return seal(call_id, path)
    return seal(call_id, path) if age > SETTLED_SECONDS else seal_when_stable(call_id, path)


class QueueLogUnreadable(Exception):
    """The queue_log file cannot be read; the message names it and the cause."""


@dataclass(frozen=True, slots=True)
class FileLine:
    """One line of the file, without its newline."""

    number: int | None
    "Its line number in the file (1 for the first); None when the file was not read from its start."
    offset: int
    "The byte offset of its first character in the file."
    text: str


@dataclass(slots=True)
class QueueLogFile:
    """Reads the lines a file gained since the last read (complete lines only).

    Lines end at ``\n`` and only there (never ``str.splitlines``, which also ends a line at a
    vertical tab, a form feed, NEL or U+2028: characters a caller ID could carry into a field,
    to start a line of its own that app_queue never wrote)."""

    path: Path
    first_read_bytes: int = FIRST_READ_BYTES
    chunk_bytes: int = CHUNK_BYTES
    offset: int | None = None
    "Where the next read starts; None before the first read."
    inode: tuple[int, int] | None = None
    "(device, inode) of the file last read."
    lines_before: int | None = None
    "Lines before ``offset``; None when the first read started inside the file."

    def read_new_lines(self) -> list[str]:
        """The text of the lines added since the last read, in order (see :meth:`read_new`)."""
        return [line.text for line in self.read_new()]

    def read_new(self) -> list[FileLine]:
        """Lines added since the last read, in order. Raises :class:`QueueLogUnreadable`."""
        try:
            stat = os.stat(self.path)
            identity = (stat.st_dev, stat.st_ino)
            lines: list[FileLine] = []
            if self.offset is not None and identity != self.inode:
                lines += self._rest_of_rotated()
                self.offset, self.lines_before = 0, 0
            elif self.offset is not None and stat.st_size < self.offset:
                # truncated in place (logrotate copytruncate)
                self.offset, self.lines_before = 0, 0
            skip_partial = False
            if self.offset is None:
                self.offset = max(0, stat.st_size - self.first_read_bytes)
                skip_partial = self.offset > 0
                self.lines_before = None if skip_partial else 0
            self.inode = identity
            start = self.offset
            with self.path.open("rb") as file:
                file.seek(self.offset)
                data, self.offset = _read_lines(file, self.offset, self.chunk_bytes)
            if skip_partial:
                # Started in the middle of the file: the first line is only a tail.
                head, _, data = data.partition(b"\n")
                start += len(head) + 1
                log.warning(
                    "queue_log is large; reading only its end",
                    extra={"file": str(self.path), "bytes": self.first_read_bytes},
                )
        except OSError as exc:
            raise QueueLogUnreadable(f"{self.path}: {exc.strerror or exc}") from exc
        new = _split(data, start, self.lines_before)
        if self.lines_before is not None:
            self.lines_before += len(new)
        return lines + new

    def _rest_of_rotated(self) -> list[FileLine]:
        # logrotate renamed the file we were reading to <name>.1: what Asterisk wrote to it after
        # our last read is there, and nowhere else.
        rotated = self.path.with_name(self.path.name + ".1")
        try:
            stat = os.stat(rotated)
            if (stat.st_dev, stat.st_ino) != self.inode or self.offset is None:
                return []
            with rotated.open("rb") as file:
                file.seek(self.offset)
                data, _ = _read_lines(file, self.offset, self.chunk_bytes)
        except OSError:
            return []
        return _split(data, self.offset, self.lines_before)


def _split(data: bytes, offset: int, lines_before: int | None) -> list[FileLine]:
    """``data`` (whole lines read from ``offset``) as lines, split at ``\n`` only."""
    out: list[FileLine] = []
    for raw in data.split(b"\n")[:-1]:  # data ends with a newline: the last piece is empty
        number = None if lines_before is None else lines_before + len(out) + 1
        out.append(FileLine(number, offset, raw.decode("utf-8", errors="replace")))
        offset += len(raw) + 1
    return out


def _read_lines(file: BinaryIO, offset: int, chunk_bytes: int) -> tuple[bytes, int]:
    """Everything up to the last newline from ``offset`` on, and the offset after it (a line
    Asterisk is still writing is left for the next read)."""
    parts: list[bytes] = []
    while chunk := file.read(chunk_bytes):
        parts.append(chunk)
    data = b"".join(parts)
    end = data.rfind(b"\n") + 1
    return data[:end], offset + end


@dataclass(frozen=True, slots=True)
class PassSummary:
    """What one read of queue_log found."""

    inserted: int = 0
    completed: int = 0
    unchanged: int = 0
    malformed: int = 0
    waiting: int = 0

    @property
    def found_anything(self) -> bool:
        return bool(self.inserted or self.completed or self.unchanged or self.malformed)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def facts_of(call: FallbackCall) -> FallbackCallFacts:
    """The journal's view of a call from queue_log."""
    reason = f" ({call.reason})" if call.reason else ""
    steps = [(_at(call.entered_at), f"fallback queue: entered{reason}")]
    steps += [(_at(at), f"fallback queue: answered by {agent}") for agent, at in call.agents]
    steps.append((_at(call.ended_at), f"fallback queue: {call.end_event}"))
    return FallbackCallFacts(
        call_id=call.call_id,
        caller=call.caller or "anonymous",
        caller_sent=call.caller_sent,
        dialed=call.dialed or "112",
        entered_at=_at(call.entered_at),
        ended_at=_at(call.ended_at),
        answered_at=None if call.answered_at is None else _at(call.answered_at),
        answered_by=call.agent_id,
        agents=tuple((agent, _at(at)) for agent, at in call.agents),
        steps=tuple(steps),
    )


class FallbackRecords:
    """The service: reads queue_log, journals the fallback queue's calls, seals recordings."""

    def __init__(
        self,
        journal: Journal,
        *,
        queue_log: Path,
        queue: str,
        endpoints: Sequence[str],
        recordings_dir: Path,
        scan_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        seal: Callable[[str, Path], RecordingInfo | RecordingFailure] = seal_finished,
        on_journaled: Callable[[FallbackCallFacts], None] = lambda _facts: None,
    ) -> None:
        self.journal = journal
        self.file = QueueLogFile(queue_log)
        self.calls = FallbackQueueLog(queue, endpoints)
        self.recordings_dir = recordings_dir
        self.scan_seconds = scan_seconds
        self.clock = clock
        self.seal = seal
        #: Told each call once journaled (the wallboard's figures count it then, not at the
        #: next start's read of the journal).
        self.on_journaled = on_journaled
        self._unreadable: str | None = None  # the last error, so the ALARM is raised once
        self._retry: list[FallbackCall] = []  # over, but the journal was away

    async def run(self) -> None:
        """Read now, then every ``scan_seconds``, until cancelled."""
        while True:
            try:
                await self.scan()
            except Exception:
                # A bug in one pass must not end the service: the next pass tries again.
                log.exception("reading the fallback queue_log failed; retried next pass")
            await asyncio.sleep(self.scan_seconds)

    async def scan(self) -> PassSummary:
        """One pass: read what queue_log gained, journal the calls that are over."""
        malformed_before = self.calls.malformed
        try:
            lines = await asyncio.to_thread(self.file.read_new)
        except QueueLogUnreadable as exc:
            if self._unreadable != str(exc):
                log.error(
                    "ALARM: fallback queue_log unreadable; calls the fallback queue answers are "
                    "not journaled until it is readable (retried every pass)",
                    extra={"file": str(self.file.path), "error": str(exc), "fix": UNREADABLE_FIX},
                )
            self._unreadable = str(exc)
            return PassSummary(waiting=self.calls.waiting)
        if self._unreadable is not None:
            log.info("fallback queue_log readable again", extra={"file": str(self.file.path)})
            self._unreadable = None
        self._warn_refused(lines, self.calls.feed(line.text for line in lines))
        done = [*self._retry, *self.calls.completed(self.clock())]
        self._retry = []
        counts = dict.fromkeys(FallbackWrite, 0)
        for index, call in enumerate(done):
            try:
                write = await self._journal(call)
            except (JournalError, ValueError) as exc:
                log.error(
                    "fallback call not journaled; retried next pass",
                    extra={"call_id": call.call_id, "error": str(exc)},
                )
                self._retry = done[index:]
                break
            counts[write] += 1
        summary = PassSummary(
            inserted=counts[FallbackWrite.INSERTED],
            completed=counts[FallbackWrite.COMPLETED],
            unchanged=counts[FallbackWrite.UNCHANGED],
            malformed=self.calls.malformed - malformed_before,
            waiting=self.calls.waiting,
        )
        if summary.found_anything:
            log.info(
                "fallback queue_log read",
                extra={
                    "file": str(self.file.path),
                    "journaled": summary.inserted,
                    "completed": summary.completed,
                    "already_journaled": summary.unchanged,
                    "malformed_lines": summary.malformed,
                    "still_in_queue": summary.waiting,
                },
            )
        return summary

    def _warn_refused(self, lines: Sequence[FileLine], refused: Sequence[Refused]) -> None:
        """One WARNING per line refused (at most :data:`MAX_REFUSED_WARNINGS` a pass, then one
        that counts the rest): a forged or damaged line is skipped, and someone should look."""
        for item in refused[:MAX_REFUSED_WARNINGS]:
            line = lines[item.index]
            log.warning(
                "queue_log line refused: not a line app_queue writes; skipped",
                extra={
                    "file": str(self.file.path),
                    "line": line.number,
                    "byte_offset": line.offset,
                    "reason": item.reason,
                    "text": ascii(line.text[:200]),
                },
            )
        if len(refused) > MAX_REFUSED_WARNINGS:
            log.warning(
                "queue_log lines refused: more in this pass, not logged one by one",
                extra={
                    "file": str(self.file.path),
                    "not_logged": len(refused) - MAX_REFUSED_WARNINGS,
                    "last_line": lines[refused[-1].index].number,
                },
            )

    async def _journal(self, call: FallbackCall) -> FallbackWrite:
        facts = facts_of(call)
        write = await self.journal.record_fallback_call(facts)
        try:
            self.on_journaled(facts)
        except Exception:
            # The wall's count is not worth a call's journaling or its recording's seal.
            log.exception("fallback call not shown on the wall", extra={"call_id": call.call_id})
        if write is not FallbackWrite.UNCHANGED:
            log.info(
                "fallback call journaled",
                extra={
                    "call_id": call.call_id,
                    "caller": call.caller,
                    "agent_id": call.agent_id,
                    "reason": call.reason,
                    "end": call.end_event,
                    "handed_back": write is FallbackWrite.COMPLETED,
                },
            )
        await self._seal(call)
        return write

    async def _seal(self, call: FallbackCall) -> None:
        record = await self.journal.get_call(call.call_id)
        if record is None or record.recording is not None:
            return  # sealed already (by callgate at hang-up, or by an earlier pass)
        now = _at(self.clock())
        # The call id comes from queue_log: checked to name a file in the folder before hashing.
        name = f"callgate/{call.call_id}.wav"
        path = await asyncio.to_thread(recording_in, call.call_id, self.recordings_dir, name)
        if isinstance(path, RecordingFailure):
            log.error(
                "ALARM: call recording failed",
                extra={"call_id": call.call_id, "path": name, "reason": path.reason},
            )
            await self.journal.recording_failed(call.call_id, reason=path.reason, at=now)
            return
        info = await asyncio.to_thread(self.seal, call.call_id, path)
        if isinstance(info, RecordingFailure):
            log.error(
                "ALARM: call recording failed",
                extra={"call_id": call.call_id, "reason": info.reason},
            )
            await self.journal.recording_failed(call.call_id, reason=info.reason, at=now)
            return
        log.info(
            "recording ready",
            extra={"call_id": call.call_id, "path": str(path), "sha256": info.sha256},
        )
        await self.journal.recording_ready(
            call.call_id,
            path=str(info.path),
            sha256=info.sha256,
            size_bytes=info.size,
            duration_s=info.duration_s,
            at=now,
        )
        if info.unsealed is not None:
            # As for calls callgate handled: the hash is kept (retention still deletes the
            # file) and the row says why the file is not sealed.
            log.error(
                "ALARM: call recording not sealed",
                extra={"call_id": call.call_id, "path": str(path), "reason": info.unsealed},
            )
            await self.journal.recording_failed(call.call_id, reason=info.unsealed, at=now)
