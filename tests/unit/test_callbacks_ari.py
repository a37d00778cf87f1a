"""The ARI adapter's part of a callback attempt (the core's ``PrepareCallback``,
``DialCallback`` and ``CancelCallback``; its ``CallbackFailed``), against a fake of ARI."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from callgate.asterisk.ari import adapter as adapter_module
from callgate.asterisk.ari.adapter import AriAdapter
from callgate.asterisk.ari.callback_legs import CALLBACK_CONTEXT
from callgate.asterisk.ari.layout import CALLTAKER, CallLayout, Leg, Phase
from callgate.asterisk.ari.translate import TAKER_LEFT, callback_outcome
from callgate.config import Settings
from callgate.core.callbacks import AttemptOutcome
from callgate.core.commands import CancelCallback, DialCallback, PrepareCallback, RingAgent
from callgate.core.events import (
    AgentAnswered,
    AgentHungUp,
    CallbackFailed,
    CallBridged,
    CallerHungUp,
    Event,
)
from callgate.ports import RECORDS, AgentConnected, CallStarted, Record
from tests.unit.asterisk.recorded_ari import RecordedAri

CALL = "cb-x-1.1"
DIAL = DialCallback(CALL, "1006", "081234567")


def did(ari: RecordedAri, what: str) -> list[Any]:
    """What the adapter asked of ARI, by the client's helper that asks it (``originate``: the
    REST parameters; bridges and hang-ups: the ids; ``POST``: path and parameters)."""
    found: list[Any] = []
    for method, path, params in ari.log:
        parts = path.strip("/").split("/")
        if what == "originate" and (method, path) == ("POST", "/channels"):
            found.append(params)
        elif what == "create_bridge" and method == "POST" and parts[0] == "bridges":
            found.extend(parts[1:] if len(parts) == 2 else [])
        elif what == "add_to_bridge" and method == "POST" and parts[2:] == ["addChannel"]:
            found.append((parts[1], *str(params["channel"]).split(",")))
        elif what == "destroy_bridge" and method == "DELETE" and parts[0] == "bridges":
            found.append(parts[1])
        elif what == "hangup" and method == "DELETE" and parts[0] == "channels":
            found.extend(parts[1:] if len(parts) == 2 else [])
        elif what == method:
            found.append((path, params))
    return found


class Rig:
    def __init__(self) -> None:
        self.ari = RecordedAri()
        # The recording the adapter asks for: Asterisk's answer for every channel (as the
        # dialplan sets it on each call's channel).
        self.ari.variable = lambda channel, name: (
            f"callgate/{channel}.wav" if name == "CALLGATE_RECORDING" else ""
        )
        self.calls = AriAdapter(self.ari, Settings(), clock=lambda: 1000.0)
        self.fed: list[Event] = []
        #: The records for the observers (the journal, CAD), apart from the core's events.
        self.told: list[Record] = []

        async def feed(*events: Event | Record) -> None:
            for event in events:
                if isinstance(event, RECORDS):
                    self.told.append(event)
                else:
                    self.fed.append(event)

        self.calls.feed = feed

    async def taken_by(self, agent: str = "1006") -> str:
        """Offered, rung and answered by ``agent``; returns the call-taker's leg."""
        await self.calls.execute(PrepareCallback(CALL, "081234567", 0))
        await self.calls.execute(RingAgent(CALL, agent, f"PJSIP/{agent}", "CALLBACK 081234567"))
        [ring] = did(self.ari, "originate")
        leg = str(ring["channelId"])
        await self.calls.on_event(
            self.ari.frame("StasisStart", channel={"id": leg}, args=["calltaker", CALL, agent])
        )
        assert self.fed[-1] == AgentAnswered(CALL, agent)
        return leg


async def test_a_taken_callback_rings_the_call_taker_then_dials_the_number_into_the_dialplan() -> (
    None
):
    rig = Rig()
    leg = await rig.taken_by()
    assert await rig.calls.execute(DIAL) == ()
    assert did(rig.ari, "create_bridge") == [f"call-{CALL}"]
    assert did(rig.ari, "add_to_bridge") == [(f"call-{CALL}", leg)]
    play = [p for p in did(rig.ari, "POST") if "/play/" in p[0]]
    assert play == [(f"/channels/{leg}/play/ring-{CALL}", {"media": "tone:ring"})]
    outbound = did(rig.ari, "originate")[-1]
    assert outbound["endpoint"] == "PJSIP/081234567@jasnita"
    assert outbound["channelId"] == CALL
    # Into the dialplan, not the app: the number enters Stasis from there once it answers.
    assert (outbound["context"], outbound["extension"], outbound["priority"]) == (
        CALLBACK_CONTEXT,
        "s",
        1,
    )
    assert "app" not in outbound
    subscriptions = [p for p in did(rig.ari, "POST") if p[0].endswith("/subscription")]
    assert subscriptions[-1][1] == {"eventSource": f"channel:{CALL}"}

    # The number answers: it enters Stasis from the dialplan and joins the bridge.
    await rig.calls.on_event(
        rig.ari.frame("StasisStart", channel={"id": CALL}, args=["callback", CALL])
    )
    assert did(rig.ari, "add_to_bridge")[-1] == (f"call-{CALL}", CALL)
    assert ("DELETE", f"/playbacks/ring-{CALL}", {}) in rig.ari.log
    assert rig.fed[-1] == CallBridged(CALL)
    assert rig.calls.book.calls[CALL].recording == f"callgate/{CALL}.wav"
    # The journal and CAD hear of the attempt's start and of who is connected.
    started, connected = rig.told
    assert isinstance(started, CallStarted)
    assert (started.call_id, started.dialed, started.category) == (CALL, "callback", "callback")
    assert connected == AgentConnected(CALL, "1006", 1000.0)

    # It hangs up: an ordinary end of a connected call, no failure to report.
    await rig.calls.on_event(
        rig.ari.frame("StasisEnd", channel={"id": CALL}, cause_txt="Normal Clearing")
    )
    assert rig.fed[-1] == CallerHungUp(CALL)


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [
        ("User busy", AttemptOutcome.BUSY),
        ("No user responding", AttemptOutcome.NO_ANSWER),
        ("No answer", AttemptOutcome.NO_ANSWER),
        ("Unallocated (unassigned) number", AttemptOutcome.FAILED),
    ],
)
async def test_an_unanswered_number_ends_the_attempt_with_asterisk_s_cause(
    cause: str, outcome: AttemptOutcome
) -> None:
    rig = Rig()
    leg = await rig.taken_by()
    await rig.calls.execute(DIAL)
    await rig.calls.on_event(
        rig.ari.frame("ChannelDestroyed", channel={"id": CALL}, cause_txt=cause)
    )
    assert rig.fed[-1] == CallbackFailed(CALL, outcome, cause)
    assert len([e for e in rig.fed if isinstance(e, CallbackFailed)]) == 1  # told once
    assert leg in did(rig.ari, "hangup")  # the call-taker's leg goes too
    assert CALL not in rig.calls.book.calls


async def test_a_call_taker_who_hangs_up_while_it_rings_ends_the_attempt() -> None:
    rig = Rig()
    leg = await rig.taken_by()
    await rig.calls.execute(DIAL)
    await rig.calls.on_event(rig.ari.frame("ChannelDestroyed", channel={"id": leg}, cause_txt=""))
    assert rig.fed[-1] == CallbackFailed(CALL, AttemptOutcome.FAILED, TAKER_LEFT)
    assert CALL in did(rig.ari, "hangup")  # the number stops ringing


async def test_a_number_that_cannot_be_dialled_fails_the_attempt_at_once() -> None:
    rig = Rig()
    await rig.taken_by()
    rig.ari.fail("POST", "/channels", 400, endpoint="PJSIP/081234567@jasnita")
    [failed] = await rig.calls.execute(DIAL)
    assert isinstance(failed, CallbackFailed)
    assert (failed.call_id, failed.outcome) == (CALL, AttemptOutcome.FAILED)
    assert did(rig.ari, "destroy_bridge") == [f"call-{CALL}"]


async def test_an_attempt_the_core_withdrew_is_forgotten_and_never_sent_anywhere() -> None:
    rig = Rig()
    await rig.calls.execute(PrepareCallback(CALL, "081234567", 0))
    assert await rig.calls.execute(CancelCallback(CALL)) == ()
    assert CALL not in rig.calls.book.calls
    assert did(rig.ari, "originate") == []
    assert not [p for p in did(rig.ari, "POST") if "continue" in p[0]]
    assert rig.fed == []  # the core ended it itself


async def test_a_withdrawn_attempt_hangs_up_only_what_exists() -> None:
    rig = Rig()
    await rig.calls.execute(PrepareCallback(CALL, "081234567", 0))
    await rig.calls.execute(CancelCallback(CALL))
    assert CALL not in did(rig.ari, "hangup")

    rig = Rig()
    leg = await rig.taken_by()
    await rig.calls.execute(DIAL)
    await rig.calls.execute(CancelCallback(CALL))
    assert CALL in did(rig.ari, "hangup")  # the number dialled stops ringing
    assert leg in did(rig.ari, "hangup")  # and the call-taker's leg goes
    await rig.calls.execute(CancelCallback(CALL))  # gone: nothing more
    assert did(rig.ari, "hangup").count(CALL) == 1


async def test_a_dial_for_a_call_taker_who_left_is_told_back() -> None:
    rig = Rig()
    await rig.calls.execute(PrepareCallback(CALL, "081234567", 0))
    assert await rig.calls.execute(DIAL) == (AgentHungUp(CALL, "1006"),)


def test_hang_up_causes_map_to_outcomes() -> None:
    assert callback_outcome("USER_BUSY user busy") is AttemptOutcome.BUSY
    assert callback_outcome("") is AttemptOutcome.FAILED


def _talking(rig: Rig) -> str:
    """A 112 call in conversation with call-taker 1001; returns the call-taker's leg."""
    rig.calls.book.calls["c1"] = CallLayout(
        call_id="c1",
        caller="+6281234567",
        phase=Phase.BRIDGED,
        bridge_id="call-c1",
        agent_legs={"1001": "leg1"},
    )
    rig.calls.book.legs["leg1"] = Leg("c1", CALLTAKER, agent_id="1001")
    rig.calls.book.answered.add("leg1")
    return "leg1"


async def test_an_answered_call_taker_is_free_from_their_channel_s_destruction_not_stasis_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adapter_module, "DESTROYED_GRACE", 0.05)
    # Wrap-up counts from the hang-up; Asterisk's Hangup (ChannelDestroyed) comes a moment after
    # StasisEnd, and a call-taker is free from the former.
    rig = Rig()
    leg = _talking(rig)
    left = rig.ari.frame("StasisEnd", channel={"id": leg}, timestamp="2026-11-27T06:00:00.100+0000")
    await rig.calls.on_event(left)
    await asyncio.sleep(0)
    assert rig.fed == []  # not yet: the channel still exists
    gone = rig.ari.frame(
        "ChannelDestroyed",
        channel={"id": leg},
        cause_txt="Normal Clearing",
        timestamp="2026-11-27T06:00:00.120+0000",
    )
    await rig.calls.on_event(gone)
    expected = dt.datetime(2026, 11, 27, 6, 0, 0, 121000, dt.UTC).timestamp()
    assert rig.fed == [AgentHungUp("c1", "1001", at=pytest.approx(expected))]
    # The grace that ends after it finds the leg gone: the hang-up is told once.
    await rig.calls.drain()
    assert len(rig.fed) == 1


async def test_without_channel_destroyed_the_stasis_end_counts_after_a_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adapter_module, "DESTROYED_GRACE", 0.0)
    rig = Rig()
    leg = _talking(rig)
    await rig.calls.on_event(
        rig.ari.frame("StasisEnd", channel={"id": leg}, timestamp="2026-11-27T06:00:00.100+0000")
    )
    for _ in range(100):
        if rig.fed:
            break
        await asyncio.sleep(0.01)
    expected = dt.datetime(2026, 11, 27, 6, 0, 0, 101000, dt.UTC).timestamp()
    assert rig.fed == [AgentHungUp("c1", "1001", at=pytest.approx(expected))]
