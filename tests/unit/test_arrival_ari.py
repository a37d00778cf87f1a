"""A new caller through the ARI adapter and the real core: the history goes in with the call,
the core screens it, and the adapter carries out what the core decided on the caller's channel
(their start recorded, their class kept, greeting, talk detection, the key-press prompt)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from callgate.config import Settings
from callgate.core.commands import CallReclassified, CallScreened
from callgate.core.config import AcdConfig
from callgate.core.events import Priority
from callgate.core.screening import (
    CallerHistory,
    Disposition,
    DispositionRecord,
    ScreeningPolicy,
    SilencePolicy,
)
from callgate.ports import CallStarted
from tests.unit.phone_system import T0, Daemon, Histories

PRANKSTER = "+6281199000001"
SCREENING = ScreeningPolicy()
SILENCE = SilencePolicy(silence_seconds=10.0, key_seconds=8.0, prompt="sound:tekan-tombol")
#: Callers wait as long as the tests need (no overflow to the fallback queue).
CONFIG = AcdConfig(max_wait=None, screening=SCREENING, silence=SILENCE)


def pranks(n: int) -> CallerHistory:
    records = tuple(DispositionRecord(T0 - 3600 + i, Disposition.PRANK, f"p{i}") for i in range(n))
    return CallerHistory("081199000001", dispositions=records)


def variable(request: tuple[str, str, dict[str, object]]) -> tuple[object, object]:
    return request[2]["variable"], request[2]["value"]


def variables_set(daemon: Daemon, channel: str) -> list[tuple[object, object]]:
    return [
        variable(r)
        for r in daemon.asterisk.on(channel)
        if r[0] == "POST" and r[1].endswith("/variable")
    ]


async def test_a_screened_caller_is_recorded_kept_in_its_class_warned_then_greeted() -> None:
    history = Histories(**{PRANKSTER: pranks(3)})
    daemon = Daemon(CONFIG, history=history)
    await daemon.login("1001")
    await daemon.caller("c1", PRANKSTER, CALLGATE_CALLER_SENT="081199000001", CALLGATE_DIALED="112")
    daemon.close()

    assert history.asked == [(PRANKSTER, None)]  # a number: no identity asked for
    [note] = daemon.notes(CallScreened)
    assert (note.priority, note.category, note.tag) == (
        Priority.NUISANCE,
        "repeat-nuisance",
        "PRANK x3",
    )
    # The journal row starts with the core's class, before any of the call's moves.
    assert daemon.recorder.started == [
        CallStarted(
            "c1", PRANKSTER, "081199000001", "112", Priority.NUISANCE, T0, "repeat-nuisance", None
        )
    ]
    # The call-taker's phone shows the tag and rings at once.
    [ring] = [r for r in daemon.asterisk.log if r[1] == "/channels" and r[0] == "POST"]
    assert ring[2]["callerId"] == f'"PRANK x3 {PRANKSTER}" <{PRANKSTER}>'
    # On the caller's channel, in this order: the class kept, talk detection, the warning
    # before the greeting (one playback).
    on_caller = [r for r in daemon.asterisk.on("c1") if r[0] == "POST"]
    assert variable(on_caller[0]) == ("CALLGATE_PRIORITY", "2")
    assert variable(on_caller[1]) == ("TALK_DETECT(set)", "")
    assert on_caller[2][1] == "/channels/c1/play/greeting-c1"
    settings = Settings()
    assert on_caller[2][2]["media"] == f"{settings.screening.warning},{settings.call.greeting}"


async def test_a_silent_caller_is_prompted_and_lowered_and_its_channel_keeps_the_class(
    caplog: pytest.LogCaptureFixture,
) -> None:
    daemon = Daemon(CONFIG, history=Histories())
    await daemon.login("1001")
    await daemon.caller("busy", "+6281100000009")
    await daemon.answer("busy", "1001")
    await daemon.caller("c1", "+6281100000001")
    with caplog.at_level(logging.INFO):
        await daemon.advance(10.0)
        prompt = daemon.asterisk.on("c1")[-1]
        assert prompt[:2] == ("POST", "/channels/c1/play/silence-c1")
        assert prompt[2] == {"media": "sound:tekan-tombol"}
        await daemon.advance(8.0)
    daemon.close()
    assert "caller silent; asking for a key press" in caplog.messages
    assert "silent caller: ghost" in caplog.messages
    [note] = [n for n in daemon.notes(CallReclassified) if n.call_id == "c1"]
    assert (note.priority, note.category) == (Priority.NUISANCE, "ghost")
    assert variables_set(daemon, "c1")[-2:] == [
        ("CALLGATE_PRIORITY", str(int(Priority.NUISANCE))),
        ("TALK_DETECT(remove)", ""),
    ]


async def test_a_silent_caller_s_key_raises_the_call_and_speech_ends_the_watch() -> None:
    daemon = Daemon(CONFIG, history=Histories())
    await daemon.login("1001")
    await daemon.caller("busy", "+6281100000009")
    await daemon.answer("busy", "1001")
    await daemon.caller("c1", "+6281100000001")
    await daemon.caller("c2", "+6281100000002")
    await daemon.event(daemon.asterisk.frame("ChannelTalkingStarted", channel={"id": "c2"}))
    await daemon.advance(10.0)
    await daemon.event(
        daemon.asterisk.frame("ChannelDtmfReceived", channel={"id": "c1"}, digit="5")
    )
    daemon.close()
    changed = {n.call_id: (n.priority, n.category) for n in daemon.notes(CallReclassified)}
    assert changed == {"c1": (Priority.CALLBACK, "silent-key-pressed")}
    assert [c.call_id for c in daemon.engine.acd.queued_calls()] == ["c1", "c2"]
    # The speaker is not watched any more.
    assert variables_set(daemon, "c2")[-1] == ("TALK_DETECT(remove)", "")
    assert not [r for r in daemon.asterisk.on("c2") if "/play/silence" in r[1]]


async def test_without_talk_detection_the_caller_is_never_judged_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    daemon = Daemon(CONFIG, history=Histories())
    daemon.asterisk.fail("POST", "/channels/c1/variable")  # func_talkdetect not loaded
    await daemon.login("1001")
    await daemon.caller("busy", "+6281100000009")
    await daemon.answer("busy", "1001")
    with caplog.at_level(logging.ERROR):
        await daemon.caller("c1", "+6281100000001")
    await daemon.advance(60.0)
    daemon.close()
    assert any(m.startswith("ALARM: no talk detection") for m in caplog.messages)
    assert not [r for r in daemon.asterisk.on("c1") if "/play/silence" in r[1]]
    assert not daemon.notes(CallReclassified)


async def test_a_sim_less_caller_s_history_is_asked_by_identity_and_screened_anonymous() -> None:
    history = Histories()
    daemon = Daemon(AcdConfig(max_wait=None, screening=SCREENING), history=history)
    contact = '<sip:x@10.0.0.1>;+sip.instance="<urn:gsma:imei:35209900-176148-1>"'
    daemon.asterisk.variables[("c1", "PJSIP_HEADER(read,Contact)")] = contact
    await daemon.login("1001")
    await daemon.caller("c1", "")
    daemon.close()
    assert history.asked == [("anonymous", "35209900176148")]
    [start] = daemon.recorder.started
    assert (start.caller, start.category, start.identity) == (
        "anonymous",
        "anonymous",
        "35209900176148",
    )


async def test_with_screening_off_the_caller_is_neither_looked_up_nor_watched() -> None:
    daemon = Daemon(AcdConfig())
    await daemon.login("1001")
    await daemon.caller("c1", "+6281100000001")
    daemon.close()
    [start] = daemon.recorder.started
    assert (start.priority, start.category) == (Priority.NORMAL, "")
    assert variables_set(daemon, "c1") == [("CALLGATE_PRIORITY", "1")]


async def test_a_caller_found_after_a_restart_keeps_its_class_and_is_not_screened_again() -> None:
    history = Histories(**{PRANKSTER: pranks(3)})
    daemon = Daemon(CONFIG, history=history)
    await daemon.login("1001")
    await daemon.caller("busy", "+6281100000009")
    await daemon.answer("busy", "1001")
    channel = {
        "id": "c1",
        "state": "Up",
        "caller": {"number": PRANKSTER},
        "channelvars": {"CALLGATE_RECORDING": "callgate/c1.wav", "CALLGATE_PRIORITY": "2"},
    }
    await daemon.adapter.arrivals.new_call(channel, reconnected=True)
    await daemon.settle()
    await daemon.advance(30.0)
    daemon.close()
    assert [n.call_id for n in daemon.notes(CallScreened)] == ["busy"]
    assert history.asked == [("+6281100000009", None)]
    assert daemon.engine.acd.calls["c1"].priority == Priority.NUISANCE
    # Music on hold, no greeting, no talk detection, no prompt.
    assert [r[1] for r in daemon.asterisk.on("c1") if r[0] == "POST"] == ["/channels/c1/moh"]


async def test_a_caller_who_hangs_up_during_set_up_is_journaled_but_never_queued() -> None:
    daemon = Daemon(CONFIG, history=Histories())
    await daemon.login("1001")
    # The caller is gone by the time their history and variables are read.
    channel = {"id": "c1", "state": "Up", "caller": {"number": PRANKSTER}, "channelvars": {}}
    set_up = asyncio.ensure_future(daemon.adapter.arrivals.new_call(channel))
    await asyncio.sleep(0)
    await daemon.adapter.on_event(daemon.asterisk.frame("StasisEnd", channel={"id": "c1"}))
    await set_up
    await daemon.settle()
    daemon.close()
    [start] = daemon.recorder.started
    assert (start.call_id, start.priority, start.category) == ("c1", Priority.NORMAL, "")
    assert not daemon.notes(CallScreened)
    assert not [r for r in daemon.asterisk.log if r[:2] == ("POST", "/channels")]  # no ring
