"""Issue #23's pages in a real browser against real lab calls: a supervisor finds a call by
number and date on "Cari panggilan", opens its timeline, the recording's audio element loads
through byte ranges, the export with a reason downloads a zip whose hashes match the journal,
the audit trail names them; a call-taker sees the call they answered but no export or hold.

Debian's chromium headless through selenium, as tests/integration/test_wallboard_browser.py.
Every wait is bounded polling on a condition (the machine is shared and slow at times).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import labpeers
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from wallboard_screenshots import browser, log_in

from .conftest import Daemon, wait_for

pytestmark = pytest.mark.integration

ENV = {
    "CALLGATE_OPS__COOKIE_SECURE": "false",  # the lab is plain http on 127.0.0.1
    "CALLGATE_CALLTAKERS__ENDPOINTS": '["PJSIP/1001"]',
}
#: This test's own caller (the journal is the test's own; the number keeps the search honest).
CALLER = "081199302301"
E164 = "+6281199302301"
BUNDLE = {"recording.wav", "call.json", "ringkasan.txt", "manifest.json"}


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[WebDriver]:
    if shutil.which("chromedriver") is None:
        pytest.fail("chromium-driver is missing: run scripts/setup", pytrace=False)
    opened = browser()
    screen = {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False}
    opened.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", screen)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opened.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    yield opened
    opened.quit()


def _ready(driver: WebDriver) -> bool:
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"


def _log_in(driver: WebDriver, url: str, name: str, password: str) -> None:
    """Log in on an inquiry page; it is ready once its first answer from the API is shown."""
    log_in(driver, url, name, password, ready="data-ready", timeout=15)


def _answered_call(daemon: Daemon, carrier: Callable[..., labpeers.CarrierCalls]) -> str:
    """A call 1001 answers and the caller ends after 4 s; its id once its recording is sealed."""
    wait_for(lambda: bool(daemon.records("ready: taking calls")), 20, "the daemon")
    calls = carrier([CALLER], talk_seconds=4)
    assert calls.wait(timeout=60) == 0, calls.errors()
    call_id = str(daemon.records("112 call entered")[-1]["call_id"])
    wait_for(
        lambda: any(r["call_id"] == call_id for r in daemon.records("recording ready")),
        30,
        "the recording to be stored and sealed",
    )
    return call_id


def _zip(folder: Path) -> Path | None:
    done = [p for p in folder.glob("*.zip") if p.stat().st_size > 0]
    return done[0] if done else None


@pytest.mark.daemon_env(**ENV)
def test_given_a_call_when_the_supervisor_finds_plays_and_exports_it_then_hashes_and_trail_match(
    daemon: Daemon,
    driver: WebDriver,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
    tmp_path: Path,
) -> None:
    (calltaker,) = phones("1001")
    call_id = _answered_call(daemon, carrier)
    supervisor = labpeers.LAB_SUPERVISOR[0]

    # Found by number (as sent, a prefix) and date, whatever the centre's offset from UTC.
    _log_in(driver, f"{daemon.admin_url()}/calls", *labpeers.LAB_SUPERVISOR)
    form = driver.find_element(By.ID, "search-form")
    form.find_element(By.NAME, "caller").send_keys(CALLER[:-2])
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT00:00")
    driver.execute_script("document.querySelector('[name=since]').value = arguments[0]", since)
    form.find_element(By.ID, "search").click()
    row = WebDriverWait(driver, 15).until(
        lambda d: (
            _ready(d) and d.find_element(By.CSS_SELECTOR, f'#results tr[data-call-id="{call_id}"]')
        )
    )
    assert E164 in row.text or CALLER in row.text, row.text
    csv = driver.find_element(By.ID, "csv").get_attribute("href") or ""
    assert "format=csv" in csv, csv
    driver.save_screenshot(str(tmp_path / "calls.png"))

    # The timeline: events in order, the recording's facts, the audio element through ranges.
    row.find_element(By.TAG_NAME, "td").click()
    WebDriverWait(driver, 15).until(
        lambda d: _ready(d) and d.find_elements(By.CSS_SELECTOR, "#events tr[data-kind=entered]")
    )
    assert driver.find_element(By.ID, "recording-present").is_displayed()
    journal_hash = driver.find_element(By.ID, "sha256").text.strip()
    (record,) = [c for c in daemon.calls() if c.call_id == call_id]
    assert record.recording is not None
    assert journal_hash == record.recording.sha256
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.getElementById('player').readyState") >= 1
    )
    assert not driver.find_element(By.ID, "integrity-warning").is_displayed()
    ranged = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch(document.getElementById("player").getAttribute("src"),
              {headers: {Range: "bytes=0-99"}, credentials: "same-origin"})
          .then((r) => r.arrayBuffer().then((b) => done([r.status,
            r.headers.get("Content-Range"), r.headers.get("Accept-Ranges"), b.byteLength])))
          .catch((e) => done([0, String(e), null, 0]));"""
    )
    assert ranged[0] == 206, ranged
    assert ranged[1].startswith("bytes 0-99/"), ranged
    assert ranged[2] == "bytes", ranged
    assert ranged[3] == 100, ranged

    # The export: a reason, a zip whose manifest and files match the journal's hash.
    reason = "Permintaan Polres no. B/23/XII (uji lab)"
    driver.find_element(By.CSS_SELECTOR, "#export-form input[name=reason]").send_keys(reason)
    driver.find_element(By.ID, "export").click()
    downloads = tmp_path / "downloads"
    wait_for(lambda: _zip(downloads) is not None, 30, "the export's zip to download")
    bundle_path = _zip(downloads)
    assert bundle_path is not None
    with zipfile.ZipFile(bundle_path) as bundle:
        assert set(bundle.namelist()) >= BUNDLE, bundle.namelist()
        wav = bundle.read("recording.wav")
        manifest_text = bundle.read("manifest.json").decode()
        assert json.loads(bundle.read("call.json"))["call"]["call_id"] == call_id
    assert hashlib.sha256(wav).hexdigest() == journal_hash
    assert journal_hash in manifest_text
    assert supervisor in manifest_text
    assert reason in manifest_text
    # The trail on the page names the supervisor for the playback and the export.
    WebDriverWait(driver, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#access tr[data-action=exported]")
    )
    access = driver.find_element(By.ID, "access").text
    assert supervisor in access, access
    assert reason in access, access
    assert driver.find_elements(By.CSS_SELECTOR, "#access tr[data-action=played]"), access
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(tmp_path / "call.png"))

    # A call-taker: the call they answered, without export or hold; the API refuses an export.
    driver.delete_all_cookies()
    _log_in(driver, f"{daemon.admin_url()}/call?id={call_id}", *labpeers.LAB_CALLTAKER)
    assert driver.find_elements(By.CSS_SELECTOR, "#events tr[data-kind=entered]")
    for button in ("export", "hold", "unhold"):
        assert not driver.find_element(By.ID, button).is_displayed(), button
    refused = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        api("POST", `api/calls/${encodeURIComponent(arguments[0])}/export`, {reason: "coba"})
          .then((a) => done(a.status));""",
        call_id,
    )
    assert refused == 403
    driver.save_screenshot(str(tmp_path / "call-calltaker.png"))
    del calltaker
