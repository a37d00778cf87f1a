"""Inquiries into past calls (#23), for the admin API's routes (:mod:`callgate.http.inquiry`):
search, a call's timeline, its recording checked against the journal's SHA-256, the export
bundle, legal holds, and the integrity check of every recording (``callgate recordings verify``).

Every step is a row of the inquiry audit trail (:mod:`callgate.storage.inquiries`) naming the
authenticated user. A recording whose file no longer hashes to the journal's SHA-256 is never
served nor exported: it is an ALARM line, a count in ``callgate_recording_integrity_problems``
and an audit row.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter

from callgate.config import Settings
from callgate.core.roster import TIME_ZONES
from callgate.daemon.timeline import Clock, summary_json, summary_text, timeline_json
from callgate.http.inquiry import InquiryRoutes, Recording, Search
from callgate.logs import clip
from callgate.storage import inquiries as store
from callgate.storage.history import spellings
from callgate.storage.journal import Journal
from callgate.storage.records import RecordingStatus

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
#: Verified files remembered (by inode, size and times) so an audio element's seeking is not
#: a full hash per range request; any change of the file forgets it.
_VERIFIED_MAX = 256
#: ALARM lines one verify run writes at most (a summary line says the rest).
_ALARMS_PER_RUN = 20
_NUMBER = re.compile(r"\+?[0-9]+")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def caller_prefixes(typed: str) -> tuple[str, ...]:
    """Every journaled spelling that starts like ``typed`` (as sent or E.164, a prefix)."""
    typed = typed.replace(" ", "").replace("-", "")
    if not typed:
        return ()
    if not _NUMBER.fullmatch(typed):
        return (typed,)
    national = typed
    for country in ("+62", "62"):
        if typed.startswith(country) and len(typed) > len(country):
            national = "0" + typed[len(country) :]
            break
    found = [typed, *spellings(national)] if national.startswith("0") else [typed, f"+{typed}"]
    return tuple(dict.fromkeys(p for p in found if p not in ("+", "")))


class InquiryService:
    """Implements :class:`callgate.http.inquiry.Inquiries` for the daemon."""

    def __init__(
        self,
        journal: Journal,
        recordings_dir: Path,
        *,
        zone: tzinfo,
        retention_days: int,
        problem: Callable[[str], None] = lambda kind: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``problem(kind)`` counts a recording found ``missing``, ``changed`` or
        ``unexpected`` (the metric)."""
        self.journal = journal
        self.folder = recordings_dir
        self.clock = Clock(zone)
        self.zone = zone
        self.retention_days = retention_days
        self.problem = problem
        self.now = clock
        self._verified: dict[Path, tuple[int, int, int, int, str]] = {}

    # -- dates ------------------------------------------------------------------------------

    def when(self, text: str, name: str, *, end: bool = False) -> datetime:
        """An ISO date (the whole day: its start, or with ``end`` the next day's) or datetime,
        in the centre's zone unless it names its own offset."""
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                at = datetime.combine(day + timedelta(days=1 if end else 0), time(), self.zone)
            else:
                at = datetime.fromisoformat(text)
                at = at.replace(tzinfo=self.zone) if at.tzinfo is None else at
            # The journal compares in UTC: a day at either end of the calendar (9999-12-31's
            # next day, 0001-01-01 east of UTC) overflows there, a 500 unless refused here.
            at.astimezone(UTC)
        except (ValueError, OverflowError):
            raise ValueError(
                f"{name} must be an ISO date or datetime from 0001-01-02 to 9999-12-30,"
                f" not {clip(text, 40)!r}"
            ) from None
        return at

    # -- reading ----------------------------------------------------------------------------

    async def search(self, search: Search, by: str) -> JsonDict:
        callers = caller_prefixes(search.caller) if search.caller else ()
        if search.caller and not callers:
            # Only spaces and dashes: no prefix to look for (an empty one would find every call).
            raise ValueError("caller must hold a number or a name, not only spaces and dashes")
        query = store.CallQuery(
            callers=callers,
            since=None if search.since is None else self.when(search.since, "since"),
            until=None if search.until is None else self.when(search.until, "until", end=True),
            calltaker=search.calltaker,
            outcome=None if search.outcome is None else search.outcome.upper(),
            disposition=search.disposition,
            tag=search.tag,
            fallback=search.fallback,
            answered_by=search.own,
        )
        calls, total = await store.search_calls(
            self.journal, query, page=search.page, per_page=search.per_page
        )
        asked = {k: v for k, v in _fields(search).items() if v is not None}
        await store.audit(
            self.journal, at=self.now(), by=by, action="search",
            detail=json.dumps({"filters": asked, "total": total}, ensure_ascii=False),
        )  # fmt: skip
        return {
            "calls": [summary_json(call, self.clock) for call in calls],
            "page": search.page,
            "per_page": search.per_page,
            "total": total,
        }

    async def answered_by(self, call_id: str) -> tuple[bool, str | None]:
        call = await self.journal.get_call(call_id)
        return (False, None) if call is None else (True, call.answered_by)

    async def timeline(self, call_id: str, by: str, *, access: bool) -> JsonDict | None:
        found = await store.call_file(self.journal, call_id)
        if found is None:
            return None
        # A timeline shows the caller's number and who answered: reading it is a step of an
        # inquiry like a playback (one row per read, as the page or the CLI asks).
        await store.audit(self.journal, at=self.now(), by=by, action="timeline", call_id=call_id)
        return timeline_json(found, self.clock, self.retention_days, access=access)

    async def refused(self, call_id: str, by: str, what: str) -> None:
        await store.audit(
            self.journal, at=self.now(), by=by, action="refused", call_id=call_id, detail=what
        )

    # -- the recording ----------------------------------------------------------------------

    def _inside(self, path: str) -> Path | None:
        root = self.folder.resolve()
        file = (root / path).resolve()
        return file if file.is_relative_to(root) else None

    def _checked(self, file: Path, sha256: str) -> str:
        """``ok``, ``missing`` or ``mismatch`` (in a worker thread)."""
        try:
            info = file.stat()
        except OSError:
            return "missing"
        key = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, sha256)
        if self._verified.get(file) == key:
            return "ok"
        try:
            actual = _sha256(file)
        except OSError:
            return "missing"
        if actual != sha256:
            self._verified.pop(file, None)
            return "mismatch"
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[file] = key
        return "ok"

    async def _alarm(self, call_id: str, kind: str, by: str, path: object) -> None:
        self.problem(kind)
        log.error(
            "ALARM: recording does not match the journal (changed or missing): an inquiry's"
            " evidence is at stake",
            extra={"call_id": call_id, "problem": kind, "path": str(path), "by": by},
        )
        await store.audit(
            self.journal, at=self.now(), by=by, action="mismatch", call_id=call_id, detail=kind
        )

    async def recording(self, call_id: str, by: str, *, first: bool) -> Recording:
        call = await self.journal.get_call(call_id)
        if call is None:
            return Recording(None, "unknown-call")
        r = call.recording
        if r is None or r.status != RecordingStatus.READY or not r.path or not r.sha256:
            return Recording(None, "no-recording")
        file = self._inside(r.path)
        if file is None:
            return Recording(None, "missing")
        state = await asyncio.to_thread(self._checked, file, r.sha256)
        if state != "ok":
            await self._alarm(call_id, "changed" if state == "mismatch" else state, by, file)
            return Recording(None, state)
        if first:
            await store.audit(self.journal, at=self.now(), by=by, action="played", call_id=call_id)
        return Recording(file)

    # -- export and holds -------------------------------------------------------------------

    async def export(self, call_id: str, reason: str, by: str) -> bytes | str:
        found = await store.call_file(self.journal, call_id)
        if found is None:
            return "unknown-call"
        at = self.now()
        timeline = timeline_json(found, self.clock, self.retention_days)
        r = found.call.recording
        audio: bytes | None = None
        if r is not None and r.status == RecordingStatus.READY and r.path and r.sha256:
            file = self._inside(r.path)
            audio = None if file is None else await asyncio.to_thread(_read, file)
            if audio is None or hashlib.sha256(audio).hexdigest() != r.sha256:
                await self._alarm(call_id, "changed" if audio else "missing", by, r.path)
                return "mismatch"
        shown = self.clock.show(at) or ""
        files: dict[str, bytes] = {}
        if audio is not None:
            files["recording.wav"] = audio
        files["call.json"] = json.dumps(timeline, ensure_ascii=False, indent=2).encode()
        files["ringkasan.txt"] = summary_text(
            timeline, exported_by=by, exported_at=shown, reason=reason
        ).encode()
        hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        manifest = {
            "call_id": call_id,
            "files": hashes,
            "journal_sha256": None if r is None else r.sha256,
            "recording_matches_journal": audio is not None,
            "exported_by": by,
            "exported_at": shown,
            "reason": reason,
        }
        files["manifest.json"] = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
        bundle = await asyncio.to_thread(_zip, files)
        await store.audit(
            self.journal, at=at, by=by, action="exported", call_id=call_id, reason=reason,
            detail=json.dumps({"files": hashes, "zip": hashlib.sha256(bundle).hexdigest()}),
        )  # fmt: skip
        return bundle

    async def hold(self, call_id: str, reason: str, by: str, *, on: bool) -> str:
        at = self.now()
        if on:
            placed = await store.place_hold(self.journal, call_id, reason=reason, by=by, at=at)
            return {True: "ok", False: "already", None: "unknown-call"}[placed]
        lifted = await store.lift_hold(self.journal, call_id, reason=reason, by=by, at=at)
        return "ok" if lifted else "not-held"

    async def holds(self) -> JsonDict:
        return {
            "holds": [
                {"call_id": h.call_id, "reason": h.reason, "by": h.by, "at": self.clock.show(h.at)}
                for h in await store.holds(self.journal)
            ]
        }

    # -- integrity --------------------------------------------------------------------------

    async def verify(self, since: str | None, by: str) -> JsonDict:
        after = None if since is None else self.when(since, "since")
        everything = await store.recordings_since(self.journal, None)
        checked = everything if after is None else await store.recordings_since(self.journal, after)
        known = {str(self._inside(path) or path) for _, path, _ in everything}
        report = await asyncio.to_thread(self._verify, checked, known, after)
        problems = [(kind, item) for kind in ("missing", "changed", "unexpected")
                    for item in report[kind]]  # fmt: skip
        for n, (kind, item) in enumerate(problems):
            self.problem(kind)
            if n < _ALARMS_PER_RUN:
                log.error(
                    "ALARM: recording integrity: a file is missing, changed or not in the journal",
                    extra={"problem": kind, **item},
                )
        if len(problems) > _ALARMS_PER_RUN:
            log.error(
                "ALARM: recording integrity: more problems than logged",
                extra={"problems": len(problems)},
            )
        await store.audit(
            self.journal, at=self.now(), by=by, action="verify",
            detail=json.dumps({"since": since, "checked": report["checked"],
                               "problems": len(problems)}),
        )  # fmt: skip
        return report

    def _verify(
        self, checked: list[tuple[str, str, str]], known: set[str], after: datetime | None
    ) -> JsonDict:
        report: JsonDict = {"checked": len(checked), "missing": [], "changed": [], "unexpected": []}
        for call_id, path, sha256 in checked:
            file = self._inside(path)
            state = "missing" if file is None else self._checked(file, sha256)
            if state != "ok":
                kind = "changed" if state == "mismatch" else "missing"
                report[kind].append({"call_id": call_id, "path": path})
        root = self.folder.resolve()
        below = root / "callgate" if (root / "callgate").is_dir() else root
        cutoff = None if after is None else after.timestamp()
        for folder, _dirs, names in os.walk(below):
            for name in names:
                file = Path(folder) / name
                if str(file) in known:
                    continue
                try:
                    if cutoff is not None and file.stat().st_mtime < cutoff:
                        continue
                except OSError:
                    continue
                report["unexpected"].append({"call_id": None, "path": str(file)})
        return report


def _fields(search: Search) -> dict[str, object]:
    return {
        "caller": search.caller, "since": search.since, "until": search.until,
        "calltaker": search.calltaker, "outcome": search.outcome,
        "disposition": search.disposition, "tag": search.tag, "fallback": search.fallback,
        "page": search.page, "own": search.own,
    }  # fmt: skip


def _read(file: Path) -> bytes | None:
    try:
        return file.read_bytes()
    except OSError:
        return None


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return out.getvalue()


def inquiry_routes(
    settings: Settings, journal: Journal, registry: CollectorRegistry
) -> InquiryRoutes:
    """The inquiry routes for the admin port, with their service and metric (the composition
    root's one call)."""
    problems = Counter(
        "callgate_recording_integrity_problems",
        "Recordings found missing, changed (hash differs from the journal's) or not in the"
        " journal, by playback, export or callgate recordings verify (see the ALARM line).",
        ["kind"],
        registry=registry,
    )
    for kind in ("missing", "changed", "unexpected"):
        problems.labels(kind)  # zero series from the start, for alerts
    zone = settings.roster.timezone
    service = InquiryService(
        journal,
        Path(settings.recording.asterisk_dir),
        zone=ZoneInfo(TIME_ZONES.get(zone, zone)),
        retention_days=settings.recording.retention_days,
        problem=lambda kind: problems.labels(kind).inc(),
    )
    return InquiryRoutes(service)
