"""The call-taker's screen and the feature-code card (issue #24 items 5 and 7) as served:
``GET /api/screen`` (the configured pause reasons, dispositions and agencies by digit, the
centre's zone; a reload's change at the next request), ``/card`` and its print style, and
every word the screen and the card show defined in Bahasa Indonesia and in English, without
the terms a call-taker would not use. The pages in a real browser are
tests/integration/test_calltaker_screen_browser.py's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from callgate.asterisk.settings import DEFAULT_PAUSE_REASONS
from callgate.config import Settings
from callgate.daemon.health import Health
from callgate.http.pages import ASSETS, Pages, asset
from callgate.http.screen_info import ScreenInfo
from callgate.http.server import OpsHttp
from tests.unit.auth_users import authenticator, bearer

CONFIG = {
    "agi": {"pause_reasons": {"2": "prayer", "1": "break", "3": "toilet"}},
    "roster": {"timezone": "WITA"},
    "agencies": {"damkar": {"dial": "PJSIP/damkar-secret-trunk", "digit": "1"}},
}


class Running:
    """The running configuration as the reloader holds it: replaced whole by a reload."""

    def __init__(self) -> None:
        self.settings = Settings.model_validate(CONFIG)

    def __call__(self) -> Settings:
        return self.settings


@pytest.fixture
def running() -> Running:
    return Running()


@pytest.fixture
async def http(running: Running) -> AsyncIterator[OpsHttp]:
    served = OpsHttp(
        object(),  # type: ignore[arg-type]  # these routes read no view
        Health(),
        CollectorRegistry(),
        authenticator=authenticator(),
        port=0,
        extensions=(Pages(), ScreenInfo(running, history_days=90)),
    )
    await served.start()
    yield served
    await served.stop()


async def test_given_a_call_taker_then_the_screen_gets_every_configured_reason_by_digit(
    http: OpsHttp, running: Running
) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{http.url}/api/screen") as r:
            assert r.status == 401
        async with client.get(f"{http.url}/api/screen", headers=bearer("ct1001")) as r:
            assert r.status == 200
            body = await r.json()
        assert body["pause_reasons"] == [
            {"digit": "1", "reason": "break"},
            {"digit": "2", "reason": "prayer"},
            {"digit": "3", "reason": "toilet"},
        ]
        assert body["default_pause_reason"] == "unspecified"
        assert body["timezone"] == "Asia/Makassar"
        assert body["history_days"] == 90
        assert body["dispositions"][2] == {"digit": "3", "disposition": "prank"}
        assert body["agencies"] == [{"digit": "1", "agency": "damkar"}]
        assert "PJSIP" not in str(body)  # no dial string reaches a screen
        # A reload replaces the running configuration: the next answer follows it.
        running.settings = Settings.model_validate(
            {"agi": {"pause_reasons": {"7": "debrief"}}, "roster": {"timezone": "Asia/Jayapura"}}
        )
        async with client.get(f"{http.url}/api/screen", headers=bearer("sup")) as r:
            body = await r.json()
        assert body["pause_reasons"] == [{"digit": "7", "reason": "debrief"}]
        assert body["timezone"] == "Asia/Jayapura"
        assert body["agencies"] == []


async def test_the_card_is_served_open_with_its_own_print_style(http: OpsHttp) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{http.url}/card") as r:
            assert r.status == 200
            assert r.content_type == "text/html"
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            text = await r.text()
        for name in ("card.js", "card.css", "common.js"):
            assert f'"assets/{name}"' in text
            async with client.get(f"{http.url}/assets/{name}") as r:
                assert r.status == 200
        async with client.get(f"{http.url}/assets/card.html") as r:
            assert r.status == 404


def test_the_card_names_every_feature_code_and_prints_on_a4() -> None:
    card = asset("card.html").decode()
    for code in ("*11", "*12", "*13", "*13X", "*14", "*15X", "**X", "*N", "#N"):
        assert f'data-code="{code}"' in card, code
    css = asset("card.css").decode()
    assert re.search(r"@page\s*\{[^}]*size:\s*A4", css)
    assert "@media print" in css
    script = asset("card.js").decode()
    assert '"api/screen"' in script  # the digits of this centre, not only the defaults


def _keys(script: str, lang: str) -> set[str]:
    """The keys of the ``lang`` block of WORDS or of addWords in ``script`` (plain parsing:
    every page writes ``key: "..."`` or ``"key-x": "..."``, a block ending at ``\\n  },``)."""
    found: set[str] = set()
    for block in re.findall(rf"\n  {lang}: \{{(.*?)\n  \}},", script, re.S):
        found |= {a or b for a, b in re.findall(r'(?:"([\w-]+)"|(\w+)):\s*"', block)}
    return found


@pytest.mark.parametrize(
    ("page", "script"), [("screen.html", "screen.js"), ("card.html", "card.js")]
)
def test_every_word_the_page_shows_is_in_bahasa_indonesia_and_english(
    page: str, script: str
) -> None:
    common = asset("common.js").decode()
    own = asset(script).decode()
    shown = set(re.findall(r'data-t="([\w-]+)"', asset(page).decode()))
    shown |= set(re.findall(r'\bt\("([\w-]+)"\)', own))
    for lang in ("id", "en"):
        defined = _keys(common, lang) | _keys(own, lang)
        assert shown - defined == set(), lang


def test_the_shared_words_are_ones_a_call_taker_uses() -> None:
    common = asset("common.js").decode()
    indonesian = re.search(r"\n  id: \{(.*?)\n  \},", common, re.S)
    assert indonesian is not None
    words = dict(re.findall(r'(?:"?([\w-]+)"?):\s*"([^"]*)"', indonesian.group(1)))
    # The list: on a call is not "phoning", a new call is not "log-in", ...
    for wrong in ("Menelepon", "Selesai-catat", "Ditinggal"):
        assert wrong not in words.values(), wrong
    assert words["st_ARRIVED"] != words["login"]
    assert words["st_LOGGED_OUT"] != words["logout"]
    # Every default pause reason, disposition, role and component has its words in both.
    for lang in ("id", "en"):
        keys = _keys(common, lang)
        wanted = {f"p_{r}" for r in DEFAULT_PAUSE_REASONS.values()} | {"p_unspecified"}
        wanted |= {f"d_{d}" for d in Settings().dispositions.codes.values()}
        wanted |= {"r_call-taker", "r_supervisor", "r_admin", "c_database", "cat_repeat-nuisance"}
        wanted |= {"tw_PRANK", "tw_GHOST", "tw_ANON", "sinceUnknown"}
        assert wanted - keys == set(), lang
    assert 'PAUSE_REASONS = ["break", "prayer",' in common


def test_the_screen_offers_only_what_the_state_allows_and_dates_in_id_id() -> None:
    script = asset("screen.js").decode()
    offers = re.search(r"const OFFERS = \{(.*?)\n\};", script, re.S)
    assert offers is not None
    table = dict(re.findall(r"(\w+): \[([^\]]*)\]", offers.group(1)))
    assert table["LOGGED_OUT"] == '"login"'  # no pause while logged out
    assert '"pause"' not in table["PAUSED"]
    assert '"unpause"' in table["PAUSED"]
    assert "en-GB" not in script  # common.js's dateTime(): id-ID, English as the switch
    assert "toFixed" not in script  # no "Skor gangguan 1.20": the history in words
    assert '"id-ID"' in asset("common.js").decode()
    assert {"card.html", "card.js", "card.css"} <= set(ASSETS)
