"""ARI events to core events (asterisk/ari/translate.py): pure, over hand-made books."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from callgate.asterisk.ari.layout import (
    ADOPTED,
    AGENCY,
    CALLTAKER,
    DESTINATION,
    Book,
    CallbackLeg,
    CallLayout,
    Leg,
    Phase,
)
from callgate.asterisk.ari.translate import (
    DEVICE_STATES,
    TAKER_LEFT,
    adopted_answer,
    callback_outcome,
    caller_number,
    hangup_at,
    in_app,
    quote,
    translate,
)
from callgate.core.agents import DeviceState
from callgate.core.callbacks import AttemptOutcome
from callgate.core.events import (
    AgencyJoined,
    AgentAnswered,
    AgentHungUp,
    AgentNoAnswer,
    AnnouncementFinished,
    CallArrived,
    CallbackFailed,
    CallBridged,
    CallerHungUp,
    CallerPressedKey,
    CallerSpoke,
    CallTakerKeyPressed,
    DestinationAnswered,
    DestinationFailed,
    DeviceStateChanged,
)

STAMP = "2026-11-27T07:58:57.988+0000"
#: The end of that millisecond (ARI cuts stamps short): when the hang-up had certainly happened.
AT = dt.datetime(2026, 11, 27, 7, 58, 57, 988000, dt.UTC).timestamp() + 0.001


def book(*layouts: CallLayout, **legs: Leg) -> Book:
    held = Book(endpoints={"1001": "PJSIP/1001"})
    held.calls.update({layout.call_id: layout for layout in layouts})
    held.legs.update(legs)
    return held


def started(channel_id: str, *args: str, **channel: Any) -> dict[str, Any]:
    return {"type": "StasisStart", "channel": {"id": channel_id, **channel}, "args": list(args)}


def gone(channel_id: str, kind: str = "ChannelDestroyed", cause: str = "") -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "channel": {"id": channel_id}, "timestamp": STAMP}
    if cause:
        event["cause_txt"] = cause
    return event


# -- phones --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("asterisk", "core"), sorted(DEVICE_STATES.items()))
def test_a_call_taker_s_device_state_is_told_as_the_core_sees_it(
    asterisk: str, core: DeviceState
) -> None:
    event = {
        "type": "DeviceStateChanged",
        "device_state": {"name": "PJSIP/1001", "state": asterisk},
    }
    assert translate(event, book()) == (DeviceStateChanged("1001", core),)


def test_an_unknown_state_is_unavailable_and_a_phone_of_nobody_is_not_told() -> None:
    odd = {"type": "DeviceStateChanged", "device_state": {"name": "PJSIP/1001", "state": "?"}}
    assert translate(odd, book()) == (DeviceStateChanged("1001", DeviceState.UNAVAILABLE),)
    other = {"type": "DeviceStateChanged", "device_state": {"name": "PJSIP/9", "state": "INUSE"}}
    assert translate(other, book()) == ()


# -- arrivals and answers ------------------------------------------------------------------------


def test_a_new_caller_arrives_unscreened_in_the_normal_class() -> None:
    assert translate(started("c1", caller={"number": "+62811"}), book()) == (
        CallArrived("c1", caller="+62811", priority=1, category="", caller_name="112 +62811"),
    )
    # No number: the caller is "anonymous" (screening tags them).
    [arrived] = translate(started("c2", caller={"number": ""}), book())
    assert isinstance(arrived, CallArrived)
    assert (arrived.caller, arrived.caller_name) == ("anonymous", "112 anonymous")


def test_a_caller_already_held_arrives_once() -> None:
    assert translate(started("c1"), book(CallLayout("c1", "+62811"))) == ()


def test_a_picked_up_leg_is_an_answer_of_its_kind() -> None:
    call = CallLayout("c1", "+62811", phase=Phase.BRIDGED)
    legs = {
        "t": Leg("c1", CALLTAKER, agent_id="1001"),
        "d": Leg("c1", DESTINATION),
        "a": Leg("c1", AGENCY, agent_id="1001", agency="damkar"),
    }
    held = book(call, **legs)
    assert translate(started("t", "calltaker", "c1", "1001"), held) == (
        AgentAnswered("c1", "1001"),
    )
    assert translate(started("d", "destination", "c1"), held) == (DestinationAnswered("c1"),)
    assert translate(started("a", "agency", "c1", "damkar"), held) == (
        AgencyJoined("c1", "damkar"),
    )


def test_a_leg_nobody_waits_for_means_nothing() -> None:
    # Cancelled, or from before a restart: the adapter hangs it up.
    assert translate(started("t", "calltaker", "c1", "1001"), book()) == ()
    # Its caller is gone, or over.
    ended = CallLayout("c1", "+62811", phase=Phase.ENDED)
    legs = {"d": Leg("c1", DESTINATION), "a": Leg("c1", AGENCY, agency="damkar")}
    assert translate(started("d", "destination", "c1"), book(**legs)) == ()
    assert translate(started("a", "agency", "c1", "damkar"), book(ended, **legs)) == ()


def test_a_number_called_back_that_answers_is_bridged_if_its_call_taker_waits() -> None:
    waiting = CallLayout(
        "cb-1.1", "0811", phase=Phase.BRIDGED, bridge_id="call-cb-1.1", callback=CallbackLeg("x")
    )
    answered = started("cb-1.1", "callback", "cb-1.1")
    assert translate(answered, book(waiting)) == (CallBridged("cb-1.1"),)
    assert translate(answered, book()) == ()
    no_bridge = CallLayout("cb-1.1", "0811", callback=CallbackLeg("x"))
    assert translate(answered, book(no_bridge)) == ()


# -- hang-ups ------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [Phase.BLOCKED, Phase.QUEUED, Phase.CONNECTING, Phase.BRIDGED])
def test_a_caller_the_core_has_hangs_up_at_asterisk_s_stamp(phase: Phase) -> None:
    call = CallLayout("c1", "+62811", phase=phase)
    for kind in ("StasisEnd", "ChannelDestroyed"):
        assert translate(gone("c1", kind), book(call)) == (CallerHungUp("c1", at=AT),)


@pytest.mark.parametrize(
    "phase",
    [
        Phase.SETTING_UP,
        Phase.HANDED_BACK,
        Phase.RELEASED,
        Phase.ENDED,
        Phase.ADOPTED,
    ],
)
def test_a_caller_the_core_does_not_have_leaves_silently(phase: Phase) -> None:
    assert translate(gone("c1", "StasisEnd"), book(CallLayout("c1", "+62811", phase=phase))) == ()


def test_an_answered_call_taker_hangs_up_when_their_channel_is_destroyed() -> None:
    held = book(CallLayout("c1", "+62811", phase=Phase.BRIDGED), t=Leg("c1", CALLTAKER, "1001"))
    held.answered.add("t")
    # Leaving Stasis is not yet free: the wrap-up counts from the channel's destruction.
    assert translate(gone("t", "StasisEnd"), held) == ()
    assert translate(gone("t", "ChannelDestroyed"), held) == (AgentHungUp("c1", "1001", at=AT),)


def test_a_ring_that_ends_unanswered_is_a_no_answer_with_asterisk_s_cause() -> None:
    held = book(CallLayout("c1", "+62811"), t=Leg("c1", CALLTAKER, "1001"))
    assert translate(gone("t", cause="Normal Clearing"), held) == (
        AgentNoAnswer("c1", "1001", "Normal Clearing"),
    )
    assert translate(gone("t", "StasisEnd"), held) == (AgentNoAnswer("c1", "1001", ""),)


def test_a_destination_that_did_not_answer_failed_and_one_that_did_is_silent() -> None:
    held = book(CallLayout("c1", "+62811"), d=Leg("c1", DESTINATION))
    assert translate(gone("d", cause="Busy"), held) == (DestinationFailed("c1", "Busy"),)
    assert translate(gone("d"), held) == (DestinationFailed("c1", "no answer"),)
    held.answered.add("d")
    assert translate(gone("d"), held) == ()


def test_agencies_adopted_legs_and_strangers_leave_silently() -> None:
    held = book(
        CallLayout("c1", "+62811", phase=Phase.BRIDGED),
        a=Leg("c1", AGENCY, agency="damkar"),
        x=Leg("c1", ADOPTED),
    )
    held.answered.update({"a", "x"})
    for channel in ("a", "x", "nobody"):
        assert translate(gone(channel), held) == ()


def test_a_call_taker_who_leaves_while_the_number_rings_ends_the_callback_attempt() -> None:
    ringing = CallLayout(
        "cb-1.1", "0811", phase=Phase.BRIDGED, bridge_id="call-cb-1.1", callback=CallbackLeg("x")
    )
    held = book(ringing, t=Leg("cb-1.1", CALLTAKER, "1006"))
    held.answered.add("t")
    assert translate(gone("t"), held) == (
        CallbackFailed("cb-1.1", AttemptOutcome.FAILED, TAKER_LEFT),
    )
    assert ringing.callback is not None
    ringing.callback.answered = True  # the number answered: an ordinary hang-up
    assert translate(gone("t"), held) == (AgentHungUp("cb-1.1", "1006", at=AT),)


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [("User busy", AttemptOutcome.BUSY), ("", AttemptOutcome.FAILED)],
)
def test_a_number_called_back_that_ends_unanswered_fails_the_attempt_with_its_cause(
    cause: str, outcome: AttemptOutcome
) -> None:
    dialled = CallLayout("cb-1.1", "0811", phase=Phase.BRIDGED, callback=CallbackLeg("x"))
    assert translate(gone("cb-1.1", cause=cause), book(dialled)) == (
        CallbackFailed("cb-1.1", outcome, cause or outcome.value),
    )
    assert dialled.callback is not None
    dialled.callback.answered = True  # it answered, then hung up: an ordinary hang-up
    assert translate(gone("cb-1.1", cause=cause), book(dialled)) == (CallerHungUp("cb-1.1", at=AT),)


# -- everything else -----------------------------------------------------------------------------


def test_a_waiting_caller_s_speech_and_keys_are_told_and_a_connected_call_taker_s_keys_too() -> (
    None
):
    held = book(CallLayout("c1", "+62811"), t=Leg("c1", CALLTAKER, "1001"))
    talking = {"type": "ChannelTalkingStarted", "channel": {"id": "c1"}}
    assert translate(talking, held) == (CallerSpoke("c1"),)
    key = {"type": "ChannelDtmfReceived", "channel": {"id": "c1"}, "digit": "5"}
    assert translate(key, held) == (CallerPressedKey("c1", "5"),)
    # A call-taker's keys call agencies and set dispositions: the core reads them (#20), once
    # the call-taker is connected.
    taker = {"type": "ChannelDtmfReceived", "channel": {"id": "t"}, "digit": "*"}
    assert translate(taker, held) == ()
    held.answered.add("t")
    assert translate(taker, held) == (CallTakerKeyPressed("c1", "1001", "*"),)
    assert translate({**taker, "channel": {"id": "gone"}}, held) == ()
    assert translate({**talking, "channel": {"id": "gone"}}, held) == ()


def test_the_end_of_a_blocked_caller_s_announcement_is_told_and_other_playbacks_are_not() -> None:
    held = book(CallLayout("c1", "+62811", phase=Phase.BLOCKED))
    finished = {"type": "PlaybackFinished", "playback": {"id": "blocked-c1"}}
    assert translate(finished, held) == (AnnouncementFinished("c1"),)
    assert translate({**finished, "playback": {"id": "greeting-c1"}}, held) == ()
    assert translate({**finished, "playback": {"id": "blocked-c2"}}, held) == ()


@pytest.mark.parametrize("kind", ["ChannelVarset", "Dial", "PlaybackStarted", "BridgeDestroyed"])
def test_other_events_mean_nothing_to_the_core(kind: str) -> None:
    assert translate({"type": kind, "channel": {"id": "c1"}}, book(CallLayout("c1", "+62"))) == ()


def test_an_event_without_its_fields_raises_for_the_adapter_to_skip_it() -> None:
    with pytest.raises(KeyError):
        translate({"type": "StasisStart"}, book())
    with pytest.raises(KeyError):
        translate({"type": "DeviceStateChanged", "device_state": {"name": "PJSIP/1001"}}, book())


def test_translating_changes_nothing_it_reads() -> None:
    call = CallLayout("c1", "+62811", phase=Phase.QUEUED)
    held = book(call, t=Leg("c1", CALLTAKER, "1001"))
    before = (dict(held.calls), dict(held.legs), set(held.answered), call.phase)
    for event in (gone("c1"), gone("t"), started("t", "calltaker", "c1", "1001"), started("c2")):
        translate(event, held)
    assert (dict(held.calls), dict(held.legs), set(held.answered), call.phase) == before


# -- helpers -------------------------------------------------------------------------------------


def test_helpers() -> None:
    assert caller_number({"caller": {"number": ""}}) == "anonymous"
    assert caller_number({}) == "anonymous"
    assert hangup_at({"timestamp": STAMP}) == AT
    assert hangup_at({}) is None
    assert quote('a "b" \\c') == "a 'b' c"
    stasis = {"dialplan": {"app_name": "Stasis", "app_data": "callgate,calltaker,c1"}}
    assert in_app(stasis, "callgate")
    assert not in_app(stasis, "other")
    assert not in_app({"dialplan": {"app_name": "Queue", "app_data": "callgate"}}, "callgate")


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [
        ("User busy", AttemptOutcome.BUSY),
        ("No user responding", AttemptOutcome.NO_ANSWER),
        ("No answer", AttemptOutcome.NO_ANSWER),
        ("Subscriber absent", AttemptOutcome.NO_ANSWER),
        ("Unallocated (unassigned) number", AttemptOutcome.FAILED),
        ("", AttemptOutcome.FAILED),
    ],
)
def test_an_unanswered_callback_s_outcome_comes_from_asterisk_s_cause(
    cause: str, outcome: AttemptOutcome
) -> None:
    assert callback_outcome(cause) is outcome


ASTERISK_22_LEG = {
    "id": "calltaker-46cafc55",
    "name": "PJSIP/1001-00000001",
    "dialplan": {"app_name": "Stasis", "app_data": "callgate,calltaker,1796649260.0,1001"},
    "creationtime": "2026-12-07T13:14:20.698+0000",
}
BRIDGE = {"id": "call-1796649260.0", "creationtime": "2026-12-07T13:14:20.738+0000"}


def _stamp(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("bridge", "leg", "expected"),
    [
        # As Asterisk 22 lists them: 1001 rang at .698, the bridge was made at their answer.
        (BRIDGE, ASTERISK_22_LEG, ("1001", _stamp("2026-12-07T13:14:20.738+00:00"))),
        # A bridge with no creation time: their leg's, when their phone began to ring.
        ({"id": "b"}, ASTERISK_22_LEG, ("1001", _stamp("2026-12-07T13:14:20.698+00:00"))),
        # A bridge made for somebody who left before it: the later leg's creation.
        (
            {"id": "b", "creationtime": "2026-12-07T13:14:00.000+0000"},
            ASTERISK_22_LEG,
            ("1001", _stamp("2026-12-07T13:14:20.698+00:00")),
        ),
        # A leg not rung by callgate (its arguments lost): whose phone it is.
        (
            BRIDGE,
            {"id": "x", "name": "PJSIP/ct-2-0000000a", "dialplan": {}},
            ("ct-2", _stamp("2026-12-07T13:14:20.738+00:00")),
        ),
        # Nobody's phone (an agency left alone with the caller), or no time at all.
        (BRIDGE, {"id": "a", "name": "PJSIP/damkar-00000003"}, (None, None)),
        ({"id": "b"}, {**ASTERISK_22_LEG, "creationtime": None}, ("1001", None)),
    ],
)
def test_an_adopted_conversation_names_who_answered_and_when(
    bridge: dict[str, Any], leg: dict[str, Any], expected: tuple[str | None, float | None]
) -> None:
    endpoints = {"1001": "PJSIP/1001", "ct-2": "PJSIP/ct-2"}
    assert adopted_answer(bridge, [leg], endpoints) == expected
