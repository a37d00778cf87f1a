"""``GET /wallboard``, ``GET /screen``, ``GET /calls``, ``GET /call``, ``GET /reports`` and their
assets: static pages shipped in the package.

Plain HTML, CSS and JavaScript in ``http/static/`` (no build step, nothing from a CDN: a 112
centre's screens may have no way out to the internet). The pages are open: they hold no data
and log in with ``POST /api/session``; everything they show comes from the authenticated API
(``/api/live``, ``/api/my-call``, ``/readyz``; the inquiry pages of issue #23, ``/calls``
"Cari panggilan" and ``/call?id=`` a call's timeline, read ``/api/calls/search`` and
``/api/calls/{id}/timeline|recording|export|hold``, routes served elsewhere; ``/card`` the
call-taker's printable feature-code card, one A4 page, reads ``/api/screen`` for the digits;
``/reports``, the managers' reports of issue #24, reads ``/api/reports``,
:mod:`callgate.http.reporting`). Every URL they use is relative, so they work behind a reverse
proxy that serves the port under a path of its own (``/callgate/wallboard``).

Headers keep them to themselves: a Content-Security-Policy that allows only this site's own
scripts, styles, connections and media (the recording's audio element; no inline script), no
framing, no referrer.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

from aiohttp import web

from callgate.http.server import Handler, Identify

#: The pages and the assets they load, with their content types; nothing else is served.
ASSETS: Final = {
    "wallboard.html": "text/html",
    "screen.html": "text/html",
    "calls.html": "text/html",
    "call.html": "text/html",
    "card.html": "text/html",
    "reports.html": "text/html",
    "common.js": "text/javascript",
    "wallboard.js": "text/javascript",
    "screen.js": "text/javascript",
    "inquiry.js": "text/javascript",
    "calls.js": "text/javascript",
    "call.js": "text/javascript",
    "card.js": "text/javascript",
    "card.css": "text/css",
    "display.js": "text/javascript",
    "style.css": "text/css",
    "supervisor.js": "text/javascript",
    "supervisor.css": "text/css",
    "reports.js": "text/javascript",
    "reports.css": "text/css",
}
HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
        " media-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none';"
        " form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def asset(name: str) -> bytes:
    """The bytes of a shipped asset (``KeyError`` for any other name)."""
    if name not in ASSETS:
        raise KeyError(name)
    return (resources.files("callgate.http") / "static" / name).read_bytes()


class Pages:
    """The wallboard, the call-taker's screen and the inquiry pages; an
    :class:`~callgate.http.server.Extension`."""

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        return {
            ("GET", "/wallboard"): (None, self._wallboard),
            ("GET", "/screen"): (None, self._screen),
            ("GET", "/calls"): (None, self._calls),
            ("GET", "/call"): (None, self._call),
            ("GET", "/card"): (None, self._card),
            ("GET", "/reports"): (None, self._reports),
            ("GET", "/assets/{name}"): (None, self._asset),
        }

    async def close(self) -> None:
        return None

    async def _wallboard(self, _request: web.Request) -> web.Response:
        return _serve("wallboard.html")

    async def _screen(self, _request: web.Request) -> web.Response:
        return _serve("screen.html")

    async def _calls(self, _request: web.Request) -> web.Response:
        return _serve("calls.html")

    async def _call(self, _request: web.Request) -> web.Response:
        return _serve("call.html")

    async def _card(self, _request: web.Request) -> web.Response:
        return _serve("card.html")

    async def _reports(self, _request: web.Request) -> web.Response:
        return _serve("reports.html")

    async def _asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS or name.endswith(".html"):
            raise web.HTTPNotFound(reason="no such asset")
        return _serve(name)


def _serve(name: str) -> web.Response:
    return web.Response(
        body=asset(name), content_type=ASSETS[name], charset="utf-8", headers=HEADERS
    )
