"""Inquiries into past calls (#23): search, a call's timeline, playback, export, legal holds.

- ``GET /api/calls/search?caller=&since=&until=&calltaker=&outcome=&disposition=&tag=&fallback=
  &page=1&per_page=50`` (``&format=csv`` for text/csv): ``{"calls", "page", "per_page",
  "total"}``, newest first. Every search is a row of the inquiry audit trail.
- ``GET /api/calls/{call_id}/timeline``: ``{"call", "events", "recording", "access"}``, an
  audit row; ``access`` (who played, exported, held; why) is empty but for ``view-calls``.
- ``GET /api/calls/{call_id}/recording``: the WAV, with range requests (``Accept-Ranges:
  bytes``, 206) for an audio element's seeking. The file is hashed again before it is served;
  a hash that differs from the journal's is 409, an ALARM and an audit row, never the audio.
  The first request of a playback (no ``Range``, from byte 0, a suffix range, or with
  ``If-Range``) is an audit row.
- ``POST /api/calls/{call_id}/export`` ``{"reason"}``: a zip of ``recording.wav``, ``call.json``,
  ``ringkasan.txt`` and ``manifest.json`` (the SHA-256 of each, the journal's hash, who, when,
  why). ``POST``/``DELETE /api/calls/{call_id}/hold`` ``{"reason"}``; ``GET /api/holds``.
- ``POST /api/recordings/verify`` ``{"since"}`` (``callgate recordings verify``): every
  recording hashed again against the journal; missing, changed and unexpected files.

Who may: supervisors and admins (``view-calls``) any call; a call-taker only the calls they
answered (403 otherwise, and the refusal is an audit row); CAD's token only the recording (the
URL of its ``recording-ready`` event). Export, holds and verify: supervisors and admins, with a
reason. The audit trail names the authenticated user; a client-written ``by`` is refused.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import hdrs, web

from callgate.auth import Identity, Permission, Role
from callgate.http.body import json_object
from callgate.http.server import AUTHENTICATED, IDENTITY, MAX_CALL_ID, Handler, Identify
from callgate.logs import clip
from callgate.ports import MAX_REASON

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
#: Longest value of a search filter.
MAX_FILTER = 96
MAX_PAGE = 100_000
MAX_PER_PAGE = 500
#: The columns of a search's CSV, as the JSON's keys.
CSV_COLUMNS = (
    "call_id", "started_at", "ended_at", "caller_sent", "caller", "calltaker", "outcome",
    "disposition", "tags", "fallback", "wait_s", "talk_s", "recording", "hold",
)  # fmt: skip
_FILTERS = ("caller", "since", "until", "calltaker", "outcome", "disposition", "tag")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Search:
    """A search as asked: texts as given (the service reads the dates in the centre's zone)."""

    caller: str | None = None
    since: str | None = None
    until: str | None = None
    calltaker: str | None = None
    outcome: str | None = None
    disposition: str | None = None
    tag: str | None = None
    fallback: bool | None = None
    page: int = 1
    per_page: int = 50
    own: str | None = None
    "Only the calls this call-taker answered (a call-taker's own search)."


@dataclass(frozen=True, slots=True)
class Recording:
    """A recording checked for serving: its file, or why it is not served."""

    path: Path | None
    problem: str | None = None
    "``unknown-call``, ``no-recording``, ``missing`` or ``mismatch`` (with ``path`` None)."


class Inquiries(Protocol):
    """What the routes ask of the daemon (:mod:`callgate.daemon.inquiry_service`)."""

    async def search(self, search: Search, by: str) -> JsonDict:
        """``{"calls", "page", "per_page", "total"}`` (audited); ValueError for a bad filter."""
        ...

    async def answered_by(self, call_id: str) -> tuple[bool, str | None]:
        """Whether the journal knows the call, and who answered it."""
        ...

    async def timeline(self, call_id: str, by: str, *, access: bool) -> JsonDict | None:
        """The call's timeline (audited), or None for a call the journal does not know;
        ``access``: with the audit trail's rows of the call (else an empty list)."""
        ...

    async def recording(self, call_id: str, by: str, *, first: bool) -> Recording:
        """The call's recording, hashed again; ``first``: a playback starts (audited)."""
        ...

    async def export(self, call_id: str, reason: str, by: str) -> bytes | str:
        """The bundle (a zip), or why not: ``unknown-call`` or ``mismatch``."""
        ...

    async def hold(self, call_id: str, reason: str, by: str, *, on: bool) -> str:
        """Place (``on``) or lift a hold: ``ok``, ``already``, ``not-held``, ``unknown-call``."""
        ...

    async def holds(self) -> JsonDict:
        """``{"holds": [{"call_id", "reason", "by", "at"}]}``."""
        ...

    async def refused(self, call_id: str, by: str, what: str) -> None:
        """Put a refused request on the audit trail."""
        ...

    async def verify(self, since: str | None, by: str) -> JsonDict:
        """``{"checked", "missing", "changed", "unexpected"}``; ValueError for a bad date."""
        ...


_STATUS = {"ok": 200, "already": 200, "not-held": 404, "unknown-call": 404, "no-recording": 404,
           "missing": 404, "mismatch": 409}  # fmt: skip
_WHY = {
    "unknown-call": "no such call in the journal",
    "no-recording": "the call has no recording on disk",
    "missing": "the recording's file is missing",
    "mismatch": "the recording's file does not match the journal's SHA-256: not served (ALARM)",
    "not-held": "the call is not on hold",
    "already": "the call was already on hold",
}


def _answer(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _error(status: int, message: str) -> web.Response:
    return _answer({"error": message}, status)


def _cell(value: object) -> object:
    # CSV injection: a cell a spreadsheet would run as a formula is written as text (OWASP).
    if isinstance(value, str) and value.startswith(_FORMULA) and not value[1:].isdigit():
        return "'" + value
    return value


def _any_call(who: Identity) -> bool:
    return who.may(Permission.VIEW_CALLS)


def _calltaker(who: Identity) -> str | None:
    """The call-taker whose own calls ``who`` may see (None: not a call-taker)."""
    if who.role is Role.CALL_TAKER and who.agent_id:
        return who.agent_id
    return None


def _from_start(request: web.Request) -> bool:
    """Whether the request may be answered with the recording from its start: a playback's
    first request, the one audited (an audio element's seeking asks ``bytes=N-`` after it).

    Judged from the range as aiohttp parses it, which is what it serves: the header's text
    would miss ``BYTES=0-``, ``bytes=00-`` and a suffix range (``bytes=-999999``: the whole
    file)."""
    if hdrs.IF_RANGE in request.headers:
        # An If-Range that no longer matches the file makes aiohttp answer all of it (200).
        return True
    try:
        asked = request.http_range
    except ValueError:
        return False  # aiohttp answers 416: no audio
    return asked.start is None or asked.start <= 0


class InquiryRoutes:
    """The inquiry routes; an :class:`~callgate.http.server.Extension`."""

    def __init__(self, service: Inquiries) -> None:
        self.service = service

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        return {
            ("GET", "/api/calls/search"): (AUTHENTICATED, self._search),
            ("GET", "/api/calls/{call_id}/timeline"): (AUTHENTICATED, self._timeline),
            ("GET", "/api/calls/{call_id}/recording"): (AUTHENTICATED, self._recording),
            ("POST", "/api/calls/{call_id}/export"): (Permission.VIEW_CALLS, self._export),
            ("POST", "/api/calls/{call_id}/hold"): (Permission.VIEW_CALLS, self._hold),
            ("DELETE", "/api/calls/{call_id}/hold"): (Permission.VIEW_CALLS, self._unhold),
            ("GET", "/api/holds"): (Permission.VIEW_CALLS, self._holds),
            ("POST", "/api/recordings/verify"): (Permission.VIEW_CALLS, self._verify),
        }

    async def close(self) -> None:
        return None

    # -- reading ----------------------------------------------------------------------------

    async def _search(self, request: web.Request) -> web.StreamResponse:
        who = request[IDENTITY]
        own = None if _any_call(who) else _calltaker(who)
        if own is None and not _any_call(who):
            return _error(403, f"{who.name} ({who.role.value}) may not search calls")
        query = request.query
        texts: dict[str, str | None] = {}
        for name in _FILTERS:
            value = query.get(name, "").strip()
            if len(value) > MAX_FILTER:
                return _error(400, f"{name} longer than {MAX_FILTER} characters")
            texts[name] = value or None
        fallback = query.get("fallback", "").strip().lower()
        if fallback not in ("", "true", "false"):
            return _error(400, "fallback must be true or false")
        try:
            page = int(query.get("page", "1"))
            per_page = int(query.get("per_page", "50"))
        except ValueError:
            return _error(400, "page and per_page must be whole numbers")
        if not (1 <= page <= MAX_PAGE and 1 <= per_page <= MAX_PER_PAGE):
            return _error(400, f"page 1 to {MAX_PAGE}, per_page 1 to {MAX_PER_PAGE}")
        search = Search(
            **texts,
            fallback=None if not fallback else fallback == "true",
            page=page,
            per_page=per_page,
            own=own,
        )
        try:
            body = await self.service.search(search, who.name)
        except ValueError as exc:
            return _error(400, str(exc))
        if query.get("format", "json") == "csv":
            return self._csv(body["calls"])
        return _answer(body)

    def _csv(self, calls: list[JsonDict]) -> web.Response:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for call in calls:
            row = {**call, "tags": " ".join(call["tags"])}
            writer.writerow([_cell("" if row[c] is None else row[c]) for c in CSV_COLUMNS])
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="panggilan.csv"'},
        )

    async def _may_see(self, request: web.Request, what: str) -> web.Response | None:
        """None when the user may see the call; else the refusal (403 audited, 404, 400)."""
        call_id = request.match_info["call_id"]
        if len(call_id) > MAX_CALL_ID:
            return _error(400, f"call id longer than {MAX_CALL_ID} characters")
        who = request[IDENTITY]
        if _any_call(who) or (what == "play" and who.role is Role.CAD):
            return None
        own = _calltaker(who)
        known, answerer = await self.service.answered_by(call_id)
        if own is not None and not known:
            return _error(404, _WHY["unknown-call"])
        if own is None or answerer != own:
            await self.service.refused(call_id, who.name, what)
            log.warning(
                "inquiry refused: not the user's call",
                extra={"by": who.name, "call_id": clip(call_id), "wanted": what},
            )
            return _error(403, f"{who.name} may {what} only calls they answered")
        return None

    async def _timeline(self, request: web.Request) -> web.Response:
        refused = await self._may_see(request, "read the timeline of")
        if refused is not None:
            return refused
        who = request[IDENTITY]
        # Who investigated a call, and why, is for supervisors and admins: a call-taker
        # reading their own call sees an empty list.
        body = await self.service.timeline(
            request.match_info["call_id"], who.name, access=_any_call(who)
        )
        if body is None:
            return _error(404, _WHY["unknown-call"])
        return _answer(body)

    async def _recording(self, request: web.Request) -> web.StreamResponse:
        refused = await self._may_see(request, "play")
        if refused is not None:
            return refused
        found = await self.service.recording(
            request.match_info["call_id"], request[IDENTITY].name, first=_from_start(request)
        )
        if found.path is None:
            problem = found.problem or "no-recording"
            return _error(_STATUS.get(problem, 409), _WHY.get(problem, problem))
        # aiohttp answers Range (206, 416) and If-Range itself, with Accept-Ranges: bytes.
        return web.FileResponse(
            found.path, headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"}
        )

    # -- changing ---------------------------------------------------------------------------

    async def _reason(self, request: web.Request) -> str | web.Response:
        call_id = request.match_info.get("call_id", "")
        if len(call_id) > MAX_CALL_ID:
            return _error(400, f"call id longer than {MAX_CALL_ID} characters")
        body = await json_object(request)
        if "by" in body:
            return _error(400, "by is not accepted: the audit trail records the user")
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
            return _error(400, f"reason (1-{MAX_REASON} characters) is required: it is audited")
        return reason.strip()

    async def _export(self, request: web.Request) -> web.Response:
        reason = await self._reason(request)
        if isinstance(reason, web.Response):
            return reason
        call_id, by = request.match_info["call_id"], request[IDENTITY].name
        log.info("inquiry export", extra={"call_id": clip(call_id), "by": by})
        bundle = await self.service.export(call_id, reason, by)
        if isinstance(bundle, str):
            return _error(_STATUS.get(bundle, 409), _WHY.get(bundle, bundle))
        name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in call_id)
        return web.Response(
            body=bundle,
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="panggilan-{name}.zip"'},
        )

    async def _hold(self, request: web.Request) -> web.Response:
        return await self._set_hold(request, on=True)

    async def _unhold(self, request: web.Request) -> web.Response:
        return await self._set_hold(request, on=False)

    async def _set_hold(self, request: web.Request, *, on: bool) -> web.Response:
        reason = await self._reason(request)
        if isinstance(reason, web.Response):
            return reason
        call_id, by = request.match_info["call_id"], request[IDENTITY].name
        log.info(
            "inquiry hold" if on else "inquiry unhold",
            extra={"call_id": clip(call_id), "by": by, "reason": clip(reason)},
        )
        result = await self.service.hold(call_id, reason, by, on=on)
        status = _STATUS.get(result, 409)
        if status >= 400:
            return _error(status, _WHY.get(result, result))
        return _answer({"result": result, "call_id": call_id, "hold": on})

    async def _holds(self, _request: web.Request) -> web.Response:
        return _answer(await self.service.holds())

    async def _verify(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        since = body.get("since")
        if since is not None and (not isinstance(since, str) or len(since) > MAX_FILTER):
            return _error(400, "since must be an ISO date or datetime")
        try:
            return _answer(await self.service.verify(since, request[IDENTITY].name))
        except ValueError as exc:
            return _error(400, str(exc))
