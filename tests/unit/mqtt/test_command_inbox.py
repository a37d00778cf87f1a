"""CAD's commands between the broker and the handler: retained and redelivered commands are not
applied again, the queue is bounded, oversized payloads are refused. Messages are the aiomqtt
objects the broker link hands over; a real handler, real block service and a SQLite journal sit
behind them (no broker)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from callgate.core.screening import BlockingPolicy, ScreeningPolicy
from callgate.daemon.dispositions import Blocks
from callgate.mqtt.inbox import CommandHandler as _Handler
from callgate.mqtt.inbox import CommandInbox
from callgate.mqtt.publisher import EventPublisher
from callgate.mqtt.schema import Reply
from callgate.mqtt.settings import MqttSettings
from callgate.mqtt.topics import Topics
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.blocks import JournalBlocks
from callgate.storage.journal import Journal
from callgate.storage.outbox import Outbox
from tests.unit.auth_users import cad_clients
from tests.unit.daemon.conftest import Clock

#: CAD commands come from the broker-named client "cad-all" (granted every command).
CommandHandler = functools.partial(_Handler, clients=cad_clients)

NOW = 1_800_000_000.0
SETTINGS = MqttSettings(site="kendari")
TOPICS = Topics(SETTINGS)
BLOCK = {"command": "block", "number": "0811555001", "hours": 24, "reason": "pranks"}
UNBLOCK = {"command": "unblock", "number": "0811555001", "reason": "real emergency"}


def message(
    request_id: str, body: object, *, retain: bool = False, mid: int = 1
) -> aiomqtt.Message:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    topic = f"{SETTINGS.base}/commands/cad-all/{request_id}"
    return aiomqtt.Message(topic, payload, qos=1, retain=retain, mid=mid, properties=None)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


def inbox_of(
    journal: Journal,
    clock: Clock,
    *,
    queue: int = 100,
    dedup_seconds: float = 600.0,
    dedup_max: int = 10_000,
) -> CommandInbox:
    handler = CommandHandler(
        JournalAnnotations(journal),
        EventPublisher(SETTINGS, Outbox(journal)),  # never started: events only queue up
        clock=clock,
        blocks=Blocks(journal, ScreeningPolicy(blocking=BlockingPolicy()), clock=clock),
    )
    return CommandInbox(
        handler.handle,
        TOPICS.request_id,
        clock=clock,
        queue=queue,
        dedup_seconds=dedup_seconds,
        dedup_max=dedup_max,
    )


async def offer_and_apply(inbox: CommandInbox, msg: aiomqtt.Message) -> Reply | None:
    """What the broker link does with one message: immediate answer, or queued and applied."""
    immediate = inbox.offer(msg)
    if immediate is not None:
        return immediate[1]
    if inbox.queued():
        return (await inbox.process_next())[1]
    return None


async def in_force(journal: Journal) -> int:
    return sum(1 for b in await JournalBlocks(journal).of("0811555001") if b.lifted_at is None)


async def test_given_a_lifted_block_when_the_block_command_comes_again_then_it_stays_lifted(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(NOW)
    inbox = inbox_of(journal, clock)
    placed = await offer_and_apply(inbox, message("r-1", BLOCK))
    assert placed is not None
    assert placed.ok
    lifted = await offer_and_apply(inbox, message("r-2", UNBLOCK))
    assert lifted is not None
    assert lifted.ok
    assert await in_force(journal) == 0

    clock.now += 30  # a reconnect: the broker replays what it kept
    with caplog.at_level(logging.WARNING, logger="callgate.mqtt.inbox"):
        again = await offer_and_apply(inbox, message("r-1", BLOCK, mid=7))
        retained = await offer_and_apply(inbox, message("r-9", BLOCK, retain=True))
        for _ in range(50):
            await offer_and_apply(inbox, message("r-9", BLOCK, retain=True))
    assert again == placed  # the first answer, sent again; nothing applied
    assert retained is None
    assert await in_force(journal) == 0
    assert inbox.queued() == 0
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("retained command ignored") == 1
    assert messages.count("command seen before; not applied again") == 1


async def test_given_a_duplicate_while_the_first_is_queued_then_it_is_dropped_silently(
    journal: Journal,
) -> None:
    inbox = inbox_of(journal, Clock(NOW))
    assert inbox.offer(message("r-1", BLOCK)) is None
    assert inbox.offer(message("r-1", BLOCK)) is None
    assert inbox.queued() == 1
    request_id, reply = await inbox.process_next()
    assert (request_id, reply.ok) == ("cad-all/r-1", True)
    assert await in_force(journal) == 1


async def test_given_the_dedup_window_has_passed_then_the_request_id_is_new_again(
    journal: Journal,
) -> None:
    clock = Clock(NOW)
    inbox = inbox_of(journal, clock, dedup_seconds=600.0, dedup_max=3)
    assert (await offer_and_apply(inbox, message("r-1", UNBLOCK))) is not None
    clock.now += 601
    assert inbox.offer(message("r-1", UNBLOCK)) is None
    assert inbox.queued() == 1  # forgotten after the window: applied again
    await inbox.process_next()
    for n in range(2, 10):  # the map stays bounded: the oldest ids go first
        await offer_and_apply(inbox, message(f"r-{n}", UNBLOCK))
    assert len(inbox._seen) == 3
    assert list(inbox._seen) == ["cad-all/r-7", "cad-all/r-8", "cad-all/r-9"]


async def test_given_a_full_queue_then_the_command_is_refused_busy_and_logged_once(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = inbox_of(journal, Clock(NOW), queue=2)
    assert inbox.offer(message("r-1", BLOCK)) is None
    assert inbox.offer(message("r-2", UNBLOCK)) is None
    with caplog.at_level(logging.WARNING, logger="callgate.mqtt.inbox"):
        refusals = [inbox.offer(message(f"r-{n}", UNBLOCK)) for n in range(3, 100)]
    assert inbox.queued() == 2
    first = refusals[0]
    assert first is not None
    request_id, reply = first
    assert (request_id, reply.ok, reply.error) == ("cad-all/r-3", False, "busy")
    assert all(r is not None and r[1].error == "busy" for r in refusals)
    assert [r.getMessage() for r in caplog.records] == ["command queue full; command refused"]
    await inbox.process_next()
    # Refused ids were not remembered: CAD may send them again once there is room.
    assert inbox.offer(message("r-3", UNBLOCK)) is None
    assert inbox.queued() == 2


async def test_given_a_payload_over_the_configured_limit_then_invalid_command(
    journal: Journal,
) -> None:
    handler = CommandHandler(
        JournalAnnotations(journal), EventPublisher(SETTINGS, Outbox(journal)), max_bytes=2048
    )
    reply = await handler.handle(
        "cad-all/r-1", json.dumps({**BLOCK, "reason": "x" * 3000}).encode()
    )
    assert (reply.ok, reply.error, reply.detail) == (False, "invalid-command", "command too large")


def test_given_a_message_on_another_topic_then_the_inbox_ignores_it(journal: Journal) -> None:
    inbox = inbox_of(journal, Clock(NOW))
    other = aiomqtt.Message(
        f"{SETTINGS.base}/status", b"{}", qos=1, retain=False, mid=1, properties=None
    )
    assert inbox.offer(other) is None
    assert inbox.queued() == 0


def test_given_mqtt_settings_then_the_command_limits_have_sane_defaults(journal: Journal) -> None:
    s = MqttSettings()
    assert (s.max_command_bytes, s.command_queue) == (16_384, 100)
    assert (s.command_dedup_seconds, s.command_dedup_max) == (600.0, 10_000)
    settings = MqttSettings(command_queue=5, max_command_bytes=4096)
    publisher = EventPublisher(settings, Outbox(journal), annotations=JournalAnnotations(journal))
    assert publisher.inbox._queue.maxsize == 5
    assert publisher.commands is not None
    assert publisher.commands.max_bytes == 4096


class BrokerSide:
    """The two calls the broker link makes on an aiomqtt client: the incoming messages and
    publish. Stands in for a connected client; the messages are real aiomqtt ones."""

    def __init__(self, incoming: list[aiomqtt.Message]) -> None:
        self.incoming = incoming
        self.published: list[tuple[str, dict[str, object]]] = []
        self.replied = asyncio.Event()
        self.expected = 0

    @property
    async def messages(self) -> AsyncIterator[aiomqtt.Message]:
        for m in self.incoming:
            yield m

    async def publish(self, topic: str, payload: str, qos: int = 0) -> None:
        self.published.append((topic, json.loads(payload)))
        if len(self.published) >= self.expected:
            self.replied.set()


async def test_given_the_broker_link_then_commands_go_through_the_inbox(journal: Journal) -> None:
    clock = Clock(NOW)
    publisher = EventPublisher(SETTINGS, Outbox(journal), annotations=JournalAnnotations(journal))
    publisher.commands = CommandHandler(
        JournalAnnotations(journal),
        publisher,
        clock=clock,
        blocks=Blocks(journal, ScreeningPolicy(blocking=BlockingPolicy()), clock=clock),
    )
    client = BrokerSide(
        [
            message("r-0", BLOCK, retain=True),
            message("r-1", BLOCK),
            message("r-2", UNBLOCK),
            message("r-1", BLOCK, mid=9),
        ]
    )
    await publisher._receive(client)  # type: ignore[arg-type]
    worker = asyncio.create_task(publisher._apply_commands(client))  # type: ignore[arg-type]
    client.expected = 2
    await asyncio.wait_for(client.replied.wait(), 10)
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    replies = [(topic.rsplit("/", 1)[1], body["ok"]) for topic, body in client.published]
    assert replies == [("r-1", True), ("r-2", True)]
    assert await in_force(journal) == 0
