"""A wall screen and a person's browser in a real browser, through a daemon restart (#24 item 1).

An admin makes a display token with ``callgate users display add``; the wallboard opened once
at the printed address shows the centre read-only (no button, no form, no field, no link shown
but the sound switch), and after the daemon is stopped and started again, still does without a
log-in, as a supervisor's browser stays logged in; the board renders whole (no script error in
the browser's console, today's figure the daemon's). The token reaches neither the daemon's log
nor the page's address. Revoked, the open screen clears its board and asks to log in.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import labpeers
import pytest
from selenium import webdriver
from selenium.common.exceptions import JavascriptException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from wallboard_screenshots import browser, log_in

from .conftest import Daemon, run_cli, wait_for

pytestmark = pytest.mark.integration

ENV = {
    "CALLGATE_OPS__COOKIE_SECURE": "false",  # the lab is plain http on 127.0.0.1
    "CALLGATE_CALLTAKERS__ENDPOINTS": '["PJSIP/1001"]',
}
#: Everything a person could act with; a wall screen shows none.
CONTROLS = "button, form, input, select, textarea, a"
#: From the daemon's start to the page's live stream again: the stream retries with a growing
#: pause (at most 30 s), and the shared lab machine is slow at times.
BACK_LIVE = 60.0


@pytest.fixture
def drivers() -> Iterator[list[WebDriver]]:
    if shutil.which("chromedriver") is None:
        pytest.fail("chromium-driver is missing: run scripts/setup", pytrace=False)
    opened: list[WebDriver] = []
    yield opened
    for driver in opened:
        driver.quit()


#: Read in one script, so a page that reloads meanwhile (the token traded) is read whole or not.
SHOWN = """const body = document.body;
return body.dataset.role === arguments[0] && body.dataset.live === arguments[1]
  && document.querySelectorAll("#agents tbody tr").length > 0;"""


def _board(driver: WebDriver, role: str, timeout: float, live: str = "1") -> None:
    """The page is logged in as ``role``, its live stream open (``live`` "1") and call-taker
    1001 shown; or, with ``live`` "0", the stream lost."""
    WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.2,
        ignored_exceptions=(JavascriptException, StaleElementReferenceException),
    ).until(lambda d: d.execute_script(SHOWN, role, live))


def _screen_browser() -> WebDriver:
    """The wall screen's chromium, as a kiosk runs it (sound allowed), its console kept."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--lang=id",
        "--window-size=1920,1200",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(arg)  # fmt: skip
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def _script_errors(driver: WebDriver) -> list[str]:
    """The console's errors of the page's scripts since the last look (a failed request while
    the daemon is down, or a 401, is the network's, not a script's)."""
    entries = driver.get_log("browser")  # type: ignore[attr-defined]
    return [
        str(e["message"])
        for e in entries
        if e.get("level") == "SEVERE" and e.get("source") != "network"
    ]


def _today_calls(url: str) -> str:
    """Today's calls as the daemon's live snapshot says (what the board's tile must show)."""
    request = urllib.request.Request(
        f"{url}/api/live", headers={"Authorization": f"Bearer {labpeers.LAB_ADMIN_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=15) as stream:
        for raw in stream:
            line = raw.decode("utf-8")
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("type") == "snapshot":
                    today = message.get("today") or {}
                    return str(today.get("calls", 0))
    raise AssertionError("no snapshot on the live stream")


def _read_only(driver: WebDriver, url: str) -> None:
    shown = [
        e.get_attribute("outerHTML")
        for e in driver.find_elements(By.CSS_SELECTOR, CONTROLS)
        if e.is_displayed() and e.get_attribute("id") != "sound"
    ]
    assert shown == []
    assert len(driver.find_elements(By.ID, "sound")) == 1  # a wall rings too
    assert "#display" not in driver.current_url
    expected = _today_calls(url)
    WebDriverWait(driver, 15, poll_frequency=0.2).until(
        lambda d: d.find_element(By.ID, "n-calls").text == expected
    )
    assert _script_errors(driver) == []


@pytest.mark.daemon_env(**ENV)
def test_given_a_display_token_then_a_read_only_board_through_a_daemon_restart(
    daemon: Daemon, drivers: list[WebDriver], tmp_path: Path
) -> None:
    wait_for(lambda: bool(daemon.records("admin HTTP port listening")), 15, "the admin port")
    made = run_cli("users", "display", "add", "lobby")
    assert made.returncode == 0, made.stderr
    address = made.stdout.strip()
    assert address.startswith(f"{daemon.admin_url()}/wallboard#display=")
    token = address.rsplit("=", 1)[1]
    screen, person = _screen_browser(), browser()
    drivers.extend([screen, person])
    screen.get(address)
    _board(screen, "display", 15)
    _read_only(screen, daemon.admin_url())
    log_in(person, f"{daemon.admin_url()}/wallboard", *labpeers.LAB_SUPERVISOR, timeout=15)
    screen.save_screenshot(str(tmp_path / "display-before.png"))

    daemon.stop()
    _board(screen, "display", 15, live="0")
    daemon.start()
    listening = "admin HTTP port listening"
    wait_for(lambda: len(daemon.records(listening)) == 2, 30, "the admin port again")
    # The open page's stream comes back by itself; a page loaded anew is let in by its cookie.
    _board(screen, "display", BACK_LIVE)
    _read_only(screen, daemon.admin_url())  # the reconnected board rendered whole
    screen.refresh()
    _board(screen, "display", 15)
    _read_only(screen, daemon.admin_url())
    person.refresh()
    _board(person, "supervisor", 15)
    assert not person.find_element(By.ID, "login-form").is_displayed()
    screen.save_screenshot(str(tmp_path / "display-after.png"))
    assert token not in daemon.log_text()
    assert "display:lobby" in daemon.log_text()  # its session started, by name
    # Every read the board made as the wall screen is one a display may make: none refused
    # (a supervisor's reads, the pause reasons and recent calls, are skipped for it).
    refused = daemon.records("admin API: refused by role")
    assert [r for r in refused if r.get("by") == "display:lobby"] == []

    listed = run_cli("users", "display", "list")
    assert listed.returncode == 0, listed.stderr
    assert "lobby" in listed.stdout
    revoked = run_cli("users", "display", "revoke", "lobby")
    assert revoked.returncode == 0, revoked.stderr
    # Its open stream ends; the page finds its session gone and asks to log in by itself,
    # no caller's number left on the wall.
    WebDriverWait(
        screen,
        15,
        poll_frequency=0.2,
        ignored_exceptions=(StaleElementReferenceException, JavascriptException),
    ).until(
        lambda d: (
            d.find_element(By.ID, "login-form").is_displayed()
            and d.execute_script("return document.body.dataset.role === undefined")
        )
    )
    assert screen.find_elements(By.CSS_SELECTOR, "#agents tbody tr") == []
    assert _script_errors(screen) == []
