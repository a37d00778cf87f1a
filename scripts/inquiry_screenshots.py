#!/usr/bin/env python3
"""Screenshots of "Cari panggilan" and a call's timeline without the lab, for the README.

Serves the real admin port with the real pages and log-in, and in place of the journal a
made-up inquiry API that answers as issue #23's contract says (search, timeline, a WAV with
byte ranges, a 409 for a recording whose hash changed, the export's zip, the hold). Drives
Debian's chromium headless (selenium) at 1920x1080 as a supervisor and as a call-taker, checks
what each sees, and saves ``docs/screenshots/calls.png`` and ``call.png``. The lab run
(tests/integration/test_inquiry_page_lab.py) does the same against real calls and the real API.

    .venv/bin/python scripts/inquiry_screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import math
import struct
import sys
import tempfile
import threading
import time
import wave
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from wallboard_screenshots import USERS, browser, log_in

from callgate.auth import Authenticator
from callgate.daemon.health import Health
from callgate.http.pages import Pages
from callgate.http.server import AUTHENTICATED, IDENTITY, Handler, Identify, OpsHttp
from callgate.http.sessions import BrowserSessions

REPO = Path(__file__).resolve().parent.parent
WIB = "+07:00"
CHANGED = "1767200003.3"  # its file no longer matches the journal's hash


def _tone(path: Path, seconds: int = 12) -> str:
    """A quiet 440 Hz tone as 8 kHz mono WAV (Asterisk's recordings' format); its SHA-256."""
    frames = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * n / 8000)))
        for n in range(8000 * seconds)
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(frames)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _summary(n: int, caller: str, at: str, **more: Any) -> dict[str, Any]:
    return {
        "call_id": f"17672000{n:02d}.{n}",
        "started_at": f"2026-12-0{more.pop('day', 6)}T{at}{WIB}",
        "ended_at": more.pop("ended_at", None),
        "caller_sent": more.pop("sent", "0" + caller[3:]),
        "caller": caller,
        "calltaker": more.pop("calltaker", "1001"),
        "outcome": more.pop("outcome", "COMPLETED"),
        "disposition": more.pop("disposition", "genuine"),
        "tags": more.pop("tags", []),
        "fallback": more.pop("fallback", False),
        "wait_s": more.pop("wait_s", 6.2),
        "talk_s": more.pop("talk_s", 94.0),
        "recording": more.pop("recording", True),
        "hold": more.pop("hold", False),
    }


class Inquiry:
    """The inquiry API as the contract says, over made-up calls; an Extension."""

    def __init__(self, wav: Path, digest: str) -> None:
        self.wav, self.digest = wav, digest
        self.calls = [
            _summary(1, "+6281234567890", "23:41:07", ended_at=f"2026-12-06T23:43:02{WIB}"),
            _summary(2, "+6285298765432", "23:12:55", tags=["silent"], disposition="ghost",
                     talk_s=21.0, calltaker="1002"),
            _summary(3, "+6281311122233", "22:58:10", outcome="FALLBACK", fallback=True,
                     calltaker=None, disposition=None, wait_s=48.0, talk_s=None),
            _summary(4, "+6287788990011", "22:40:31", tags=["PRANK"], disposition="prank",
                     hold=True, calltaker="1003"),
            _summary(5, "+6281277788899", "21:05:44", outcome="ABANDONED", calltaker=None,
                     disposition=None, wait_s=31.0, talk_s=None, recording=False),
        ]  # fmt: skip
        # Older calls of the week, enough for a second page of 25.
        self.calls += [
            _summary(10 + n, f"+62812{n:08d}", f"{20 - n % 20:02d}:{n % 60:02d}:00",
                     day=5 - n // 20, disposition="information", talk_s=40.0 + n)
            for n in range(30)
        ]  # fmt: skip
        self.played: list[str | None] = []
        self.audit: list[dict[str, Any]] = []
        self.holds: dict[str, dict[str, Any]] = {
            "1767200004.4": {"reason": "Permintaan Polres no. 12/XII", "by": "spv-ratna",
                             "at": f"2026-12-07T08:15:00{WIB}"},
        }  # fmt: skip

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        return {
            ("GET", "/api/calls/search"): (AUTHENTICATED, self._search),
            ("GET", "/api/calls/{call_id}/timeline"): (AUTHENTICATED, self._timeline),
            ("GET", "/api/calls/{call_id}/recording"): (AUTHENTICATED, self._recording),
            ("POST", "/api/calls/{call_id}/export"): (AUTHENTICATED, self._export),
            ("POST", "/api/calls/{call_id}/hold"): (AUTHENTICATED, self._hold),
            ("DELETE", "/api/calls/{call_id}/hold"): (AUTHENTICATED, self._hold),
        }

    async def close(self) -> None:
        return None

    def _mine(self, request: web.Request) -> list[dict[str, Any]]:
        who = request[IDENTITY]
        calls = [{**c, "hold": c["call_id"] in self.holds} for c in self.calls]
        return (
            calls if who.agent_id is None else [c for c in calls if c["calltaker"] == who.agent_id]
        )

    async def _search(self, request: web.Request) -> web.Response:
        q = request.query
        rows = [c for c in self._mine(request) if c["caller"].startswith(q.get("caller", ""))]
        if "fallback" in q:
            rows = [c for c in rows if c["fallback"] == (q["fallback"] == "true")]
        self.audit.append({"search": dict(q), "by": request[IDENTITY].name})
        per_page = int(q.get("per_page", "50"))
        page = int(q.get("page", "1"))
        chosen = rows[(page - 1) * per_page : page * per_page]
        if q.get("format") == "csv":
            text = "call_id,started_at,caller\n" + "".join(
                f"{c['call_id']},{c['started_at']},{c['caller']}\n" for c in chosen
            )
            return web.Response(text=text, content_type="text/csv")
        return web.json_response({"calls": chosen, "page": page, "per_page": per_page,
                                  "total": len(rows)})  # fmt: skip

    def _call(self, request: web.Request) -> dict[str, Any]:
        call_id = request.match_info["call_id"]
        found = [c for c in self._mine(request) if c["call_id"] == call_id]
        if not found:
            raise web.HTTPNotFound(
                text='{"error": "no such call"}', content_type="application/json"
            )
        return found[0]

    def _body(self, call: dict[str, Any]) -> dict[str, Any]:
        t = call["started_at"][:11]
        ev = [
            ("23:41:07", "entered",
             "Panggilan 112 masuk dari 081234567890 (+6281234567890) lewat trunk telkom-1", None),
            ("23:41:07", "screened", "Penyaringan: tidak ada tanda", None),
            ("23:41:08", "offered", "Ditawarkan ke operator 1002, berdering 4 dtk", None),
            ("23:41:12", "missed", "Operator 1002 tidak mengangkat", None),
            ("23:41:12", "offered", "Ditawarkan ke operator 1001", None),
            ("23:41:13", "answered", "Dijawab operator 1001 setelah menunggu 6 dtk", "1001"),
            ("23:42:05", "handoff", "Disambungkan 3 pihak ke Damkar (ext 113)", "1001"),
            ("23:43:02", "ended", "Berakhir, ditutup oleh penelepon; bicara 1:49", None),
            ("23:43:40", "disposition", "Klasifikasi: darurat nyata", "1001"),
            ("23:43:45", "recording", "Rekaman tersimpan dan tersegel (1:55)", None),
        ]  # fmt: skip
        hold = self.holds.get(call["call_id"])
        recording = None if not call["recording"] else {
            "url": f"/api/calls/{call['call_id']}/recording", "duration_s": 115.0,
            "sha256": self.digest, "sealed": True,
            "expires_at": None if hold else f"2027-03-06T23:43:45{WIB}", "hold": hold,
        }  # fmt: skip
        access = [a for a in self.audit if a.get("call_id") == call["call_id"]]
        return {
            "call": call,
            "events": [{"at": f"{t}{a}{WIB}", "kind": k, "text": x, "by": b} for a, k, x, b in ev],
            "recording": recording,
            "access": [
                {"at": f"2026-12-07T09:02:11{WIB}", "by": "spv-ratna", "action": "played",
                 "reason": None},
                *({k: a[k] for k in ("at", "by", "action", "reason")} for a in access),
            ],
        }  # fmt: skip

    async def _timeline(self, request: web.Request) -> web.Response:
        return web.json_response(self._body(self._call(request)))

    async def _recording(self, request: web.Request) -> web.StreamResponse:
        call = self._call(request)
        self.played.append(request.headers.get("Range"))
        if call["call_id"] == CHANGED:
            return web.json_response({"error": "SHA-256 differs from the journal's"}, status=409)
        return web.FileResponse(self.wav, headers={"Content-Type": "audio/wav"})

    def _row(self, request: web.Request, action: str, reason: str) -> None:
        at = time.strftime(f"%Y-%m-%dT%H:%M:%S{WIB}", time.gmtime(time.time() + 7 * 3600))
        self.audit.append({"call_id": request.match_info["call_id"], "by": request[IDENTITY].name,
                           "action": action, "reason": reason, "at": at})  # fmt: skip

    async def _export(self, request: web.Request) -> web.Response:
        call = self._call(request)
        if request[IDENTITY].agent_id is not None:
            return web.json_response({"error": "supervisors and admins only"}, status=403)
        reason = (await request.json()).get("reason", "").strip()
        if not reason:
            return web.json_response({"error": "reason is required"}, status=400)
        self._row(request, "exported", reason)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as bundle:
            bundle.writestr("recording.wav", self.wav.read_bytes())
            bundle.writestr("call.json", json.dumps(self._body(call)))
            bundle.writestr("ringkasan.txt", "Ringkasan panggilan\n")
            bundle.writestr("manifest.json", json.dumps({"reason": reason}))
        name = f"panggilan-{call['call_id']}.zip"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return web.Response(body=out.getvalue(), content_type="application/zip", headers=headers)

    async def _hold(self, request: web.Request) -> web.Response:
        call = self._call(request)
        reason = (await request.json()).get("reason", "")
        if request.method == "DELETE":
            self.holds.pop(call["call_id"], None)
            self._row(request, "unhold", reason)
        else:
            self.holds[call["call_id"]] = {"reason": reason, "by": request[IDENTITY].name,
                                           "at": f"2026-12-07T10:00:00{WIB}"}  # fmt: skip
            self._row(request, "hold", reason)
        return web.json_response({"result": "ok"})


def serve(tmp: Path) -> tuple[OpsHttp, Inquiry]:
    loop = asyncio.new_event_loop()
    wav = tmp / "rec.wav"
    inquiry = Inquiry(wav, _tone(wav))
    authenticator = Authenticator(USERS)
    http = OpsHttp(
        object(),  # type: ignore[arg-type]
        Health(),
        CollectorRegistry(),
        authenticator=authenticator,
        port=0,
        sessions=BrowserSessions(authenticator, cookie_secure=False),
        extensions=(Pages(), inquiry),  # type: ignore[arg-type]
    )
    loop.run_until_complete(http.start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return http, inquiry


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="callgate-inquiry-"))
    http, inquiry = serve(tmp)
    driver = browser()
    # The page's viewport, not the window's outer size: 1920x1080 as on a supervisor's screen.
    screen = {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", screen)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp)}
    )
    try:
        log_in(driver, f"{http.url}/calls", "spv-ratna", "demo", ready="data-ready", timeout=10)
        rows = driver.find_elements(By.CSS_SELECTOR, "#results tbody tr[data-call-id]")
        assert len(rows) == 35, len(rows)
        time.sleep(0.3)
        driver.save_screenshot(str(out / "calls.png"))
        # Pages: 25 a page, the second has the last 10; the address keeps the search.
        driver.find_element(By.CSS_SELECTOR, "[name=per_page] option[value='25']").click()
        driver.find_element(By.ID, "search").click()
        WebDriverWait(driver, 5).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results tbody tr")) == 25
        )
        driver.find_element(By.ID, "next").click()
        WebDriverWait(driver, 5).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results tbody tr")) == 10
        )
        assert "Halaman 2 dari 2" in driver.find_element(By.ID, "page-of").text
        assert "page=2" in driver.current_url, driver.current_url
        assert not driver.find_element(By.ID, "next").is_enabled()
        driver.find_element(By.ID, "prev").click()
        WebDriverWait(driver, 5).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results tbody tr")) == 25
        )
        csv = driver.find_element(By.ID, "csv").get_attribute("href") or ""
        assert "format=csv" in csv, csv
        assert "per_page=25" in csv, csv
        driver.find_element(By.NAME, "caller").send_keys("+62812345")
        driver.find_element(By.ID, "search").click()
        WebDriverWait(driver, 5).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results tbody tr")) == 1
        )
        assert inquiry.audit[-1]["search"]["caller"] == "+62812345"
        # A date range typed in the browser's own format is read back in words, id-ID.
        driver.execute_script(
            "document.querySelector('[name=since]').value = '2026-12-06T00:00';"
            "document.querySelector('[name=until]').value = '2026-12-07T06:00';"
        )
        driver.find_element(By.ID, "search").click()
        WebDriverWait(driver, 5).until(
            lambda d: "06 Des 2026" in d.find_element(By.ID, "range").text
        )
        assert inquiry.audit[-1]["search"]["since"] == "2026-12-06T00:00", inquiry.audit[-1]
        driver.find_element(By.CSS_SELECTOR, "#results tbody tr td").click()
        WebDriverWait(driver, 5).until(
            lambda d: d.execute_script("return document.getElementById('player').readyState") >= 1
        )
        assert inquiry.played, "no request for the recording"
        assert (inquiry.played[0] or "").startswith("bytes="), inquiry.played
        reason = driver.find_element(By.CSS_SELECTOR, "#export-form input[name=reason]")
        reason.send_keys("Permintaan Polres Metro no. B/112/XII/2026")
        driver.find_element(By.ID, "export").click()
        WebDriverWait(driver, 10).until(lambda d: list(tmp.glob("*.zip")))
        WebDriverWait(driver, 5).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#access tr[data-action=exported]")
        )
        with zipfile.ZipFile(next(tmp.glob("*.zip"))) as bundle:
            assert "recording.wav" in bundle.namelist()
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.3)
        driver.save_screenshot(str(out / "call.png"))
        driver.get(f"{http.url}/call?id={CHANGED}")
        warning = WebDriverWait(driver, 5).until(
            lambda d: (
                d.find_element(By.ID, "integrity-warning")
                if d.find_element(By.ID, "integrity-warning").is_displayed()
                else None
            )
        )
        assert "PERINGATAN" in warning.text, warning.text
        driver.save_screenshot(str(tmp / "call-409.png"))
        driver.delete_all_cookies()
        log_in(
            driver,
            f"{http.url}/call?id=1767200001.1",
            "op-budi",
            "demo",
            ready="data-ready",
            timeout=10,
        )
        assert not driver.find_element(By.ID, "export").is_displayed()
        assert not driver.find_element(By.ID, "hold").is_displayed()
        driver.save_screenshot(str(tmp / "call-ct.png"))
    finally:
        driver.quit()
    print(f"saved {out / 'calls.png'} and {out / 'call.png'} (call-409.png, call-ct.png: {tmp})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
