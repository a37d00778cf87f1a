#!/usr/bin/env python3
"""Screenshots of the wallboard and the call-taker's screen without the lab, for the README.

Serves the real admin port (real pages, real log-in, real SSE stream) over a made-up centre,
drives Debian's chromium headless through chromium-driver (selenium), logs in as a supervisor
and as a call-taker, and saves ``docs/screenshots/wallboard.png`` (1920x1080) and
``wallboard-1366x768.png``, each checked to fit without scrolling, and ``screen.png``. The
lab run (tests/integration/test_wall_browser.py) makes the wall's pictures from real calls.

    .venv/bin/python scripts/wallboard_screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from callgate.auth import Authenticator, UserSettings
from callgate.daemon.health import Health
from callgate.http.actions import Actions
from callgate.http.pages import Pages
from callgate.http.server import OpsHttp
from callgate.http.sessions import BrowserSessions
from callgate.http.streams import LiveStreams

REPO = Path(__file__).resolve().parent.parent
_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
USERS = [
    UserSettings(name="spv-ratna", role="supervisor", password_hash=_HASH.hash("demo")),  # type: ignore[arg-type]
    UserSettings(  # type: ignore[arg-type]
        name="op-budi", role="call-taker", agent_id="1001", password_hash=_HASH.hash("demo")
    ),
]


NAMES = {
    "1001": "Budi Santoso",
    "1002": "Sari Dewi",
    "1003": "Made Wirawan",
    "1004": "Nurul Hidayah",
    "1005": "Yohanes Kaize",
    "1006": "Andi Pratama",
}


class Centre:
    """A made-up moment of a centre: four callers waiting, one connected, six call-takers."""

    def __init__(self) -> None:
        now = time.time()
        self.now = now

        def call(n: int, caller: str, age: float, state: str, **more: Any) -> dict[str, Any]:
            return {
                "call_id": f"1767{n:06d}.{n}",
                "state": state,
                "priority": more.pop("priority", 3),
                "category": more.pop("category", ""),
                "caller": caller,
                "caller_name": "",
                "arrived_at": now - age,
                "age_s": age,
                "answered_at": more.pop("answered_at", None),
                "agent_id": more.pop("agent_id", None),
                "ringing": more.pop("ringing", []),
                "handed_to": None,
                "tags": more.pop("tags", []),
                "score": more.pop("score", 0.0),
                "position": more.pop("position", None),
            }

        self.calls = [
            call(1, "+6281234567890", 23.0, "QUEUED", position=1),
            call(2, "+6285298765432", 16.4, "QUEUED", position=2, tags=["callback"]),
            call(3, "imei:35693803564380", 9.0, "QUEUED", position=3, tags=["silent"]),
            call(
                4,
                "+6281311122233",
                41.0,
                "CONNECTED",
                answered_at=now - 33.0,
                agent_id="1002",
                tags=["PRANK"],
                score=2.4,
                category="repeat-nuisance",
                priority=5,
            ),
            call(5, "+6287788990011", 3.0, "OFFERED", ringing=["1001"], tags=["PRANK"], score=1.2),
        ]
        self.agents = [
            self._agent("1001", "RINGING", 3, 14),
            self._agent("1002", "ON_CALL", 33, 17),
            self._agent("1003", "WRAP_UP", 8, 12),
            self._agent("1004", "PAUSED", 260, 9, pause_reason="meal"),
            self._agent("1005", "LOGGED_OUT", 5400, 0, registered=False),
            self._agent("1006", "AVAILABLE", 95, 11),
        ]

    def _agent(self, agent_id: str, state: str, since: float, calls: int, **more: Any) -> Any:
        return {
            "agent_id": agent_id,
            "endpoint": f"PJSIP/{agent_id}",
            "state": state,
            "pause_reason": more.get("pause_reason"),
            "pending_pause": None,
            "calls_answered": calls,
            "since": self.now - since,
            "name": NAMES.get(agent_id),
            "registered": more.get("registered", True),
        }

    def snapshot(self) -> dict[str, Any]:
        today = {
            "day": time.strftime("%Y-%m-%d"),
            "since": None,
            "marks": [15, 20],
            "calls": 412,
            "answered": 389,
            "within": [[15, 371], [20, 380]],
            "abandoned": 23,
            "fallback": 2,
            "nuisance": 97,
            "ghost": 61,
            "callbacks_open": 4,
            "shift": {
                "name": "pagi",
                "start": self.now - 3 * 3600,
                "end": self.now + 5 * 3600,
                "calls": 131,
                "answered": 125,
                "within": [[15, 119], [20, 122]],
                "abandoned": 6,
                "fallback": 0,
                "nuisance": 30,
                "ghost": 17,
            },
        }
        return {
            "type": "snapshot",
            "at": time.time(),
            "calls": self.calls,
            "agents": self.agents,
            "today": today,
            "wallboard": {
                "marks": [15, 20],
                "sound": True,
                "sound_after": 30,
                "sound_fallback": True,
                "timezone": "Asia/Makassar",
            },
            "shifts": [{"shift": "pagi", "rostered": 6, "logged_in": 4, "short_handed": True}],
            "staffed": True,
            "alarms": {
                "fallback": {"callers": 1, "longest_wait_s": 12.0, "since": self.now - 14},
                "recordings": {"failed": 0, "last_at": None, "last_reason": None},
            },
        }

    async def my_call(self, agent_id: str) -> dict[str, Any]:
        call = next((c for c in self.calls if agent_id in c["ringing"]), None)
        history = [
            {"call_id": "1766990001.7", "disposition": "prank", "at": self.now - 86400 * 2},
            {"call_id": "1766500001.3", "disposition": "genuine", "at": self.now - 86400 * 9},
        ]
        return {"call": call, "history": history if call else [], "callback_open": False}


class Desk:
    """The admin API's view and the call actions, as far as the pages use them."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.asked: list[tuple[str, str]] = []

    async def recent_calls(self, limit: int) -> list[dict[str, Any]]:
        def ended(n: int, caller: str, ago: float, outcome: str, by: str | None) -> dict[str, Any]:
            at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(self.now - ago))
            return {"call_id": f"1766{n:06d}.{n}", "caller": caller, "ended_at": at,
                    "outcome": outcome, "answered_by": by}  # fmt: skip

        return [
            ended(9, "+6281277788899", 40, "ABANDONED", None),
            ended(8, "+6285611122233", 95, "COMPLETED", "1003"),
            ended(7, "+6281199988877", 310, "COMPLETED", "1002"),
        ][:limit]

    def live_calls(self) -> list[dict[str, Any]]:
        return []

    def agencies(self) -> list[str]:
        return ["damkar", "polres", "dinkes"]

    async def hand_off(
        self, call_id: str, agency: str, mode: str, by: str, *, connected_to: str | None
    ) -> dict[str, Any]:
        self.asked.append((f"{call_id} {agency} {mode}", by))
        return {"result": "ok", "call_id": call_id, "agency": agency, "mode": mode}

    async def request_callback(self, call_id: str, by: str) -> dict[str, Any]:
        self.asked.append((call_id, by))
        return {"result": "ok", "call_id": call_id, "task": True}


def serve() -> tuple[OpsHttp, Desk, LiveStreams, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    authenticator = Authenticator(USERS)
    health = Health()
    health.set("ari", True)
    health.set("ami", True)
    health.set("database", False, "connection refused")
    from prometheus_client import CollectorRegistry

    centre = Centre()
    desk = Desk(centre.now)
    streams = LiveStreams(centre)
    http = OpsHttp(
        desk,  # type: ignore[arg-type]
        health,
        CollectorRegistry(),
        authenticator=authenticator,
        port=0,
        sessions=BrowserSessions(authenticator, cookie_secure=False),
        extensions=(streams, Pages(), Actions(desk)),  # type: ignore[arg-type]
    )
    loop.run_until_complete(http.start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return http, desk, streams, loop


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=id"):
        options.add_argument(arg)
    options.add_argument("--window-size=1920,1200")
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def log_in(
    driver: webdriver.Chrome,
    url: str,
    name: str,
    password: str,
    *,
    ready: str = "data-live",
    timeout: float = 5.0,
) -> None:
    """Log in on one of callgate's pages; done once the page marks its body ``ready`` (the
    wallboard: its live stream; the inquiry pages: ``data-ready``, their first answer)."""
    driver.get(url)
    form = driver.find_element(By.ID, "login-form")
    form.find_element(By.NAME, "name").send_keys(name)
    form.find_element(By.NAME, "password").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, timeout).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute(ready) == "1"
    )


#: Every panel of the wall, each one that must be on the screen whole.
PANELS = (
    "figures",
    "alarms-panel",
    "waiting-panel",
    "connected-panel",
    "agents-panel",
    "supervisor-tools",
)


def fit(driver: webdriver.Chrome, width: int, height: int) -> dict[str, Any]:
    """The window's page area set to ``width`` x ``height``; AssertionError unless the page fits
    without scrolling and every panel is inside the window. What was measured."""
    # The window's outer size, so that the page's own area (innerWidth x innerHeight) is the
    # screen's: a wall PC's browser in kiosk mode has no frame.
    driver.set_window_size(width, height)
    for _ in range(3):
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        if inner == [width, height]:
            break
        outer = driver.get_window_size()
        driver.set_window_size(
            outer["width"] + width - inner[0], outer["height"] + height - inner[1]
        )
    found: dict[str, Any] = driver.execute_script(
        """
        const root = document.documentElement;
        const panels = {};
        for (const id of arguments[0]) {
          const found = document.getElementById(id);
          // The supervisor's drawer is on a supervisor's page only.
          if (!found && id === "supervisor-tools") continue;
          const r = found.getBoundingClientRect();
          panels[id] = [r.left, r.top, r.right, r.bottom];
        }
        return {inner: [innerWidth, innerHeight], scroll: [root.scrollWidth, root.scrollHeight],
                panels};
        """,
        list(PANELS),
    )
    w, h = found["inner"]
    assert (w, h) == (width, height), found
    if found["scroll"][1] > h or found["scroll"][0] > w:
        raise AssertionError(f"the page scrolls at {width}x{height}: {found}")
    for name, (left, top, right, bottom) in found["panels"].items():
        if left < 0 or top < 0 or right > w or bottom > h or bottom - top < 20:
            raise AssertionError(f"{name} is not on the screen at {width}x{height}: {found}")
    return found


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    http, desk, streams, loop = serve()
    driver = browser()
    try:
        log_in(driver, f"{http.url}/wallboard", "spv-ratna", "demo")
        WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#recent tr"))
        driver.find_element(By.CSS_SELECTOR, "#shifts li[data-shift=pagi][data-short='1']")
        driver.find_element(By.CSS_SELECTOR, "#alarms li[data-alarm=fallback]")
        time.sleep(1.2)  # one tick of the wait clocks
        fit(driver, 1366, 768)
        driver.save_screenshot(str(out / "wallboard-1366x768.png"))
        fit(driver, 1920, 1080)
        driver.save_screenshot(str(out / "wallboard.png"))
        # The supervisor's drawer open: over the board, the page still fits at both sizes.
        driver.execute_script("document.getElementById('supervisor-tools').open = true")
        fit(driver, 1366, 768)
        driver.save_screenshot(str(out / "wallboard-drawer-1366x768.png"))
        fit(driver, 1920, 1080)
        driver.execute_script("document.getElementById('supervisor-tools').open = false")
        # The supervisor's actions reach the API (a check of the pages' script, not a picture).
        driver.find_element(By.CSS_SELECTOR, "#recent button[data-action=callback]").click()
        WebDriverWait(driver, 5).until(lambda d: desk.asked)
        assert desk.asked == [("1766000009.9", "spv-ratna")], desk.asked
        driver.delete_all_cookies()
        driver.set_window_size(1280, 900)
        log_in(driver, f"{http.url}/screen", "op-budi", "demo")
        WebDriverWait(driver, 5).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#history li[data-disposition]")
        )
        time.sleep(1.2)
        driver.save_screenshot(str(out / "screen.png"))
        # A recording's state reaches the screen of the call-taker who answered the call.
        ringing = next(c for c in streams.source.calls if "1001" in c["ringing"])  # type: ignore[attr-defined]
        message = {"type": "recording", "call_id": ringing["call_id"], "agent_id": "1001",
                   "state": "failed", "detail": "no file", "at": time.time()}  # fmt: skip
        loop.call_soon_threadsafe(streams.publish, message)
        WebDriverWait(driver, 5).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#call-recording[data-state=failed]")
        )
        # Answered: a button per agency and mode, doing what *<digit> and #<digit> do.
        connected = {**ringing, "state": "CONNECTED", "agent_id": "1001", "ringing": []}
        loop.call_soon_threadsafe(streams.publish, {"type": "call", "call": connected})
        WebDriverWait(driver, 5).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#handoffs button[data-agency=polres]")
        )
        driver.find_element(
            By.CSS_SELECTOR, "#handoffs button[data-agency=polres][data-mode=hand-off]"
        ).click()
        WebDriverWait(driver, 5).until(lambda d: len(desk.asked) == 2)
        assert desk.asked[1] == (f"{ringing['call_id']} polres hand-off", "op-budi"), desk.asked
    finally:
        driver.quit()
    print(f"saved {out / 'wallboard.png'} and {out / 'screen.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
