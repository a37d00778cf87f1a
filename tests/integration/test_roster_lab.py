"""Shifts on the real lab (#15): a call-taker logged out once the call that outlived their shift
is over, an out-of-hours caller answered by the neighbouring centre, and a short-handed shift
raising its alarm in the log, on /metrics and on CAD's stream.

Shifts are built from the current time in WITA (Asia/Makassar), so the lab host's own time
zone does not matter. A shift's times are whole minutes (HH:MM): a test that needs a shift to
end soon waits for a minute boundary a little ahead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import aiomqtt
import labpeers
import pytest

from .conftest import Daemon, wait_for

WITA = ZoneInfo("Asia/Makassar")
ADMIN = "http://127.0.0.1:8089"
LAB_BROKER_PORT = 11883
#: The "neighbouring regency's centre" out of hours: a softphone that is no call-taker here.
NEIGHBOUR = "1006"
ALARM = "ALARM: shift short-handed: fewer call-takers logged in than rostered"


def _wita(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, WITA).strftime("%H:%M")


def _shift(name: str, start: float, end: float, calltakers: list[str]) -> dict[str, object]:
    return {"name": name, "start": _wita(start), "end": _wita(end), "calltakers": calltakers}


def _roster_env(*shifts: dict[str, object], **more: str) -> dict[str, str]:
    return {
        "CALLGATE_ROSTER__TIMEZONE": "WITA",
        "CALLGATE_ROSTER__SHIFTS": json.dumps(list(shifts)),
        **more,
    }


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start callgate with a roster computed in the test (the ``daemon`` fixture's environment
    is fixed before the test runs; these shifts depend on the clock)."""
    started: list[Daemon] = []

    def start(**env: str) -> Daemon:
        daemon = Daemon(tmp_path / f"callgate-{len(started)}.log", **env)
        started.append(daemon)
        daemon.start()
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def _events(daemon: Daemon, event: str) -> list[dict[str, object]]:
    return daemon.records(event)


def _line_index(daemon: Daemon, text: str) -> int:
    """Position of the first log line containing ``text`` (-1 if none)."""
    for i, line in enumerate(daemon.log_text().splitlines()):
        if text in line:
            return i
    return -1


def test_given_a_shift_ending_during_a_call_then_the_call_finishes_then_the_calltaker_logs_out(
    start_daemon: Callable[..., Daemon],
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    (taker,) = phones("1001")
    # The shift ends at the first minute boundary at least 20 s away; if that is more than
    # 40 s away, wait, so the test stays short.
    boundary = math.ceil((time.time() + 20) / 60) * 60
    time.sleep(max(0.0, boundary - time.time() - 40))
    daemon = start_daemon(
        CALLGATE_CALLTAKERS__WRAP_UP_TIME="2",
        **_roster_env(_shift("pagi", boundary - 8 * 3600, boundary, ["1001"])),
    )
    wait_for(
        lambda: "agent 1001: LOGGED_OUT -[AgentLoggedIn]-> AVAILABLE" in daemon.log_text(),
        10,
        "the rostered call-taker to be logged in at start",
    )
    # Rostered 1001 only: the other configured call-takers are not logged in at start.
    assert "agent 1002:" not in daemon.log_text()

    calls = carrier(["081500000001"], talk_seconds=90)
    wait_for(lambda: bool(_events(daemon, "call connected")), 20, "the call to connect")
    assert time.time() < boundary, "the call must start within the shift"
    # The shift ends; the conversation goes on.
    wait_for(
        lambda: "roster: out of hours" in daemon.log_text(),
        boundary - time.time() + 10,
        "the shift to end",
    )
    time.sleep(2)
    assert not _events(daemon, "call ended"), "the call must outlive the shift"
    assert "-> LOGGED_OUT" not in daemon.log_text()
    taker.command("hangup")  # the call-taker finishes the call after the end of the shift

    wait_for(
        lambda: "agent 1001: WRAP_UP -[WrapUpEnded]-> LOGGED_OUT" in daemon.log_text(),
        15,
        "1001 logged out after the call and wrap-up",
    )
    assert [e["outcome"] for e in _events(daemon, "call ended")] == ["COMPLETED"]
    ended = _line_index(daemon, '"call ended"')
    logged_out = _line_index(daemon, "agent 1001: WRAP_UP -[WrapUpEnded]-> LOGGED_OUT")
    assert 0 <= ended < logged_out
    assert calls.wait(timeout=30) == 0, calls.errors()


def test_given_no_shift_on_then_the_caller_reaches_the_out_of_hours_destination(
    start_daemon: Callable[..., Daemon],
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    taker, neighbour = phones("1001", NEIGHBOUR)
    later = time.time() + 6 * 3600  # today's only shift starts in six hours
    daemon = start_daemon(
        **_roster_env(
            _shift("pagi", later, later + 3600, ["1001"]),
            CALLGATE_ROSTER__OUT_OF_HOURS=json.dumps([f"PJSIP/{NEIGHBOUR}"]),
        )
    )
    wait_for(lambda: "roster: out of hours" in daemon.log_text(), 10, "the roster's first look")

    calls = carrier(["081600000001"], talk_seconds=8)
    assert calls.wait(timeout=40) == 0, calls.errors()
    assert calls.stats() == {"successful": 1, "failed": 0}

    wait_for(lambda: bool(_events(daemon, "call ended")), 10, "the call to end")
    (sent,) = _events(daemon, "overflowing to a destination")
    assert (sent["destination"], sent["reason"]) == (f"PJSIP/{NEIGHBOUR}", "out-of-hours")
    assert "ARRIVED -[CallArrived]-> OVERFLOWING" in daemon.log_text()
    (ended,) = _events(daemon, "call ended")
    assert ended["outcome"] == "OVERFLOWED"
    # The neighbouring centre's phone answered and heard the caller; no call-taker was rung.
    wait_for(lambda: neighbour.rtp_received_packets() != [], 10, "the neighbour to report the call")
    assert neighbour.rtp_received_packets()[-1] > 20
    assert not _events(daemon, "ringing call-taker")
    assert taker.rtp_received_packets() == []
    (record,) = daemon.calls()
    assert (record.outcome, record.destination) == ("OVERFLOWED", f"PJSIP/{NEIGHBOUR}")


def _metric(name: str, shift: str) -> float | None:
    with urllib.request.urlopen(ADMIN + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(f'{name}{{shift="{shift}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_given_a_shift_with_fewer_calltakers_than_rostered_then_the_alarm_is_raised(
    start_daemon: Callable[..., Daemon],
    phones: Callable[..., list[labpeers.Softphone]],
) -> None:
    site = f"t{uuid.uuid4().hex[:8]}"  # a site of this test's own on the shared lab broker
    now = time.time()
    # Rostered 1001 and 1002; only 1001's phone is registered.
    await asyncio.to_thread(phones, "1001")
    daemon = await asyncio.to_thread(
        start_daemon,
        CALLGATE_MQTT__SITE=site,
        **_roster_env(
            _shift("siang", now - 3600, now + 2 * 3600, ["1001", "1002"]),
            CALLGATE_ROSTER__ALARM_GRACE="0",
        ),
    )

    def alarmed() -> bool:
        return any(
            r.get("shift") == "siang" and r.get("logged_in") == 1 for r in _events(daemon, ALARM)
        )

    await asyncio.to_thread(wait_for, alarmed, 10, "the ALARM line")
    (alarm, *_) = [r for r in _events(daemon, ALARM) if r.get("logged_in") == 1]
    assert (alarm["level"], alarm["rostered"]) == ("error", 2)

    assert await asyncio.to_thread(_metric, "callgate_shift_short_handed", "siang") == 1.0
    assert await asyncio.to_thread(_metric, "callgate_shift_rostered", "siang") == 2.0
    assert await asyncio.to_thread(_metric, "callgate_shift_logged_in", "siang") == 1.0

    # CAD: the retained staffing event of the shift, short-handed.
    topic = f"callgate/v1/{site}/shifts/siang/staffing"
    async with aiomqtt.Client("127.0.0.1", LAB_BROKER_PORT, identifier=f"cad-{site}") as cad:
        await cad.subscribe(topic, qos=1)

        async def short_handed() -> dict[str, object]:
            # The retained event may still be the one from before 1001's login (the roster came
            # on first: logged in 0) when this client subscribes; the event that follows it is
            # the current one. Every short-handed event is for the same shift, in order.
            seen: list[int] = []
            async for message in cad.messages:
                event = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                if event["short_handed"]:
                    seen.append(int(event["logged_in"]))
                    assert seen == sorted(seen), seen
                    if event["logged_in"] == 1:
                        return dict(event)
            raise AssertionError("the stream ended")

        event = await asyncio.wait_for(short_handed(), timeout=15)
    assert event["type"] == "shift-staffing"
    assert (event["shift"], event["rostered"], event["logged_in"], event["on"]) == (
        "siang",
        2,
        1,
        True,
    )
