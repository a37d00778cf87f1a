"""The wallboard's page (wallboard.js) shows no server word raw: the configured pause reasons
(``GET /api/screen``, a supervisor's page only: a wall screen may not read it) by their names,
a call-taker's reason and pending pause translated, the command results in words, the
category, component and tag words through common.js's helpers, and the clock in the centre's
zone. The supervisor's drawer sits out of the page's flow (the wall fits its screen)."""

from __future__ import annotations

import re

from callgate.auth import Role
from callgate.daemon.dispositions import BlockOutcome
from callgate.http.pages import asset
from callgate.http.server import DISPLAY_ROUTES
from callgate.ports import AgentCommandResult


def _script() -> str:
    return asset("wallboard.js").decode()


def _languages(script: str) -> tuple[str, str]:
    words = script.split("addWords(")[1].split("});")[0]
    indonesian, english = words.split("\n  en: {")
    return indonesian, english


def test_every_command_result_has_its_words_in_both_languages() -> None:
    indonesian, english = _languages(_script())
    for result in AgentCommandResult:
        assert f"ac_{result.value}:" in indonesian, result
        assert f"ac_{result.value}:" in english, result
    for outcome in BlockOutcome:
        key = f"bk_{outcome.value}"
        assert re.search(rf'"?{key}"?:', indonesian), key
        assert re.search(rf'"?{key}"?:', english), key
    # What the daemon answered when it had no result word (its own "unavailable").
    assert "bk_unavailable:" in indonesian


def test_no_server_word_is_shown_raw() -> None:
    script = _script()
    assert 'word("ac_", answer.body.result)' in script
    assert 'word("bk_", answer.body.result)' in script
    assert "${answer.body.result}" not in script
    assert "reasonName(a.pause_reason)" in script
    assert "reasonName(a.pending_pause)" in script
    assert 'board.reasons.map((r) => el("option", { value: r }, reasonName(r)))' in script
    assert "PAUSE_REASONS.map" not in script
    assert 'word("cat_", c.category)' in script
    assert 'word("c_", name)' in script
    assert 't("sinceUnknown")' in script
    assert "tagText(tag)" in script
    # common.js's helpers are used, not shadowed by the page's own of the same name.
    assert "function word(" not in script
    assert "function tagText(" not in script
    assert "cg.zone = board.settings.timezone" in script


def test_a_wall_screen_makes_no_read_it_may_not_make() -> None:
    script = _script()
    # GET api/screen and GET api/calls are a supervisor's page's reads only.
    assert ("GET", "/api/screen") not in DISPLAY_ROUTES
    assert ("GET", "/api/calls") not in DISPLAY_ROUTES
    for reader in ("loadReasons", "loadRecent"):
        body = script.split(f"async function {reader}() {{")[1].split("\n}\n")[0]
        assert body.lstrip().startswith("if (!mayAct()) return;"), reader
    assert Role.DISPLAY.value == "display"


def test_the_supervisor_s_tools_are_a_drawer_out_of_the_page_s_flow() -> None:
    tools = asset("supervisor.js").decode()
    style = asset("supervisor.css").decode()
    assert 'el("details", { id: "supervisor-tools"' in tools
    assert "document.body.append(panel)" in tools
    assert re.search(r"\.sup-panel \{ position: fixed;", style)
