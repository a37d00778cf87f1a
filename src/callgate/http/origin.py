"""Whose site a browser's request comes from: the TLS proxy's word (``X-Forwarded-Proto``,
``X-Forwarded-Host``) and the ``Origin`` check of every request (:mod:`callgate.http.sessions`
says why)."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from callgate.logs import clip


def forwarded_https(request: web.Request) -> bool:
    """The browser reached the TLS reverse proxy over https (the proxy says so)."""
    return request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` with the scheme's default port filled in, or None."""
    try:
        parsed = URL(url)
    except ValueError:
        return None
    if not parsed.scheme or not parsed.host:
        return None
    return parsed.scheme.lower(), parsed.host.lower(), parsed.port


def foreign_origin(request: web.Request) -> str | None:
    """Why the request's ``Origin`` is another site's, or None (no Origin, or this site's).

    Browsers send ``Origin`` with every cross-site request they make on a page's behalf and with
    same-site POSTs; a page of another site must not act here even with a credential the browser
    holds. This site is the one the proxy names (``X-Forwarded-Proto``, ``X-Forwarded-Host``),
    else the request's own scheme and ``Host``.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    scheme = "https" if forwarded_https(request) else request.scheme
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip() or request.host
    # "null" (a sandboxed frame, a file) parses to None: never this site.
    sent = _origin_of(origin)
    if sent is not None and sent == _origin_of(f"{scheme}://{host}"):
        return None
    return (
        f"Origin {clip(origin, 80)} is not this site ({clip(f'{scheme}://{host}', 80)}); behind"
        " a reverse proxy, it must pass X-Forwarded-Host and X-Forwarded-Proto"
    )
