"""AMI messages in, typed values out: device and contact states, endpoint listings, queue
summaries (see :mod:`callgate.asterisk.ami` for what Asterisk sends).

Pure, apart from logging a peer's bad input (once per message, field and value). Nothing here
touches a socket; :mod:`callgate.asterisk.ami.client` feeds it what panoramisk parsed.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from callgate.asterisk.device_merge import merge_rank
from callgate.core.agents import DeviceState

log = logging.getLogger(__name__)

#: One AMI message (event or response) as header -> value.
AmiMessage = Mapping[str, str]


class AsteriskDeviceState(enum.Enum):
    """A device state as Asterisk names it (``ast_devstate_str``)."""

    UNKNOWN = "UNKNOWN"
    NOT_INUSE = "NOT_INUSE"
    INUSE = "INUSE"
    BUSY = "BUSY"
    INVALID = "INVALID"
    UNAVAILABLE = "UNAVAILABLE"
    RINGING = "RINGING"
    RINGINUSE = "RINGINUSE"
    ONHOLD = "ONHOLD"


# PJSIPShowEndpoints spells states for people (ast_devstate2str); DeviceStateChange spells them
# as constants. Both are accepted, case-insensitively.
_HUMAN_STATES: Final[Mapping[str, AsteriskDeviceState]] = {
    "unknown": AsteriskDeviceState.UNKNOWN,
    "not in use": AsteriskDeviceState.NOT_INUSE,
    "in use": AsteriskDeviceState.INUSE,
    "busy": AsteriskDeviceState.BUSY,
    "invalid": AsteriskDeviceState.INVALID,
    "unavailable": AsteriskDeviceState.UNAVAILABLE,
    "ringing": AsteriskDeviceState.RINGING,
    "ring+inuse": AsteriskDeviceState.RINGINUSE,
    "on hold": AsteriskDeviceState.ONHOLD,
}

# Contact statuses that mean the contact is gone; every other known one means it exists.
_CONTACT_GONE: Final = frozenset({"removed"})
_CONTACT_PRESENT: Final = frozenset(
    {"created", "reachable", "unreachable", "nonqualified", "unknown", "updated"}
)


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A call-taker's phone as Asterisk sees it."""

    state: AsteriskDeviceState
    "Asterisk's device state for the endpoint."
    registered: bool
    "Asterisk has at least one contact (a registration) to send calls to."


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """One app_queue queue right now (``QueueSummary``)."""

    queue: str
    "The queue's name."
    callers: int
    "Callers waiting in it."
    longest_hold_time: int
    "Seconds the longest-waiting caller has waited (0 when nobody waits)."
    hold_time: int
    "Average seconds callers waited before being answered (app_queue's rolling figure)."
    logged_in: int
    "Members whose phone is not unavailable (app_queue counts an unregistered one as out)."
    available: int
    "Members free to take a call (not in use, not paused, device available)."


def to_core_device_state(status: DeviceStatus) -> DeviceState:
    """What the ACD core should believe about this phone.

    A phone with no contact cannot be rung whatever its state says; states Asterisk cannot
    vouch for (UNKNOWN, INVALID) are UNAVAILABLE so that a 112 call is never offered to a phone
    nobody knows to be there.
    """
    if not status.registered:
        return DeviceState.UNAVAILABLE
    return _CORE_STATES[status.state]


_CORE_STATES: Final[Mapping[AsteriskDeviceState, DeviceState]] = {
    AsteriskDeviceState.NOT_INUSE: DeviceState.NOT_INUSE,
    AsteriskDeviceState.INUSE: DeviceState.IN_USE,
    AsteriskDeviceState.BUSY: DeviceState.IN_USE,
    AsteriskDeviceState.ONHOLD: DeviceState.IN_USE,
    AsteriskDeviceState.RINGINUSE: DeviceState.IN_USE,
    AsteriskDeviceState.RINGING: DeviceState.RINGING,
    AsteriskDeviceState.UNAVAILABLE: DeviceState.UNAVAILABLE,
    AsteriskDeviceState.INVALID: DeviceState.UNAVAILABLE,
    AsteriskDeviceState.UNKNOWN: DeviceState.UNAVAILABLE,
}


# --- Translation: AMI messages in, typed values out. Pure, apart from logging bad input. ---

_reported: set[tuple[str, str, str]] = set()
_REPORTED_MAX: Final = 1000


def _malformed(what: str, field: str, value: str) -> None:
    """Log a peer's bad message once per (message, field, value): a misbehaving Asterisk must not
    flood the log, and one line naming the field is enough to act on."""
    key = (what, field, value[:100])
    if key in _reported:
        return
    if len(_reported) >= _REPORTED_MAX:
        # A peer sending endless new garbage gets logged again rather than grow memory.
        _reported.clear()
    _reported.add(key)
    log.error(
        "AMI sent an unusable message; skipped",
        extra={"ami_message": what, "field": field, "value": value[:100]},
    )


def parse_device_state(text: str) -> AsteriskDeviceState | None:
    """``NOT_INUSE`` or ``Not in use`` -> :attr:`AsteriskDeviceState.NOT_INUSE`; None if unknown."""
    key = text.strip()
    try:
        return AsteriskDeviceState(key.upper())
    except ValueError:
        return _HUMAN_STATES.get(key.lower())


def _field(message: AmiMessage, name: str) -> str | None:
    value = message.get(name)
    if value is None or not value.strip():
        _malformed(message.get("Event") or message.get("Response") or "?", name, "<missing>")
        return None
    return value.strip()


def device_state_change(event: AmiMessage) -> tuple[str, AsteriskDeviceState] | None:
    """A ``DeviceStateChange`` event -> ``("PJSIP/1001", state)``; None if not a PJSIP device
    (queues, Local channels, custom devices) or unusable (logged once)."""
    device = _field(event, "Device")
    raw_state = _field(event, "State")
    if device is None or raw_state is None:
        return None
    if not device.startswith("PJSIP/"):
        return None
    state = parse_device_state(raw_state)
    if state is None:
        _malformed("DeviceStateChange", "State", raw_state)
        return None
    return device, state


@dataclass(frozen=True, slots=True)
class ContactChange:
    """A contact (registration) of an endpoint appeared or went away."""

    endpoint: str
    "``PJSIP/<endpoint>``."
    contact: str
    "``aor/uri``, as PJSIPShowEndpoints lists it."
    present: bool
    "False once the contact is removed (unregistered or expired)."


def contact_status(event: AmiMessage) -> ContactChange | None:
    """A ``ContactStatus`` event -> :class:`ContactChange`; None if unusable (logged once)."""
    endpoint = _field(event, "EndpointName")
    aor = _field(event, "AOR")
    uri = _field(event, "URI")
    status = _field(event, "ContactStatus")
    if endpoint is None or aor is None or uri is None or status is None:
        return None
    if status.lower() in _CONTACT_GONE:
        present = False
    elif status.lower() in _CONTACT_PRESENT:
        present = True
    else:
        _malformed("ContactStatus", "ContactStatus", status)
        return None
    return ContactChange(f"PJSIP/{endpoint}", f"{aor}/{uri}", present)


def channel_endpoint(event: AmiMessage) -> str | None:
    """``Channel: PJSIP/1008-00000000`` -> ``PJSIP/1008``; None for other technologies."""
    channel = event.get("Channel", "")
    if not channel.startswith("PJSIP/"):
        return None
    name, sep, _suffix = channel.rpartition("-")
    return name if sep and name != "PJSIP" else None


@dataclass(frozen=True, slots=True)
class EndpointSnapshot:
    """One endpoint in a ``PJSIPShowEndpoints`` listing."""

    state: AsteriskDeviceState
    "Its device state when listed."
    contacts: frozenset[str]
    "Its contacts as ``aor/uri``."


def endpoints_snapshot(messages: Iterable[AmiMessage]) -> dict[str, EndpointSnapshot]:
    """The ``EndpointList`` events of a ``PJSIPShowEndpoints`` reply -> ``{"PJSIP/1001": ...}``.

    Other messages of the reply (the response, ``EndpointListComplete``) are ignored; an unusable
    item is logged once and left out.
    """
    snapshot: dict[str, EndpointSnapshot] = {}
    for message in messages:
        if message.get("Event") != "EndpointList":
            continue
        name = _field(message, "ObjectName")
        raw_state = _field(message, "DeviceState")
        if name is None or raw_state is None:
            continue
        state = parse_device_state(raw_state)
        if state is None:
            _malformed("EndpointList", "DeviceState", raw_state)
            continue
        contacts = frozenset(c.strip() for c in message.get("Contacts", "").split(",") if c.strip())
        snapshot[f"PJSIP/{name}"] = EndpointSnapshot(state, contacts)
    return snapshot


def queue_summary_from(queue: str, messages: Iterable[AmiMessage]) -> QueueSummary | None:
    """The ``QueueSummary`` event for ``queue`` in a reply; None if the queue is not there."""
    for message in messages:
        if message.get("Event") != "QueueSummary" or message.get("Queue") != queue:
            continue
        numbers: dict[str, int] = {}
        for name in ("Callers", "LongestHoldTime", "HoldTime", "LoggedIn", "Available"):
            raw = message.get(name, "")
            try:
                numbers[name] = int(raw)
            except ValueError:
                _malformed("QueueSummary", name, raw or "<missing>")
                return None
        return QueueSummary(
            queue=queue,
            callers=numbers["Callers"],
            longest_hold_time=numbers["LongestHoldTime"],
            hold_time=numbers["HoldTime"],
            logged_in=numbers["LoggedIn"],
            available=numbers["Available"],
        )
    return None


def headers_of(message: Any) -> dict[str, str]:
    """A panoramisk Message as plain typed headers (a repeated header keeps its last value)."""
    out: dict[str, str] = {}
    for key, value in dict(message).items():
        if key == "content":
            continue
        out[str(key)] = str(value[-1]) if isinstance(value, list) and value else str(value)
    return out


def messages_of(reply: Any) -> list[dict[str, str]]:
    """panoramisk resolves a list action to a list of messages and anything else to one."""
    if isinstance(reply, list):
        return [headers_of(m) for m in reply]
    return [headers_of(reply)]


def statuses_from_snapshot(snapshot: Mapping[str, EndpointSnapshot]) -> dict[str, DeviceStatus]:
    """What :class:`~callgate.asterisk.ami.client.AmiClient` delivers for a snapshot: each
    endpoint's :class:`DeviceStatus`."""
    return {ep: DeviceStatus(s.state, registered=bool(s.contacts)) for ep, s in snapshot.items()}


def merged_status(views: Iterable[DeviceStatus]) -> DeviceStatus | None:
    """One phone as the centre sees it, from each node's view of it (None: no node has one).

    Registered if any node can send it a call. Busy or ringing on any node is busy or ringing
    for the centre: a call-taker talking through node 1 must not be offered a caller on node 2.
    Otherwise the state of a node that has a registration: node 1 saying UNAVAILABLE because
    the phone's account there lapsed must not hide that node 2 can ring it. The states rank
    as ARI's merge ranks them (:mod:`callgate.asterisk.device_merge`).
    """
    seen = list(views)
    if not seen:
        return None
    registered = [v for v in seen if v.registered]
    busiest = min(seen, key=_merge_rank)
    if _merge_rank(busiest) <= merge_rank("RINGING") or not registered:
        return DeviceStatus(busiest.state, registered=bool(registered))
    best = min(registered, key=_merge_rank)
    return DeviceStatus(best.state, registered=True)


def _merge_rank(view: DeviceStatus) -> int:
    return merge_rank(view.state.value)


def merged_summary(queue: str, summaries: Iterable[QueueSummary]) -> QueueSummary:
    """One fallback queue over several nodes (each node has its own app_queue queue, with the
    same members): callers are added up; the members are the same people on every node, so
    their counts are the largest any node saw, never a sum."""
    parts = list(summaries)
    return QueueSummary(
        queue=queue,
        callers=sum(s.callers for s in parts),
        longest_hold_time=max((s.longest_hold_time for s in parts), default=0),
        hold_time=max((s.hold_time for s in parts), default=0),  # the worst node's figure
        logged_in=max((s.logged_in for s in parts), default=0),
        available=max((s.available for s in parts), default=0),
    )
