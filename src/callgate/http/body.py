"""Request bodies of the admin API: a JSON object, read within bounds, or a 400.

Whatever a client sends must end as a 4xx, never a 500 or a stack that runs out: bodies are
UTF-8 JSON objects nested at most :data:`MAX_NESTING` deep, and Python's extensions to JSON
(NaN, Infinity) are refused. A body must arrive within the app's :data:`BODY_TIMEOUT`
(``[ops] http_body_timeout``): a client trickling it is answered 408 and closed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from aiohttp import web

#: Our bodies are flat objects; anything nested deeper is refused before the parser recurses.
MAX_NESTING = 8
#: Seconds a body has to arrive, set on the application (default: :data:`DEFAULT_BODY_TIMEOUT`).
BODY_TIMEOUT: Final = web.AppKey("body_timeout", float)
DEFAULT_BODY_TIMEOUT: Final = 10.0


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


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object (``{}`` without a body); raises 400 (413 past
    ``client_max_size``, from aiohttp) for anything else."""
    if not request.can_read_body:
        return {}
    timeout = request.config_dict.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT)
    try:
        async with asyncio.timeout(timeout):
            raw = await request.read()  # 413 past client_max_size, raised by aiohttp
    except TimeoutError:
        # The connection is closed after the answer (bounds.py): its body is still coming.
        raise web.HTTPRequestTimeout(reason=f"body not received within {timeout:g} s") from None
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
