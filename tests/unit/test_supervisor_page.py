"""The wallboard's supervisor tools (supervisor.js, #24): loaded by the wallboard, their own
words in Bahasa Indonesia first, shown to supervisors and admins only, and calling the routes
that exist (http/supervising.py and the port's own call-taker commands)."""

from __future__ import annotations

import re

from callgate.http.pages import ASSETS, asset
from callgate.http.supervising import SupervisorRoutes


def _script() -> str:
    return asset("supervisor.js").decode()


def test_the_wallboard_loads_the_tools_and_their_style_is_served() -> None:
    assert '<script src="assets/supervisor.js" defer></script>' in asset("wallboard.html").decode()
    assert ASSETS["supervisor.js"] == "text/javascript"
    assert ASSETS["supervisor.css"] == "text/css"
    assert 'href: "assets/supervisor.css"' in _script()


def test_every_word_the_tools_show_is_theirs_in_indonesian_and_in_english() -> None:
    script = _script()
    indonesian, english = script.split("\n  en: {")[0], script.split("\n  en: {")[1]
    used = set(re.findall(r'\bt\("([\w-]+)"\)', script))
    used |= set(re.findall(r'button\("(\w+)"', script))
    used |= set(re.findall(r'"(sup\w+)"\]', script))
    assert {"supListen", "supWhisper", "supBarge", "supAssign", "supLogin", "supLogout"} <= used
    for key in used:
        assert re.search(rf'\b"?{key}"?:', indonesian), key
        assert re.search(rf'\b"?{key}"?:', english), key
    for result in ("not-connected", "not-waiting", "not-free", "no-phone"):
        assert f'"sup_{result}":' in indonesian
        assert f'"sup_{result}":' in english


def test_the_tools_show_nothing_to_other_roles_and_follow_the_board() -> None:
    script = _script()
    assert 'cg.who.role === "supervisor" || cg.who.role === "admin"' in script
    assert "panel.hidden = true" in script
    assert 'addEventListener("callgate-board"' in script
    assert "window.callgateBoard" in script
    assert "new EventSource" not in script  # no second stream


async def _nobody(_request: object) -> None:
    return None


def test_the_tools_call_the_routes_that_exist() -> None:
    script = _script()
    routes = {path for _, path in SupervisorRoutes(None).routes(_nobody)}  # type: ignore[arg-type]
    assert "/api/calls/{call_id}/assign" in routes
    assert "`api/calls/${encodeURIComponent(c.call_id)}/assign`" in script
    assert "/api/monitor/{agent_id}" in routes
    assert "`api/monitor/${encodeURIComponent(id)}`" in script
    for action in ("login", "logout"):  # the port's own POST /api/agents/{id}/{action}
        assert f"`api/agents/${{encodeURIComponent(id)}}/{action}`" in script
