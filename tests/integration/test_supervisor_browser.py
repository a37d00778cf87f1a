"""The wallboard's supervisor tools in a real browser during real lab calls (#24 items 4, 8):
the supervisor listens to a live call and barges in from the board (their phone, extension
1009, is sent the conversation's audio), logs a call-taker out and in, and gives a waiting
caller to a chosen call-taker; the audit trail names them.

Debian's chromium, headless, through selenium, as tests/integration/test_wallboard_browser.py.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path

import labpeers
import pytest
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from wallboard_screenshots import browser, log_in

from .conftest import Daemon, wait_for

pytestmark = pytest.mark.integration

_RUN = f"{int(time.time()) % 10**7:07d}"
SUPERVISOR = labpeers.LAB_SUPERVISOR[0]
ENV = {
    "CALLGATE_OPS__COOKIE_SECURE": "false",  # the lab is plain http on 127.0.0.1
    "CALLGATE_CALLTAKERS__ENDPOINTS": '["PJSIP/1001", "PJSIP/1002"]',
    "CALLGATE_CALLTAKERS__WRAP_UP_TIME": "1",
    "CALLGATE_CALLTAKERS__RING_TIMEOUT": "60",
}


@pytest.fixture
def driver() -> Iterator[WebDriver]:
    if shutil.which("chromedriver") is None:
        pytest.fail("chromium-driver is missing: run scripts/setup", pytrace=False)
    opened = browser()
    yield opened
    opened.quit()


def _tool(driver: WebDriver, selector: str, timeout: float = 15) -> WebElement:
    # The tools are in a drawer, closed until the supervisor opens it.
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "const p = document.getElementById('supervisor-tools');"
            "if (p) p.open = true; return !!p;"
        )
    )
    found: WebElement = WebDriverWait(driver, timeout).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f"#supervisor-tools {selector}")
    )
    return found


def _click(driver: WebDriver, selector: str, timeout: float = 15) -> None:
    """Click a control of the panel, again if the panel redrew it under the click."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _tool(driver, selector, max(0.1, deadline - time.monotonic())).click()
            return
        except (
            StaleElementReferenceException,
            ElementClickInterceptedException,
            NoSuchElementException,
            TimeoutException,
        ):  # the board redrew the panel under the click: find it again
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _supervisor_leg() -> list[str]:
    listed = labpeers.ari_get("/channels")
    assert isinstance(listed, list)
    return [str(c["id"]) for c in listed if str(c["id"]).startswith("supervisor-")]


def _sent_to(channel_id: str) -> int:
    try:
        stats = labpeers.ari_get(f"/channels/{channel_id}/rtp_statistics")
    except urllib.error.HTTPError:
        return 0
    assert isinstance(stats, dict)
    return int(stats.get("txcount", 0))


def _joined(daemon: Daemon, mode: str) -> int:
    return sum(1 for r in daemon.records("supervisor joined the call") if r.get("mode") == mode)


@pytest.mark.daemon_env(**ENV)
def test_a_supervisor_listens_and_barges_from_the_wallboard(
    daemon: Daemon,
    driver: WebDriver,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
    tmp_path: Path,
) -> None:
    calltaker, own_phone = phones("1001", labpeers.LAB_SUPERVISOR_PHONE)
    log_in(driver, f"{daemon.admin_url()}/wallboard", *labpeers.LAB_SUPERVISOR)
    calls = carrier([f"0816{_RUN}1"], talk_seconds=90)
    wait_for(lambda: bool(daemon.records("call connected")), 20, "the call to connect")
    for mode in ("listen", "barge"):
        _click(driver, f'tr[data-sup-agent="1001"] button[data-sup="{mode}"]')
        wait_for(lambda m=mode: _joined(daemon, m) == 1, 20, f"the supervisor to {mode}")  # type: ignore[misc]
        (leg,) = _supervisor_leg()
        wait_for(lambda c=leg: _sent_to(c) > 100, 20, "audio to the supervisor's phone")  # type: ignore[misc]
        if mode == "listen":
            driver.save_screenshot(str(tmp_path / "wallboard-supervisor.png"))
            own_phone.command("hangup")
            wait_for(lambda: not _supervisor_leg(), 10, "the supervisor's leg to end")
    calltaker.command("hangup")  # the conversation ends: the supervisor's leg with it
    wait_for(lambda: not _supervisor_leg(), 20, "the supervisor's leg to end")
    assert calls.wait(timeout=30) == 0, calls.errors()
    audited = [(r["action"], r.get("by")) for r in daemon.records("admin command")]
    assert [a for a in audited if a[0] in ("listen", "barge")] == [
        ("listen", SUPERVISOR),
        ("barge", SUPERVISOR),
    ]


@pytest.mark.daemon_env(**ENV)
def test_a_supervisor_logs_a_call_taker_out_and_in_and_gives_them_a_waiting_caller(
    daemon: Daemon,
    driver: WebDriver,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
    tmp_path: Path,
) -> None:
    slow = labpeers.Softphone("1002", tmp_path / "slow", answer=False)  # rings, never answers
    slow.start()
    try:
        slow.wait_registered()
        phones("1001")
        log_in(driver, f"{daemon.admin_url()}/wallboard", *labpeers.LAB_SUPERVISOR)
        _click(driver, 'tr[data-sup-agent="1001"] button[data-sup="logout"]')
        _tool(driver, 'tr[data-sup-agent="1001"] button[data-sup="login"]')
        calls = carrier([f"0816{_RUN}2"], talk_seconds=20)
        wait_for(lambda: bool(daemon.records("ringing call-taker")), 20, "the caller to ring 1002")
        call_id = str(daemon.records("ringing call-taker")[0]["call_id"])
        _click(driver, 'tr[data-sup-agent="1001"] button[data-sup="login"]')
        # 1001 free: chosen for the caller who rings 1002.
        WebDriverWait(driver, 15).until(
            lambda d: d.find_elements(
                By.CSS_SELECTOR, f'select[data-sup-pick="{call_id}"] option[value="1001"]'
            )
        )
        Select(_tool(driver, f'select[data-sup-pick="{call_id}"]')).select_by_value("1001")
        _click(driver, f'tr[data-sup-call="{call_id}"] button[data-sup="assign"]')
        wait_for(lambda: bool(daemon.records("call connected")), 20, "the call to connect")
        (connected,) = daemon.records("call connected")
        assert (connected["call_id"], connected["agent_id"]) == (call_id, "1001")
        assert calls.wait(timeout=60) == 0, calls.errors()
    finally:
        slow.stop()
    audited = [(r["action"], r.get("by")) for r in daemon.records("admin command")]
    assert [a for a in audited if a[0] in ("logout", "login", "assign")] == [
        ("logout", SUPERVISOR),
        ("login", SUPERVISOR),
        ("assign", SUPERVISOR),
    ]
