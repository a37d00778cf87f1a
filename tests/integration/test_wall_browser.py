"""The wall screen in a real browser during real lab calls (issue #24 items 2 and 3): every
panel on the screen without scrolling at 1920x1080 and 1366x768, call-takers by name with their
phone registered or not, connected calls apart from waiting ones, and today's figures (the
journal's, in the centre's zone) the same after a daemon restart.

Screenshots at both sizes go to the test's tmp folder; with CALLGATE_DOCS_SCREENSHOTS=1 also to
docs/screenshots/ (scripts/wallboard_screenshots.py makes the README's from a made-up centre).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import labpeers
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from wallboard_screenshots import browser, fit, log_in

from .conftest import Daemon, wait_for

pytestmark = pytest.mark.integration

NAMES = {"1001": "Budi Santoso", "1002": "Sari Dewi"}
ENV = {
    "CALLGATE_OPS__COOKIE_SECURE": "false",  # the lab is plain http on 127.0.0.1
    # 1002 is configured but its phone is not started: "not registered" on the board.
    "CALLGATE_CALLTAKERS__ENDPOINTS": '["PJSIP/1001", "PJSIP/1002"]',
    "CALLGATE_CALLTAKERS__NAMES": '{"1001": "Budi Santoso", "1002": "Sari Dewi"}',
    "CALLGATE_CENTRE__TIMEZONE": "WITA",
    "CALLGATE_WALLBOARD__SOUND": "true",
    "CALLGATE_WALLBOARD__SOUND_AFTER": "5",
}
FIRST, SECOND, THIRD = "081199300011", "081199300012", "081199300013"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: The figures a restart must not change (``since`` says whether they were the journal's).
FIGURES = ("day", "calls", "answered", "within", "abandoned", "fallback", "nuisance", "ghost")


@pytest.fixture
def driver() -> Iterator[WebDriver]:
    if shutil.which("chromedriver") is None:
        pytest.fail("chromium-driver is missing: run scripts/setup", pytrace=False)
    opened = browser()
    yield opened
    opened.quit()


def _shot(driver: WebDriver, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / f"{name}.png"))
    if os.environ.get("CALLGATE_DOCS_SCREENSHOTS") == "1":
        shutil.copy(tmp_path / f"{name}.png", DOCS_SCREENSHOTS / f"{name}.png")


def _today(driver: WebDriver) -> dict[str, Any] | None:
    found: dict[str, Any] | None = driver.execute_script("return window.callgateBoard.today")
    return found


def _rows(driver: WebDriver, table: str) -> list[str]:
    # Read in one script: the page rebuilds its rows every second (a row found, then asked for
    # its attribute, may be gone by then).
    found: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(`#${arguments[0]} tbody tr[data-call-id]`)]"
        ".map((r) => r.dataset.callId)",
        table,
    )
    return found


def _row(driver: WebDriver, selector: str) -> dict[str, Any]:
    """A row's text and its phone cell's ``data-registered``, read at once."""
    found: dict[str, Any] = driver.execute_script(
        "const r = document.querySelector(arguments[0]);"
        "const p = r && r.querySelector('td.phone');"
        "return r && {text: r.textContent, registered: p && p.dataset.registered};",
        selector,
    )
    return found


def _log_in(driver: WebDriver, daemon: Daemon) -> None:
    # A fresh log-in whether or not the browser's session outlived the daemon.
    driver.delete_all_cookies()
    log_in(driver, f"{daemon.admin_url()}/wallboard", *labpeers.LAB_SUPERVISOR, timeout=15)


@pytest.mark.daemon_env(**ENV)
def test_the_wall_fits_both_screens_during_calls_and_its_figures_survive_a_restart(
    daemon: Daemon,
    driver: WebDriver,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
    tmp_path: Path,
) -> None:
    (calltaker,) = phones("1001")
    wait_for(lambda: bool(daemon.records("ready: taking calls")), 20, "the daemon")
    _log_in(driver, daemon)
    # One call answered and ended: today's figures hold it.
    first = carrier([FIRST], talk_seconds=3)
    assert first.wait(timeout=40) == 0, first.errors()
    WebDriverWait(driver, 15).until(lambda d: (_today(d) or {}).get("calls") == 1)

    # Two callers at once: 1001 answers one, the other waits (1002's phone is not registered)
    # and hangs up after 25 s, abandoned.
    both = carrier([SECOND, THIRD], talk_seconds=25)
    WebDriverWait(driver, 20).until(lambda d: _rows(d, "connected") and _rows(d, "calls"))
    (talking,) = _rows(driver, "connected")
    (waiting,) = _rows(driver, "calls")
    assert talking != waiting
    assert NAMES["1001"] in _row(driver, f'#connected tr[data-call-id="{talking}"]')["text"]
    # Call-takers by name, with their phone registered or not.
    budi = _row(driver, '#agents tr[data-agent-id="1001"]')
    sari = _row(driver, '#agents tr[data-agent-id="1002"]')
    assert NAMES["1001"] in budi["text"]
    assert NAMES["1002"] in sari["text"]
    assert (budi["registered"], sari["registered"]) == ("true", "false")
    # Every panel on the screen, nothing to scroll, at both sizes (fit raises otherwise).
    for width, height in ((1920, 1080), (1366, 768)):
        measured = fit(driver, width, height)
        assert measured["scroll"][1] <= height
        assert _rows(driver, "connected") == [talking], "the call ended before the check"
        _shot(driver, tmp_path, f"wallboard-lab-{width}x{height}")
    # The waiting caller passed [wallboard] sound_after (5 s): the page's alert is due.
    WebDriverWait(driver, 15).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-alert") == "waited"
    )
    assert both.wait(timeout=60) == 0, both.errors()
    WebDriverWait(driver, 30).until(lambda d: (_today(d) or {}).get("calls") == 3)
    before = _today(driver)
    assert before is not None
    assert before["day"] == datetime.now(ZoneInfo("Asia/Makassar")).date().isoformat()
    assert (before["answered"], before["abandoned"]) == (2, 1)
    shown = driver.execute_script("return document.getElementById('n-calls').textContent")

    daemon.stop()
    daemon.start()
    wait_for(lambda: len(daemon.records("ready: taking calls")) >= 2, 30, "the restarted daemon")
    _log_in(driver, daemon)
    # Read from the journal in the background at start: the same figures, not zero.
    WebDriverWait(driver, 30).until(
        lambda d: (_today(d) or {}).get("calls") == 3 and _today(d)["since"] is None  # type: ignore[index]
    )
    after = _today(driver)
    assert after is not None
    assert {k: after[k] for k in FIGURES} == {k: before[k] for k in FIGURES}
    now_shown = driver.execute_script("return document.getElementById('n-calls').textContent")
    assert now_shown == shown == "3"
    del calltaker
