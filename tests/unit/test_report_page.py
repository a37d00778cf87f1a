"""The managers' report page of issue #24 as served: ``/reports`` and its assets, open (it logs
in by itself) with the strict policy, nothing loaded from outside the site nor inline, a field
for every parameter of ``GET /api/reports``, and every word it shows defined in Bahasa
Indonesia and in English. Its behaviour in a real browser is
tests/integration/test_reports_browser.py's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from callgate.daemon.health import Health
from callgate.http.pages import Pages, asset
from callgate.http.server import OpsHttp
from tests.unit.auth_users import authenticator
from tests.unit.test_inquiry_pages import _elements


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


async def test_the_report_page_is_served_open_with_the_strict_policy(http: OpsHttp) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{http.url}/reports") as r:
            assert r.status == 200
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            text = await r.text()
        assert "Laporan" in text
        for name, kind in (("reports.js", "text/javascript"), ("reports.css", "text/css")):
            async with client.get(f"{http.url}/assets/{name}") as r:
                assert r.status == 200
                assert r.content_type == kind
        async with client.get(f"{http.url}/assets/reports.html") as r:
            assert r.status == 404


def test_the_page_loads_nothing_from_outside_nor_inline() -> None:
    for tag, attrs, _ in _elements("reports.html"):
        for key in ("src", "href", "action"):
            value = attrs.get(key) or ""
            assert not re.match(r"^([a-z]+:)?//", value), f"{tag} {key}={value}"
            assert not value.startswith("/"), f"{tag} {key}={value}: not relative"
        if tag == "script":
            assert attrs.get("src")
        assert not any(k.startswith("on") for k in attrs), f"inline handler on {tag}"
    script = asset("reports.js").decode()
    assert "http" not in script.replace("http://www.w3.org/2000/svg", "")  # no CDN, no library
    assert "createElementNS" in script  # the charts are drawn by the page


def test_the_form_has_every_parameter_of_the_api() -> None:
    fields = {a["name"] for t, a, _ in _elements("reports.html") if a.get("name")}
    assert {"kind", "day", "month", "shift", "agent"} <= fields
    kinds = {a["value"] for t, a, _ in _elements("reports.html") if t == "option"}
    assert {"day", "shift", "month", "calltaker"} <= kinds
    script = asset("reports.js").decode()
    assert 'csv.set("format", "csv")' in script
    assert "api/reports/options" in script


def test_every_word_of_the_page_is_in_indonesian_and_english() -> None:
    script = asset("reports.js").decode()
    indonesian, english = script.split("  en: {")
    english = english.split("\n});")[0]
    shared = asset("common.js").decode().split("en: {")[0]
    used = {a.get("data-t") for _, a, _ in _elements("reports.html")} - {None}
    used |= set(re.findall(r't\("(r_[A-Za-z_]+)"\)', script))
    for key in sorted(k for k in used if k):
        pattern = rf'(^|[\s{{,])"?{re.escape(key)}"?:'
        assert re.search(pattern, indonesian) or re.search(pattern, shared), key
        if key.startswith("r_"):
            assert re.search(pattern, english), key
