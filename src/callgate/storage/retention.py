"""Recording retention: delete recording files older than the retention period and mark them
deleted in the journal (``callgate purge`` and the daemon's daily run)."""

from __future__ import annotations

import asyncio
import errno
import logging
from datetime import datetime, timedelta
from pathlib import Path

from callgate.storage.inquiries import held_among
from callgate.storage.journal import Journal
from callgate.storage.records import RecordingRecord

log = logging.getLogger(__name__)


async def delete_expired_recordings(
    journal: Journal, recordings_dir: Path, retention_days: int, now: datetime
) -> list[Path]:
    """Delete recording files finished more than ``retention_days`` before ``now`` and mark them
    deleted in the journal; returns the files deleted.

    A recording on legal hold (:mod:`callgate.storage.inquiries`) is never deleted. Only files
    inside ``recordings_dir`` are touched (a relative path in the journal is taken relative to
    it). A file that cannot be deleted stays READY in the journal, so the next run
    tries again; a file already gone counts as deleted. The file's owner does not matter (it is
    usually Asterisk): deleting takes write access to the folder, which callgate has through
    Asterisk's group when the folder is group-writable.
    """
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, not {retention_days}")
    cutoff = now - timedelta(days=retention_days)
    deleted: list[Path] = []
    expired = await journal.expired_recordings(cutoff)
    # A recording under legal hold (an inquiry, a court) is kept whatever its age (#23).
    held = await held_among(journal, [recording.call_id for recording in expired])
    if held:
        log.info("recordings on legal hold kept past retention", extra={"count": len(held)})
    for recording in expired:
        if recording.path is None or recording.call_id in held:
            continue
        file = await asyncio.to_thread(_delete_inside, recordings_dir, recording)
        if file is not None:
            await journal.recording_deleted(recording.call_id, at=now)
            deleted.append(file)
    if deleted:
        log.info(
            "recordings deleted by retention",
            extra={"count": len(deleted), "retention_days": retention_days},
        )
    return deleted


def _delete_inside(recordings_dir: Path, recording: RecordingRecord) -> Path | None:
    assert recording.path is not None
    root = recordings_dir.resolve()
    file = (root / recording.path).resolve()
    if not file.is_relative_to(root):
        # A journal row must never make the daemon delete files elsewhere on the machine.
        log.warning(
            "expired recording is outside the recordings folder; not deleted",
            extra={"call_id": recording.call_id, "path": recording.path, "folder": str(root)},
        )
        return None
    try:
        file.unlink(missing_ok=True)
    except OSError as exc:
        error = str(exc)
        if exc.errno in (errno.EACCES, errno.EPERM):
            error += (
                "; callgate needs write access to the folder: make it asterisk:asterisk mode 2770"
                " and add callgate to Asterisk's group"
            )
        log.error(
            "cannot delete expired recording; will retry",
            extra={"call_id": recording.call_id, "path": str(file), "error": error},
        )
        return None
    return file
