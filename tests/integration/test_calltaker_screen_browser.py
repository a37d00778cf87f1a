"""The call-taker's screen and the feature-code card in a real browser against the lab daemon
(issue #24 items 5, 7 and 8): a call-taker logs in from the screen, is offered only what their
state allows, pauses with "prayer" and the daemon shows them paused with that reason, the audit
line naming them; the card shows this centre's digits and prints on one A4 page.

Debian's chromium, headless, through selenium (tests/integration/test_wallboard_browser.py's
set-up). Every wait is bounded polling on a condition: the lab shares two cores.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import labpeers
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.print_page_options import PrintOptions
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from wallboard_screenshots import browser, log_in

from .conftest import Daemon, wait_for

pytestmark = pytest.mark.integration

#: The lab's reasons for this test: not the shipped list, so the page shows it got them.
REASONS = {"2": "prayer", "7": "debrief"}
ENV = {
    "CALLGATE_OPS__COOKIE_SECURE": "false",  # the lab is plain http on 127.0.0.1
    "CALLGATE_CALLTAKERS__ENDPOINTS": '["PJSIP/1001"]',
    "CALLGATE_AGI__PAUSE_REASONS": json.dumps(REASONS),
}
#: Seconds a page may take to follow the daemon (the stream's message after the command).
FOLLOW = 15


@pytest.fixture
def driver() -> Iterator[WebDriver]:
    if shutil.which("chromedriver") is None:
        pytest.fail("chromium-driver is missing: run scripts/setup", pytrace=False)
    opened = browser()
    yield opened
    opened.quit()


def _agent(daemon: Daemon, agent_id: str) -> dict[str, Any]:
    """The call-taker as the daemon shows them (``GET /api/agents``, the lab admin's token)."""
    request = urllib.request.Request(
        f"{daemon.admin_url()}/api/agents",
        headers={"Authorization": f"Bearer {labpeers.LAB_ADMIN_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        agents: list[dict[str, Any]] = json.loads(answer.read())["agents"]
    return next(a for a in agents if a["agent_id"] == agent_id)


def _my_state(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "my-actions").get_attribute("data-state") or ""


def _offered(driver: WebDriver) -> list[tuple[str, str]]:
    return [
        (b.get_attribute("data-action") or "", b.get_attribute("data-reason") or "")
        for b in driver.find_elements(By.CSS_SELECTOR, "#my-actions button")
        if b.is_displayed()
    ]


def _click(driver: WebDriver, selector: str) -> None:
    WebDriverWait(driver, FOLLOW).until(lambda d: d.find_element(By.CSS_SELECTOR, selector)).click()


def _wait_state(driver: WebDriver, state: str) -> None:
    WebDriverWait(driver, FOLLOW).until(lambda d: _my_state(d) == state)


@pytest.mark.daemon_env(**ENV)
def test_given_the_screen_when_the_call_taker_logs_in_and_pauses_for_prayer_then_the_daemon_has_it(
    daemon: Daemon,
    driver: WebDriver,
    phones: Callable[..., list[labpeers.Softphone]],
    tmp_path: Path,
) -> None:
    (calltaker,) = phones("1001")
    wait_for(lambda: bool(daemon.records("ready: taking calls")), 15, "the daemon")
    log_in(driver, f"{daemon.admin_url()}/screen", *labpeers.LAB_CALLTAKER, timeout=FOLLOW)
    WebDriverWait(driver, FOLLOW).until(lambda d: _my_state(d) != "")
    # The configured reasons have arrived (GET api/screen answers beside the live stream).
    WebDriverWait(driver, FOLLOW).until(
        lambda d: (
            d.find_element(By.TAG_NAME, "body").get_attribute("data-reasons")
            == ",".join(REASONS.values())
        )
    )
    if _my_state(driver) != "LOGGED_OUT":  # an earlier test's call-taker, still logged in
        _click(driver, "#my-actions button[data-action=logout]")
        _wait_state(driver, "LOGGED_OUT")
    # Logged out: logging in is all there is (no pause button).
    WebDriverWait(driver, FOLLOW).until(lambda d: _offered(d) == [("login", "")])
    assert driver.find_element(By.ID, "my-state").text == "Tidak bertugas"

    _click(driver, "#my-actions button[data-action=login]")
    _wait_state(driver, "AVAILABLE")
    wait_for(lambda: _agent(daemon, "1001")["state"] == "AVAILABLE", FOLLOW, "the log-in")
    # Every configured reason, in Indonesian, and no other; a log-out; no "unpause".
    offered = _offered(driver)
    assert [r for a, r in offered if a == "pause"] == list(REASONS.values())
    assert ("logout", "") in offered
    assert ("unpause", "") not in offered
    prayer = driver.find_element(By.CSS_SELECTOR, "#my-actions button[data-reason=prayer]")
    assert prayer.text == "Jeda: Salat"

    prayer.click()
    _wait_state(driver, "PAUSED")
    wait_for(
        lambda: (
            (a := _agent(daemon, "1001"))["state"] == "PAUSED" and a.get("pause_reason") == "prayer"
        ),
        FOLLOW,
        "the daemon to show 1001 paused for prayer",
    )
    WebDriverWait(driver, FOLLOW).until(
        lambda d: d.find_element(By.ID, "my-reason").get_attribute("data-reason") == "prayer"
    )
    assert driver.find_element(By.ID, "my-reason").text == "Salat"
    assert [a for a, _ in _offered(driver)] == ["unpause", "logout"]  # no second pause
    # The audit line names the authenticated call-taker, not anything the page sent.
    (line,) = [
        r
        for r in daemon.records("admin command")
        if r.get("action") == "pause" and r.get("agent_id") == "1001"
    ]
    assert line["by"] == labpeers.LAB_CALLTAKER[0]
    assert line["reason"] == "prayer"
    driver.save_screenshot(str(tmp_path / "screen-paused.png"))

    _click(driver, "#my-actions button[data-action=logout]")
    _wait_state(driver, "LOGGED_OUT")
    wait_for(lambda: _agent(daemon, "1001")["state"] == "LOGGED_OUT", FOLLOW, "the log-out")
    del calltaker


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


@pytest.mark.daemon_env(**ENV)
def test_the_feature_code_card_shows_the_centres_digits_and_prints_on_one_a4_page(
    daemon: Daemon, driver: WebDriver, tmp_path: Path
) -> None:
    wait_for(lambda: bool(daemon.records("admin HTTP port listening")), 15, "the admin port")
    # Logged in on the screen, the card reads this centre's digits.
    log_in(driver, f"{daemon.admin_url()}/screen", *labpeers.LAB_CALLTAKER, timeout=FOLLOW)
    driver.get(f"{daemon.admin_url()}/card")
    WebDriverWait(driver, FOLLOW).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
    )
    rows = driver.find_elements(By.CSS_SELECTOR, "#reasons tr")
    assert [(r.get_attribute("data-digit"), r.text) for r in rows] == [
        ("2", "2 Salat"),
        ("7", "7 Evaluasi pascakejadian"),
    ]
    codes = [
        r.get_attribute("data-code") for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-code]")
    ]
    for code in ("*11", "*12", "*13X", "*14", "*15X", "**X", "*N", "#N"):
        assert code in codes
    driver.save_screenshot(str(tmp_path / "card.png"))
    options = PrintOptions()
    options.page_width, options.page_height = 21.0, 29.7  # A4, in cm
    pdf = base64.b64decode(driver.print_page(options))
    (tmp_path / "card.pdf").write_bytes(pdf)
    assert _pdf_pages(pdf) == 1
