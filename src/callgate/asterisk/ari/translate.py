"""ARI events to core events: pure functions, no I/O, no clock, nothing changed.

:func:`translate` says what one ARI event (a WebSocket frame, as JSON) means for the core, given
what the adapter holds in Asterisk (its :class:`~callgate.asterisk.ari.layout.Book`, only read).
The adapter feeds those events once Asterisk has done its part (a destination answered counts
once it is bridged with the caller); the helpers below are the pieces it is made of:

- a phone's device state -> ``DeviceStateChanged`` (Asterisk's states as the core sees them);
- a new caller in Stasis -> ``CallArrived`` (the arrival set-up adds the caller's history: the
  core screens it);
- a leg callgate originated entering Stasis (picked up) -> ``AgentAnswered``,
  ``DestinationAnswered``, ``AgencyJoined``; a callback's number -> ``CallBridged``;
- a channel leaving (``StasisEnd``/``ChannelDestroyed``) -> ``CallerHungUp``, ``AgentHungUp``,
  ``AgentNoAnswer``, ``DestinationFailed``, ``CallbackFailed``, stamped with Asterisk's own
  clock where it counts (a call-taker's wrap-up counts from the real hang-up, however late the
  event reaches us; an answered call-taker's hang-up is their channel's destruction, see
  :func:`answered_calltaker`);
- a waiting caller's speech (``ChannelTalkingStarted``) -> ``CallerSpoke``, their key
  (``ChannelDtmfReceived``) -> ``CallerPressedKey``, the end of a blocked caller's announcement
  (``PlaybackFinished``) -> ``AnnouncementFinished``;
- a connected call-taker's key (``ChannelDtmfReceived``) -> ``CallTakerKeyPressed`` (the core
  reads ``*<digit>``, ``#<digit>`` and ``**<digit>``; :mod:`.handoff` carries out its answer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from callgate.asterisk.ari.client import JsonObject
from callgate.asterisk.ari.layout import (
    ADOPTED,
    AGENCY,
    ANNOUNCEMENT_PREFIX,
    CALLBACK,
    CALLTAKER,
    DESTINATION,
    IN_CORE_PHASES,
    Book,
    CallLayout,
    Leg,
)
from callgate.asterisk.timestamps import ari_moment_passed, ari_timestamp
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
    Event,
    Priority,
)
from callgate.ports import agent_id_of

#: Asterisk device states (ARI DeviceStateChanged) as the core sees them.
DEVICE_STATES = {
    "NOT_INUSE": DeviceState.NOT_INUSE,
    "INUSE": DeviceState.IN_USE,
    "BUSY": DeviceState.IN_USE,
    "ONHOLD": DeviceState.IN_USE,
    "RINGINUSE": DeviceState.IN_USE,
    "RINGING": DeviceState.RINGING,
    "UNAVAILABLE": DeviceState.UNAVAILABLE,
    "INVALID": DeviceState.UNAVAILABLE,
    "UNKNOWN": DeviceState.UNAVAILABLE,
}

Events = tuple[Event, ...]
#: Why an attempt ended when its call-taker left while the number still rang.
TAKER_LEFT = "call-taker hung up while dialling"


def translate(event: JsonObject, book: Book) -> Events:
    """The core events ``event`` stands for, given ``book``; () for the others.

    Raises KeyError/TypeError/AttributeError for an event without the fields its type has (the
    adapter logs and skips it)."""
    kind = event.get("type")
    if kind == "StasisStart":
        return stasis_started(event, book)
    if kind == "StasisEnd" and answered_calltaker(event["channel"]["id"], book):
        return ()  # told by its ChannelDestroyed (see answered_calltaker)
    if kind in ("StasisEnd", "ChannelDestroyed"):
        return channel_gone(event, book)
    if kind == "DeviceStateChanged":
        changed = device_state_changed(event["device_state"], book.endpoints)
        return () if changed is None else (changed,)
    if kind == "ChannelTalkingStarted":
        channel_id = event["channel"]["id"]
        return (CallerSpoke(channel_id),) if channel_id in book.calls else ()
    if kind == "ChannelDtmfReceived":
        channel_id = event["channel"]["id"]
        digit = str(event["digit"])
        if channel_id in book.calls:
            return (CallerPressedKey(channel_id, digit),)
        leg = book.legs.get(channel_id)
        if leg is None or leg.role != CALLTAKER or channel_id not in book.answered:
            return ()
        return (CallTakerKeyPressed(leg.call_id, leg.agent_id, digit),)
    if kind == "PlaybackFinished":
        return playback_finished(event["playback"], book)
    return ()


def playback_finished(playback: JsonObject, book: Book) -> Events:
    """A playback ended: for a blocked caller's announcement, the core hangs up next."""
    playback_id = str(playback["id"])
    call_id = playback_id.removeprefix(ANNOUNCEMENT_PREFIX)
    if call_id == playback_id or call_id not in book.calls:
        return ()
    return (AnnouncementFinished(call_id),)


def stasis_started(event: JsonObject, book: Book) -> Events:
    """A channel entered the app: a new caller, a leg picked up, a callback's number answered."""
    channel = event["channel"]
    channel_id = channel["id"]
    args = event.get("args") or []
    if args and args[0] == CALLBACK:
        return callback_answered(book.calls.get(channel_id))
    if args and args[0] in (CALLTAKER, DESTINATION, AGENCY):
        leg = book.legs.get(channel_id)
        return () if leg is None else leg_answered(leg, book.calls.get(leg.call_id))
    if channel_id in book.calls:
        return ()
    return (caller_arrived(channel),)


def caller_arrived(channel: JsonObject) -> CallArrived:
    """A caller as they reach the app: normal class, the number shown as ``112 <number>``
    (screening may change all three)."""
    caller = caller_number(channel)
    return CallArrived(
        channel["id"],
        caller=caller,
        priority=int(Priority.NORMAL),
        category="",
        caller_name=f"112 {caller}",
    )


def leg_answered(leg: Leg, layout: CallLayout | None) -> Events:
    """A leg callgate originated for ``layout``'s call picked up (it entered Stasis)."""
    if leg.role == CALLTAKER:
        return (AgentAnswered(leg.call_id, leg.agent_id),)
    if layout is None:
        return ()  # the caller is gone: the leg is hung up
    if leg.role == AGENCY:
        return () if layout.ended else (AgencyJoined(leg.call_id, leg.agency),)
    return (DestinationAnswered(leg.call_id),)


def callback_answered(layout: CallLayout | None) -> Events:
    """The number a callback dialled answered: bridged with the call-taker waiting for it."""
    if layout is None or layout.callback is None or layout.ended or layout.bridge_id is None:
        return ()  # nobody waits for it: it is hung up
    return (CallBridged(layout.call_id),)


def answered_calltaker(channel_id: str, book: Book) -> bool:
    """``channel_id`` is a call-taker's leg that picked up.

    Such a call-taker is free once their channel is gone (Asterisk's Hangup), a moment after it
    leaves Stasis: a wrap-up counted from StasisEnd could end up to ~20 ms early. So their hang-up
    is the leg's ChannelDestroyed; the adapter takes the StasisEnd (:func:`channel_gone`) only if
    no ChannelDestroyed follows within a grace."""
    leg = book.legs.get(channel_id)
    return leg is not None and leg.role == CALLTAKER and channel_id in book.answered


def channel_gone(event: JsonObject, book: Book) -> Events:
    """A channel left the app (``StasisEnd``) or Asterisk (``ChannelDestroyed``)."""
    channel_id = event["channel"]["id"]
    cause = event.get("cause_txt", "")
    at = hangup_at(event)
    layout = book.calls.get(channel_id)
    if layout is not None:
        if layout.phase not in IN_CORE_PHASES:
            # Before the core heard of it (set-up), or after callgate let it go: nothing to tell.
            return ()
        callback = layout.callback
        if callback is not None and not callback.answered:
            # A callback's number that ended unanswered: busy, no answer, or a failure.
            outcome = callback_outcome(cause)
            return (CallbackFailed(channel_id, outcome, cause or outcome.value),)
        return (CallerHungUp(channel_id, at=at),)
    leg = book.legs.get(channel_id)
    if leg is None or leg.role in (ADOPTED, AGENCY):
        return ()
    return leg_gone(leg, book.calls.get(leg.call_id), channel_id in book.answered, cause, at)


def leg_gone(
    leg: Leg, layout: CallLayout | None, answered: bool, cause: Any, at: float | None
) -> Events:
    """A call-taker's or destination's leg ended, answered (picked up) or not."""
    if leg.role == CALLTAKER and callback_taker_left(layout, answered=answered):
        # The call-taker hung up while the number still rang: the attempt ends.
        return (CallbackFailed(leg.call_id, AttemptOutcome.FAILED, TAKER_LEFT),)
    if leg.role == DESTINATION:
        return () if answered else (DestinationFailed(leg.call_id, cause or "no answer"),)
    if answered:
        return (AgentHungUp(leg.call_id, leg.agent_id, at=at),)
    return (AgentNoAnswer(leg.call_id, leg.agent_id, cause),)


def callback_taker_left(layout: CallLayout | None, *, answered: bool) -> bool:
    """A call-taker who had taken ``layout``'s callback left before the number answered."""
    callback = layout.callback if layout is not None else None
    return (
        layout is not None
        and callback is not None
        and answered
        and not callback.answered
        and not layout.ended
    )


def device_state_changed(
    device_state: JsonObject, endpoints: Mapping[str, str]
) -> DeviceStateChanged | None:
    """A call-taker's phone changed state; None for a device that is no call-taker's."""
    agent_id = agent_id_of(str(device_state["name"]))
    if agent_id not in endpoints:
        return None
    state = DEVICE_STATES.get(str(device_state["state"]), DeviceState.UNAVAILABLE)
    return DeviceStateChanged(agent_id, state)


def hangup_at(event: JsonObject) -> float | None:
    """When a channel had certainly ended, by Asterisk's stamp on the event (None if absent)."""
    return ari_moment_passed(event.get("timestamp"))


def caller_number(channel: JsonObject) -> str:
    """The caller's number as the dialplan left it (E.164), or ``anonymous``."""
    return channel.get("caller", {}).get("number", "") or "anonymous"


def callback_outcome(cause: str) -> AttemptOutcome:
    """An unanswered callback's outcome from Asterisk's hang-up cause text."""
    text = cause.lower()
    if "busy" in text:
        return AttemptOutcome.BUSY
    if "answer" in text or "no user responding" in text or "subscriber absent" in text:
        return AttemptOutcome.NO_ANSWER
    return AttemptOutcome.FAILED


def in_app(channel: JsonObject, app: str) -> bool:
    """The channel runs Stasis for ``app`` (from a ``GET /channels`` listing)."""
    dialplan: dict[str, Any] = channel.get("dialplan", {})
    return (
        dialplan.get("app_name") == "Stasis"
        and str(dialplan.get("app_data", "")).split(",")[0] == app
    )


def quote(text: str) -> str:
    """Make a caller-ID name safe inside double quotes."""
    return text.replace("\\", "").replace('"', "'")


def adopted_answer(
    bridge: JsonObject, legs: Sequence[JsonObject], endpoints: Mapping[str, str]
) -> tuple[str | None, float | None]:
    """Who answered a conversation found connected at a (re)connection, and when, as Asterisk
    has it: ``(call-taker id, Unix seconds)``, either None when Asterisk cannot tell.

    ``legs``: the other channels in the caller's bridge. The call-taker is the one whose leg
    callgate rang (its Stasis arguments name them), else the one whose phone it is. The time is
    the later of the bridge's creation and the call-taker leg's: callgate makes a call's bridge
    the moment its first call-taker answers (:meth:`.channels.Channels.join`), so the bridge's
    creation is the answer within a request's time; the leg was made when their phone began to
    ring, before the answer, and counts when later (the bridge made for a call-taker who left
    before it, or an Asterisk whose bridges carry no creation time). Neither is ever after the
    answer."""
    for leg in legs:
        args = str(leg.get("dialplan", {}).get("app_data", "")).split(",")
        if len(args) >= 4 and args[1] == CALLTAKER:
            agent_id: str | None = args[3]
        else:
            phone = str(leg.get("name", "")).rpartition("-")[0]
            agent_id = next((a for a, e in endpoints.items() if e == phone), None)
        if agent_id:
            stamps = [ari_timestamp(c.get("creationtime")) for c in (bridge, leg)]
            return agent_id, max((t for t in stamps if t is not None), default=None)
    return None, None
