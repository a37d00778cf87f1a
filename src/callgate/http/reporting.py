"""The managers' reports (issue #24): a day, a shift, a month and one call-taker, from the
journal, with the same figures as ``callgate report``.

- ``GET /api/reports/options``: ``{"zone", "today", "shifts": [{"name", "start", "end"}],
  "calltakers": [ids]}``, what the page offers to choose from (the centre's zone and shifts);
- ``GET /api/reports?kind=day&day=2026-11-23`` (``kind=shift&day=...&shift=pagi``,
  ``kind=month&month=2026-11``, ``kind=calltaker&agent=1001`` with ``day`` or ``month``):
  the report as JSON (:mod:`callgate.reports.payload`); ``&format=csv`` the same tables as
  ``callgate report --csv`` writes, in one CSV file.

Supervisors and admins only (``view-reports``; 403 for anyone else). Reading a report changes
nothing; it is logged with the user's name, as the audit of who read what. The figures come from
the daemon (:mod:`callgate.daemon.report_service`): this adapter never reads the journal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiohttp import web

from callgate.auth import Permission
from callgate.http.server import IDENTITY, Handler, Identify
from callgate.logs import clip

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
#: The reports a page may ask for.
KINDS: Final = ("day", "shift", "month", "calltaker")
#: Longest value of a query parameter (a date, a month, a shift's or call-taker's name).
MAX_VALUE: Final = 64


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """Which report: ``kind`` and the parameters it needs (checked by the service)."""

    kind: str
    day: str | None = None
    month: str | None = None
    shift: str | None = None
    agent: str | None = None


class ReportSource(Protocol):
    """What the routes ask of the daemon (:class:`callgate.daemon.report_service.ReportService`);
    a query it cannot answer raises :class:`ValueError` with a message for the user."""

    def options(self) -> JsonDict:
        """The centre's zone, today's local date, its shifts and call-takers."""
        ...

    async def report(self, query: ReportQuery) -> JsonDict:
        """The report as JSON."""
        ...

    async def csv(self, query: ReportQuery) -> tuple[str, str]:
        """``(file name, CSV text)`` of the report's tables; both raise :class:`OSError`
        when the journal cannot be read."""
        ...


class ReportRoutes:
    """The report routes; an :class:`~callgate.http.server.Extension`."""

    def __init__(self, service: ReportSource) -> None:
        self.service = service

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        return {
            ("GET", "/api/reports/options"): (Permission.VIEW_REPORTS, self._options),
            ("GET", "/api/reports"): (Permission.VIEW_REPORTS, self._report),
        }

    async def close(self) -> None:
        return None

    async def _options(self, _request: web.Request) -> web.Response:
        return web.json_response(self.service.options())

    async def _report(self, request: web.Request) -> web.Response:
        params = request.query
        if any(len(v) > MAX_VALUE for v in params.values()):
            return _error(f"a parameter longer than {MAX_VALUE} characters")
        kind = params.get("kind", "")
        if kind not in KINDS:
            return _error(f"kind must be one of {', '.join(KINDS)}")
        query = ReportQuery(
            kind=kind,
            day=params.get("day") or None,
            month=params.get("month") or None,
            shift=params.get("shift") or None,
            agent=params.get("agent") or None,
        )
        as_csv = params.get("format") == "csv"
        log.info(
            "report read",
            extra={"kind": kind, "day": clip(query.day or ""), "month": clip(query.month or ""),
                   "shift": clip(query.shift or ""), "calltaker": clip(query.agent or ""),
                   "csv": as_csv, "by": request[IDENTITY].name, "via": "admin-api"},
        )  # fmt: skip
        try:
            if as_csv:
                name, text = await self.service.csv(query)
                return web.Response(
                    text=text,
                    content_type="text/csv",
                    charset="utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'},
                )
            return web.json_response(await self.service.report(query))
        except ValueError as exc:
            return _error(str(exc))
        except OSError as exc:
            log.warning("report unavailable", extra={"error": clip(str(exc))})
            return _error("the journal cannot be read now", 503)


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)
