"""The managers' report page in a real browser after real lab calls (issue #24 items 6 and 8):
a supervisor opens the day's report of a WITA centre and it shows the figures ``callgate
report`` prints for that day, read with the same config (the centre's zone from it, no --tz).

Debian's chromium headless through selenium, as tests/integration/test_wallboard_browser.py.
Every wait is bounded polling on a condition (the machine is shared and slow at times).
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import labpeers
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from wallboard_screenshots import browser, log_in

from .conftest import Daemon, run_cli, wait_for

pytestmark = pytest.mark.integration

ENV = {
    "CALLGATE_OPS__COOKIE_SECURE": "false",  # the lab is plain http on 127.0.0.1
    "CALLGATE_CALLTAKERS__ENDPOINTS": '["PJSIP/1001"]',
    "CALLGATE_ROSTER__TIMEZONE": "WITA",
}
WITA = ZoneInfo("Asia/Makassar")
#: This test's own callers.
CALLERS = ["081199302401", "081199302402"]
#: The page's figure -> the summary.csv metric of ``callgate report --csv`` it must equal.
SAME = {
    "received": "received",
    "offered": "offered",
    "answered": "answered",
    "within15": "within_15s_of_offered",
    "within20": "within_20s_of_offered",
    "abandoned": "outcome_abandoned",
    "fallback": "outcome_fallback",
    "overflowed": "outcome_overflowed",
    "inProgress": "in_progress",
    "p90": "answer_p90_s",
}


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[WebDriver]:
    if shutil.which("chromedriver") is None:
        pytest.fail("chromium-driver is missing: run scripts/setup", pytrace=False)
    opened = browser()
    screen = {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False}
    opened.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", screen)
    yield opened
    opened.quit()


def _figures(driver: WebDriver) -> dict[str, str]:
    return {
        str(f.get_attribute("data-figure")): str(f.get_attribute("data-value"))
        for f in driver.find_elements(By.CSS_SELECTOR, "#figures [data-figure]")
    }


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


@pytest.mark.daemon_env(**ENV)
def test_given_lab_calls_then_the_managers_day_page_matches_callgate_report(
    daemon: Daemon,
    driver: WebDriver,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
    tmp_path: Path,
) -> None:
    phones("1001")
    wait_for(lambda: bool(daemon.records("ready: taking calls")), 20, "the daemon")
    calls = carrier(CALLERS[:1], talk_seconds=3)
    assert calls.wait(timeout=60) == 0, calls.errors()
    calls = carrier(CALLERS[1:], talk_seconds=2)
    assert calls.wait(timeout=60) == 0, calls.errors()
    # Both calls ended in the journal before anyone reads it: the page and the command must
    # read the same rows.
    wait_for(
        lambda: (
            len(ended := [c for c in daemon.calls() if c.ended_at is not None]) >= 2
            and len(ended) == len(daemon.calls())
        ),
        30,
        "both calls to be journaled as ended",
    )
    # The centre's day of the calls (not this host's, nor "today": the test may cross
    # midnight in Makassar).
    day = daemon.calls()[-1].started_at.astimezone(WITA).date().isoformat()

    config = tmp_path / "report.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite+aiosqlite:///{daemon.journal_path}"\n\n'
        '[roster]\ntimezone = "WITA"\n'
    )
    report = run_cli(
        "report", "--config", str(config), "--day", day, "--csv", str(tmp_path / "csv")
    )
    assert report.returncode == 0, report.stderr
    assert f"callgate report: {day} (Asia/Makassar)" in report.stdout
    with (tmp_path / "csv" / "summary.csv").open() as stream:
        summary = {row["metric"]: row["value"] for row in csv.DictReader(stream)}
    with (tmp_path / "csv" / "callbacks.csv").open() as stream:
        tasks = next(r["count"] for r in csv.DictReader(stream) if r["name"] == "created")
    with (tmp_path / "csv" / "dispositions.csv").open() as stream:
        nuisance = sum(
            int(r["calls"])
            for r in csv.DictReader(stream)
            if r["disposition"] in ("prank", "ghost")
        )
    assert int(summary["received"]) >= 2

    log_in(
        driver,
        f"{daemon.admin_url()}/reports?kind=day&day={day}",
        *labpeers.LAB_SUPERVISOR,
        ready="data-ready",
        timeout=20,
    )
    WebDriverWait(driver, 20).until(
        lambda d: (
            d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
            and len(_figures(d)) >= len(SAME)
        )
    )
    shown = _figures(driver)
    for figure, metric in SAME.items():
        assert _number(shown[figure]) == _number(summary[metric]), (figure, shown, summary)
    assert _number(shown["callbacks"]) == float(tasks)
    assert _number(shown["prankGhost"]) == float(nuisance)
    # In Indonesian, in the centre's zone, with the charts drawn and the CSV offered.
    assert driver.find_element(By.ID, "period").text.startswith("Laporan harian")
    assert "(Asia/Makassar)" in driver.find_element(By.ID, "report").text
    assert driver.find_elements(By.CSS_SELECTOR, "#chart-hours rect")
    assert driver.find_elements(By.CSS_SELECTOR, "#chart-answer-times rect")
    csv_link = driver.find_element(By.ID, "csv").get_attribute("href") or ""
    assert f"day={day}" in csv_link
    assert "format=csv" in csv_link
    driver.save_screenshot(str(tmp_path / "reports-day.png"))
