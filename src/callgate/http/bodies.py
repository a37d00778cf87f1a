"""Request bodies of the admin API: UTF-8 JSON objects, no deeper than :data:`MAX_NESTING`.

A malformed body is a 400 (:class:`aiohttp.web.HTTPBadRequest`), never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

#: Our bodies are flat objects; anything nested deeper is refused before the parser recurses.
MAX_NESTING = 8


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await request.read()  # 413 past client_max_size, raised by aiohttp
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(reason="body is not UTF-8") from None
    # json recurses once per level: 100,000 "[" would end in RecursionError, a 500. Checked
    # first, by a scan that does not recurse.
    if _nesting(text) > MAX_NESTING:
        raise web.HTTPBadRequest(reason=f"body nests deeper than {MAX_NESTING} levels")
    try:
        # NaN and Infinity are Python's extensions, not JSON; a number too long to convert
        # (over 4300 digits) raises ValueError here as well.
        body = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise web.HTTPBadRequest(reason="body is not valid JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="body must be a JSON object")
    return body
