"""CAD's broker and topics of one site, and the retained queue-state snapshot on one of them.

Every id that becomes a topic level is made safe first: a call id or request id must never
inject a level or a wildcard into a topic.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import aiomqtt

from callgate.core.calls import CallState
from callgate.core.commands import (
    AgentStateChanged,
    CallEnded,
    CallReclassified,
    CallStateChanged,
    ShiftStaffing,
)
from callgate.mqtt.schema import EventBase, QueueState, ShiftStaffingEvent, Status
from callgate.mqtt.settings import MqttSettings

#: Characters MQTT gives a meaning in topics.
_TOPIC_UNSAFE = re.compile(r"[/+#\x00]")


def _level(value: str) -> str:
    return _TOPIC_UNSAFE.sub("_", value) or "_"


class Topics:
    """Every topic of one site, from the settings."""

    def __init__(self, settings: MqttSettings) -> None:
        self.base = settings.base
        self.status = f"{self.base}/status"
        self.queue_state = f"{self.base}/queue/state"
        # .../commands/<client>/<request id>: the broker's ACL (pattern write .../%u/#) lets
        # only the MQTT user <client> publish there, so <client> is who sent the command.
        self.commands = f"{self.base}/commands/+/+"

    def call_events(self, call_id: str) -> str:
        return f"{self.base}/calls/{_level(call_id)}/events"

    def agent_state(self, agent_id: str) -> str:
        return f"{self.base}/agents/{_level(agent_id)}/state"

    def shift_staffing(self, shift: str) -> str:
        return f"{self.base}/shifts/{_level(shift)}/staffing"

    def reply(self, request_key: str) -> str:
        """Where the answer to ``<client>/<request id>`` goes: ``.../replies/<client>/<id>``
        (the ACL lets each client read only its own)."""
        client, _, request_id = request_key.partition("/")
        return f"{self.base}/replies/{_level(client)}/{_level(request_id)}"

    def request_id(self, topic: str) -> str | None:
        """``<client>/<request id>`` of a command topic (one key per client for de-duplication),
        or None for any other topic."""
        prefix = f"{self.base}/commands/"
        if not topic.startswith(prefix):
            return None
        client, slash, request_id = topic[len(prefix) :].partition("/")
        if not client or not slash or not request_id or "/" in request_id:
            return None
        return f"{client}/{request_id}"


def shift_staffing(
    note: object, topics: Topics
) -> tuple[type[EventBase], str, str, float, dict[str, Any]] | None:
    """A :class:`ShiftStaffing` notification as an event to publish (model, stream, topic, at,
    fields), retained per shift; None for any other notification."""
    if not isinstance(note, ShiftStaffing):
        return None
    fields = {
        "shift": note.shift,
        "rostered": note.rostered,
        "logged_in": note.logged_in,
        "short_handed": note.short,
        "on": note.on,
    }
    return (
        ShiftStaffingEvent,
        f"shift:{note.shift}",
        topics.shift_staffing(note.shift),
        note.at,
        fields,
    )


def broker_name(settings: MqttSettings) -> str:
    """The broker as log lines name it (never with credentials)."""
    return f"{settings.host}:{settings.port}"


def broker_client(settings: MqttSettings, topics: Topics) -> aiomqtt.Client:
    """A client for one session with the broker; its last will marks the site offline."""
    offline = Status(status="offline", site=settings.site).model_dump_json(exclude_none=True)
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=None if settings.password is None else settings.password.get_secret_value(),
        identifier=settings.client_id,
        keepalive=settings.keepalive,
        will=aiomqtt.Will(topics.status, offline, qos=1, retain=True),
        tls_context=None if settings.tls is None else settings.tls.context(),
        tls_insecure=None if settings.tls is None else settings.tls.insecure,
        timeout=10.0,
        # Only a backstop: the publisher moves every message to the inbox (bounded) at once.
        max_queued_incoming_messages=max(1000, 10 * settings.command_queue),
    )


class QueueView:
    """The queue and the call-takers as CAD's retained ``queue/state`` shows them, kept from
    the engine's notifications alone (no read of the core's live state)."""

    def __init__(self) -> None:
        self._arrived: dict[str, float] = {}
        self._waiting: dict[str, int] = {}  # call id -> class
        self._agents: dict[str, str] = {}

    def notification(self, note: object) -> None:
        if isinstance(note, CallStateChanged):
            if note.old is CallState.ARRIVED:
                self._arrived[note.call_id] = note.at
            if note.new is CallState.QUEUED:
                self._waiting[note.call_id] = note.priority
            else:
                self._waiting.pop(note.call_id, None)
        elif isinstance(note, CallReclassified) and note.call_id in self._waiting:
            self._waiting[note.call_id] = note.priority
        elif isinstance(note, CallEnded):
            self._arrived.pop(note.call_id, None)
            self._waiting.pop(note.call_id, None)
        elif isinstance(note, AgentStateChanged):
            self._agents[note.agent_id] = note.new.value

    def state(self, site: str, now: float) -> QueueState:
        """The snapshot at ``now``."""
        waits = [max(0.0, now - self._arrived.get(c, now)) for c in self._waiting]
        return QueueState(
            site=site,
            at=datetime.fromtimestamp(now, UTC),
            waiting=len(self._waiting),
            waiting_by_class={
                str(k): v for k, v in sorted(Counter(self._waiting.values()).items())
            },
            longest_wait_s=max(waits, default=0.0),
            agents_by_state=dict(sorted(Counter(self._agents.values()).items())),
        )
