"""The inquiry pages of issue #23 as served: ``/calls`` ("Cari panggilan") and ``/call?id=``
(a call's timeline), their assets and headers, a form field for every filter of the search API's
contract, the actions only a supervisor or admin is shown, every word they name defined in
Bahasa Indonesia, and nothing loaded from outside the site. The pages' behaviour in a real
browser is tests/integration/test_inquiry_page_lab.py's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from callgate.daemon.health import Health
from callgate.http.pages import ASSETS, HEADERS, Pages, asset
from callgate.http.server import OpsHttp
from tests.unit.auth_users import authenticator

#: ``GET /api/calls/search``'s query parameters (the contract shared with the API's engineer).
FILTERS = ("caller", "since", "until", "calltaker", "outcome", "disposition", "tag", "fallback")


class Elements(HTMLParser):
    """Each start tag's name and attributes, with the ``class`` of its ancestors."""

    VOID = frozenset({"input", "meta", "link", "br", "img", "source"})

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None], list[str]]] = []
        self._open: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.found.append((tag, named, [c for _, c in self._open]))
        if tag not in self.VOID:
            self._open.append((tag, named.get("class") or ""))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass


def _elements(name: str) -> list[tuple[str, dict[str, str | None], list[str]]]:
    parser = Elements()
    parser.feed(asset(name).decode())
    return parser.found


def _by_id(name: str, element_id: str) -> tuple[str, dict[str, str | None], list[str]]:
    (found,) = [e for e in _elements(name) if e[1].get("id") == element_id]
    return found


@pytest.fixture
async def http() -> AsyncIterator[OpsHttp]:
    served = OpsHttp(
        object(),  # type: ignore[arg-type]  # the pages read no view
        Health(),
        CollectorRegistry(),
        authenticator=authenticator(),
        port=0,
        extensions=(Pages(),),
    )
    await served.start()
    yield served
    await served.stop()


async def test_the_search_and_the_timeline_are_served_open_with_the_strict_policy(
    http: OpsHttp,
) -> None:
    async with aiohttp.ClientSession() as client:
        for path, title in (("/calls", "Cari panggilan"), ("/call?id=1767.1", "Lini waktu")):
            async with client.get(f"{http.url}{path}") as r:
                assert r.status == 200  # open: the page logs in by itself
                assert r.content_type == "text/html"
                policy = r.headers["Content-Security-Policy"]
                text = await r.text()
            assert "script-src 'self'" in policy
            assert "media-src 'self'" in policy  # the recording's audio element, nothing else
            assert "default-src 'none'" in policy
            assert r.headers["X-Frame-Options"] == "DENY"
            assert title in text
            for script in ("common.js", "inquiry.js"):
                assert f'src="assets/{script}"' in text
        for script in ("inquiry.js", "calls.js", "call.js"):
            async with client.get(f"{http.url}/assets/{script}") as r:
                assert r.status == 200
                assert r.content_type == "text/javascript"
        for missing in ("calls.html", "call.html"):
            async with client.get(f"{http.url}/assets/{missing}") as r:
                assert r.status == 404


@pytest.mark.parametrize("page", ["calls.html", "call.html", "wallboard.html"])
def test_no_page_loads_anything_from_outside_the_site_nor_runs_inline_script(page: str) -> None:
    for tag, attrs, _ in _elements(page):
        for key in ("src", "href", "action"):
            value = attrs.get(key) or ""
            assert not re.match(r"^([a-z]+:)?//", value), f"{tag} {key}={value}"
            assert not value.startswith("/"), f"{tag} {key}={value}: not relative"
        if tag == "script":
            assert attrs.get("src"), "an inline script (the policy would refuse it)"
        assert not any(k.startswith("on") for k in attrs), f"inline handler on {tag}"


def test_the_search_form_has_every_filter_of_the_contract() -> None:
    fields = {
        attrs["name"]: (tag, attrs)
        for tag, attrs, _ in _elements("calls.html")
        if tag in ("input", "select") and attrs.get("name")
    }
    assert set(FILTERS) | {"per_page"} <= set(fields)
    script = asset("calls.js").decode()
    for name in FILTERS:
        assert f'"{name}"' in script  # sent by the page, not only shown
    assert 'set("format", "csv")' in script
    assert 'set("page"' in script
    assert fields["fallback"][0] == "select"
    assert fields["since"][1]["type"] == fields["until"][1]["type"] == "datetime-local"


def test_export_and_hold_are_shown_only_to_supervisors_and_admins() -> None:
    for element_id in ("export-form", "hold-form", "export", "hold", "unhold"):
        _, _, ancestors = _by_id("call.html", element_id)
        assert any("sup" in c.split() for c in ancestors), element_id
    _, reason, _ = next(
        e for e in _elements("call.html") if e[1].get("name") == "reason" and "required" in e[1]
    )
    assert reason.get("maxlength")
    # The rule that hides them (the API refuses them all the same).
    css = asset("style.css").decode()
    assert 'body:not([data-role="supervisor"]):not([data-role="admin"]) .sup' in css


def test_the_timeline_plays_the_recording_through_the_api_and_warns_on_a_refusal() -> None:
    tag, attrs, _ = _by_id("call.html", "player")
    assert tag == "audio"
    assert "controls" in attrs
    tag, attrs, _ = _by_id("call.html", "integrity-warning")
    assert attrs.get("role") == "alert"
    script = asset("call.js").decode()
    assert "status === 409" in script
    assert '"X-CSRF-Token": cg.who.csrf_token' in script  # the export names the person


def test_every_word_the_pages_name_is_defined_in_bahasa_indonesia() -> None:
    words = asset("common.js").decode() + asset("inquiry.js").decode()
    indonesian = words.split("en: {")[0] + asset("inquiry.js").decode().split("WORDS.en")[0]
    for page in ("calls.html", "call.html"):
        for _, attrs, _ in _elements(page):
            for key in (attrs.get("data-t"), attrs.get("data-tp")):
                if key:
                    assert re.search(rf'(^|[\s{{,])"?{re.escape(key)}"?:', indonesian), key


def test_the_wallboard_links_to_the_search() -> None:
    _, attrs, _ = _by_id("wallboard.html", "to-search")
    assert attrs["href"] == "calls"


def test_every_asset_is_in_the_package() -> None:
    for name in ASSETS:
        assert asset(name)
    assert "no-referrer" in HEADERS["Referrer-Policy"]
