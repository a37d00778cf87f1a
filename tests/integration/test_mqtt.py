"""The CAD event stream against a real Mosquitto: a private broker on a free loopback port,
with the example ACL and a password file, started per test and stopped by its PID (never the
lab's broker on 11883). Events are driven with synthetic core notifications: the broker, the
outbox and the publisher are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest
from pydantic import SecretStr

from callgate.auth import Authenticator, UserSettings
from callgate.core.agents import AgentState
from callgate.core.calls import CallState
from callgate.core.commands import AgentStateChanged, CallEnded, CallStateChanged
from callgate.mqtt.publisher import EventPublisher
from callgate.mqtt.settings import MqttSettings
from callgate.ports import AgentConnected, CallStarted, RecordingFailed
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.journal import Journal
from callgate.storage.outbox import Outbox

REPO = Path(__file__).resolve().parents[2]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PASSWORDS = {
    "callgate": "cg-pass",
    "cad": "cad-pass",
    "dashboard": "dash-pass",
    "callgate-konawe": "cgk-pass",
    "cad-konawe": "cadk-pass",
}
#: The example ACL's first site (its users above bound to it); konawe is its second.
SITE = "kendari"
BASE = f"callgate/v1/{SITE}"
EVENTS_PER_CALL = 6


@pytest.fixture(scope="module", autouse=True)
def lab() -> None:
    """These tests run their own Mosquitto, not the Asterisk lab: override the lab check."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Broker:
    """A private Mosquitto: the example ACL, a password file, persistence on."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        passwd = folder / "passwd"
        passwd.touch()
        for user, password in PASSWORDS.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
        config = folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {passwd}\n"
            f"acl_file {REPO / 'examples' / 'mosquitto' / 'acl'}\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "max_queued_messages 100000\n"
            f"log_dest file {folder / 'mosquitto.log'}\n"
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.config = config

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise AssertionError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


def settings(broker: Broker, **overrides: object) -> MqttSettings:
    return MqttSettings(
        host="127.0.0.1",
        port=broker.port,
        site=SITE,
        username="callgate",
        password=SecretStr(PASSWORDS["callgate"]),
        client_id="callgate-test",
        keepalive=5,
        reconnect_max=1.0,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


@dataclass
class Subscriber:
    """A CAD-like subscriber with a persistent session, so it misses nothing across a broker
    restart; it reconnects by itself."""

    port: int
    topic: str = f"{BASE}/#"
    user: str = "cad"
    messages: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    username=self.user,
                    password=PASSWORDS[self.user],
                    identifier=f"sub-{self.user}-{id(self)}",
                    clean_session=False,
                    keepalive=5,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        if "/commands/" in str(message.topic):
                            continue  # CAD's own commands, not callgate's output
                        self.messages.append((str(message.topic), json.loads(message.payload)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    async def __aenter__(self) -> Subscriber:
        self.task = asyncio.create_task(self.run())
        await asyncio.wait_for(self.subscribed.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def events(self) -> list[dict[str, object]]:
        return [p for t, p in self.messages if t.endswith("/events")]

    async def wait_for_ids(self, ids: set[str], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ids <= {str(e["event_id"]) for e in self.events()}:
                return
            await asyncio.sleep(0.1)
        missing = ids - {str(e["event_id"]) for e in self.events()}
        raise AssertionError(f"{len(missing)} of {len(ids)} events never arrived")


def outbox_rows(tmp_path: Path) -> list[tuple[str, str, int, str | None]]:
    with contextlib.closing(sqlite3.connect(tmp_path / "journal.db")) as db:
        return list(
            db.execute("SELECT event_id, stream, seq, sent_at FROM event_outbox ORDER BY id")
        )


async def drive_call(publisher: EventPublisher, call_id: str, pause: float = 0.0) -> float:
    """One answered call's reports, as the daemon makes them; returns the slowest report (s)."""
    t = time.time()
    slowest = 0.0

    async def timed(report: object) -> None:
        nonlocal slowest
        started = time.perf_counter()
        await report  # type: ignore[misc]
        slowest = max(slowest, time.perf_counter() - started)
        if pause:
            await asyncio.sleep(random.uniform(0, pause))

    s = CallState
    await timed(
        publisher.notification(CallStarted(call_id, "+6281234567890", "081234567890", "112", 1, t))
    )
    await timed(
        publisher.notification(CallStateChanged(call_id, s.ARRIVED, s.QUEUED, "CallArrived", t))
    )
    await timed(publisher.notification(CallStateChanged(call_id, s.QUEUED, s.OFFERED, "Offer", t)))
    await timed(publisher.notification(AgentConnected(call_id, "1001", t)))
    await timed(
        publisher.notification(
            CallStateChanged(call_id, s.OFFERED, s.CONNECTING, "AgentAnswered", t)
        )
    )
    await timed(
        publisher.notification(
            CallStateChanged(call_id, s.CONNECTING, s.CONNECTED, "CallBridged", t)
        )
    )
    await timed(
        publisher.notification(
            CallEnded(call_id, s.COMPLETED, "+6281234567890", "", 1, t, t + 1, t + 9, "1001", None)
        )
    )
    return slowest


def check_stream(events: list[dict[str, object]], calls: int) -> tuple[int, int]:
    """Per call, first arrivals of each event id in arrival order have seq 1..6; returns
    (unique, duplicates)."""
    seen: set[str] = set()
    seqs: dict[str, list[int]] = defaultdict(list)
    duplicates = 0
    for e in events:
        if e["event_id"] in seen:
            duplicates += 1
            continue
        seen.add(str(e["event_id"]))
        seqs[str(e["call_id"])].append(int(e["seq"]))  # type: ignore[call-overload]
    assert len(seqs) == calls
    for call_id, got in seqs.items():
        assert got == list(range(1, EVENTS_PER_CALL + 1)), f"call {call_id} out of order: {got}"
    return len(seen), duplicates


async def test_given_200_concurrent_calls_when_published_then_each_call_arrives_in_seq_order(
    broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    publisher = EventPublisher(settings(broker), Outbox(journal))
    async with Subscriber(broker.port) as sub:
        await publisher.start()
        await asyncio.gather(*(drive_call(publisher, f"call-{i}", 0.01) for i in range(200)))
        ids = {row[0] for row in outbox_rows(tmp_path)} if await _flushed(publisher) else set()
        await sub.wait_for_ids(ids, 30)
        await publisher.close()
    unique, _ = check_stream(sub.events(), 200)
    assert unique == 200 * EVENTS_PER_CALL
    types = [e["type"] for e in sub.events() if e["call_id"] == "call-7"]
    assert types == ["received", "screened", "queued", "offered", "answered", "ended"]


async def _flushed(publisher: EventPublisher) -> bool:
    await publisher.flush()
    return True


async def test_given_broker_stopped_30s_mid_traffic_then_nothing_lost_or_reordered(
    broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    publisher = EventPublisher(settings(broker), Outbox(journal))
    async with Subscriber(broker.port) as sub:
        await publisher.start()
        before = asyncio.gather(*(drive_call(publisher, f"a-{i}", 0.2) for i in range(60)))
        await asyncio.sleep(0.5)
        broker.stop()  # mid-traffic: calls a-* are still being reported
        outage_started = time.monotonic()
        slowest = await asyncio.gather(
            before, *(drive_call(publisher, f"b-{i}", 3.0) for i in range(60))
        )
        await publisher.flush()
        during = sum(1 for row in outbox_rows(tmp_path) if row[3] is None)
        await asyncio.sleep(max(0.0, 30 - (time.monotonic() - outage_started)))
        assert not publisher.connected
        broker.start()
        await asyncio.gather(*(drive_call(publisher, f"c-{i}", 0.05) for i in range(30)))
        await publisher.flush()
        ids = {row[0] for row in outbox_rows(tmp_path)}
        await sub.wait_for_ids(ids, 60)
        await publisher.close()
    unique, duplicates = check_stream(sub.events(), 150)
    worst = max(max(s) if isinstance(s, list) else s for s in slowest)
    print(
        f"\noutage: {during} events stored while the broker was down; {unique} of {len(ids)} "
        f"delivered; {duplicates} duplicates dropped by event_id; "
        f"slowest report {worst * 1000:.1f} ms"
    )
    assert during > 0
    assert unique == len(ids) == 150 * EVENTS_PER_CALL
    assert all(row[3] is not None for row in outbox_rows(tmp_path))
    # Reporting never waited for the broker or the database.
    assert worst < 0.05


async def test_given_events_stored_while_publisher_down_when_restarted_then_delivered_seq_continues(
    broker: Broker, journal: Journal, tmp_path: Path
) -> None:
    down = settings(broker).model_copy(update={"port": free_port()})  # nobody listens there
    first = EventPublisher(down, Outbox(journal))
    await first.start()
    await drive_call(first, "r-1")
    await first.close(drain_seconds=1)
    assert [row[3] for row in outbox_rows(tmp_path)] == [None] * EVENTS_PER_CALL

    second = EventPublisher(settings(broker), Outbox(journal))
    async with Subscriber(broker.port) as sub:
        await second.start()
        await second.notification(RecordingFailed("r-1", "disk full", time.time()))
        await second.flush()
        await sub.wait_for_ids({row[0] for row in outbox_rows(tmp_path)}, 15)
        await second.close()
    seqs = [e["seq"] for e in sub.events()]
    assert seqs == list(range(1, EVENTS_PER_CALL + 2))


async def test_given_a_session_then_status_and_agent_state_are_retained_and_offline_after_close(
    broker: Broker, journal: Journal
) -> None:
    publisher = EventPublisher(settings(broker), Outbox(journal))
    await publisher.start()
    await publisher.notification(
        AgentStateChanged(
            "1001", AgentState.LOGGED_OUT, AgentState.AVAILABLE, "LoggedIn", time.time()
        )
    )
    await publisher.flush()
    await _until(lambda: publisher.connected, 10)
    await asyncio.sleep(0.5)
    async with Subscriber(broker.port, user="dashboard") as late:
        await _until(lambda: len(late.messages) >= 2, 5)
        retained = dict(late.messages)
        await publisher.close()
        await _until(lambda: late.messages[-1][1].get("status") == "offline", 5)
    assert retained[f"{BASE}/status"]["status"] == "online"
    agent = retained[f"{BASE}/agents/1001/state"]
    assert (agent["state"], agent["previous"], agent["seq"]) == ("AVAILABLE", "LOGGED_OUT", 1)


async def _until(predicate: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def _command(port: int, user: str, request_id: str, payload: bytes) -> None:
    async with aiomqtt.Client(
        "127.0.0.1", port, username=user, password=PASSWORDS[user], identifier=f"cmd-{request_id}"
    ) as client:
        # The broker's ACL lets each CAD user publish only under its own name, at its own site.
        await client.publish(f"{BASE}/commands/{user}/{request_id}", payload, qos=1)


async def test_given_bad_or_unauthorised_commands_then_errors_and_nothing_changes(
    broker: Broker, journal: Journal
) -> None:
    await journal.call_started(
        "c-1",
        caller="+6281234567890",
        caller_sent="081234567890",
        dialed="112",
        priority=1,
        category="",
        at=__import__("datetime").datetime.now(__import__("datetime").UTC),
    )
    annotations = JournalAnnotations(journal)
    # The broker user "cad" is a CAD client of [auth], granted set-disposition and
    # attach-incident: callgate records it as who set the disposition.
    clients = Authenticator(
        [UserSettings(name="cad", role="cad", commands=["set-disposition", "attach-incident"])]  # type: ignore[arg-type]
    )
    publisher = EventPublisher(
        settings(broker), Outbox(journal), annotations=annotations, clients=clients.identity
    )
    await publisher.start()
    async with Subscriber(broker.port) as cad:
        await _until(lambda: publisher.connected, 10)
        bad = {
            "r-json": b"{not json",
            "r-field": json.dumps(
                {
                    "command": "set-disposition",
                    "call_id": "c-1",
                    "disposition": "prank",
                    "colour": "red",
                }
            ).encode(),
            "r-type": json.dumps(
                {"command": "set-disposition", "call_id": "c-1", "disposition": 3}
            ).encode(),
            "r-value": json.dumps(
                {"command": "set-disposition", "call_id": "c-1", "disposition": "rude"}
            ).encode(),
            "r-unknown": json.dumps(
                {"command": "attach-incident", "call_id": "nope", "incident_id": "INC-1"}
            ).encode(),
            "r-what": json.dumps({"command": "format-disk", "call_id": "c-1"}).encode(),
            "r-list": b"[1, 2]",
            # Not granted to this client: refused, whatever the payload says.
            "r-denied": json.dumps({"command": "request-callback", "call_id": "c-1"}).encode(),
            # A name in the payload is no longer taken: refused.
            "r-by": json.dumps(
                {"command": "set-disposition", "call_id": "c-1", "disposition": "test", "by": "x"}
            ).encode(),
        }
        for request_id, payload in bad.items():
            await _command(broker.port, "cad", request_id, payload)
        # A user who is no CAD client: the ACL lets it publish no command (dropped by the broker;
        # callgate would refuse it too, forbidden: it is no [[auth.users]] CAD client).
        await _command(
            broker.port,
            "dashboard",
            "r-intruder",
            json.dumps(
                {"command": "set-disposition", "call_id": "c-1", "disposition": "prank"}
            ).encode(),
        )
        good = {"command": "set-disposition", "call_id": "c-1", "disposition": "ghost"}
        await _command(broker.port, "cad", "r-good", json.dumps(good).encode())
        await _until(lambda: any(t.endswith("/replies/cad/r-good") for t, _ in cad.messages), 10)
        await _until(lambda: any(e["type"] == "disposition-set" for e in cad.events()), 10)
        replies = {t.rsplit("/", 1)[1]: p for t, p in cad.messages if "/replies/" in t}
        await publisher.close()
    assert {k: (v["ok"], v.get("error")) for k, v in replies.items()} == {
        "r-json": (False, "bad-json"),
        "r-field": (False, "invalid-command"),
        "r-type": (False, "invalid-command"),
        "r-value": (False, "invalid-command"),
        "r-unknown": (False, "unknown-call"),
        "r-what": (False, "invalid-command"),
        "r-list": (False, "invalid-command"),
        "r-denied": (False, "forbidden"),
        "r-by": (False, "invalid-command"),
        "r-good": (True, None),
    }
    assert "colour" in str(replies["r-field"]["detail"])
    stored = await annotations.get("c-1")
    assert stored is not None
    assert (stored.disposition, stored.disposition_by, stored.incident_id) == ("ghost", "cad", None)
    (event,) = [e for e in cad.events() if e["type"] == "disposition-set"]
    assert (event["disposition"], event["seq"]) == ("ghost", 1)


async def test_given_the_example_acl_then_each_cad_user_commands_only_its_own_site(
    broker: Broker,
) -> None:
    """Kendari's CAD cannot command Konawe's callgate, nor Konawe's Kendari's: the broker drops
    the publish, so the other site's callgate never sees it."""
    seen: list[str] = []
    subscribed = asyncio.Event()

    async def callgate(user: str, site: str) -> None:
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username=user, password=PASSWORDS[user], identifier=user
        ) as client:
            await client.subscribe(f"callgate/v1/{site}/commands/+/+", qos=1)
            subscribed.set()
            async for message in client.messages:
                seen.append(str(message.topic))

    async def publish(user: str, topic: str) -> None:
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username=user, password=PASSWORDS[user]
        ) as client:
            await client.publish(topic, b'{"command": "block"}', qos=1)

    listeners = [
        asyncio.create_task(callgate("callgate", "kendari")),
        asyncio.create_task(callgate("callgate-konawe", "konawe")),
    ]
    try:
        await asyncio.wait_for(subscribed.wait(), 10)
        await asyncio.sleep(0.3)  # the second subscription too
        for user, topic in [
            ("cad", "callgate/v1/konawe/commands/cad/r-cross"),  # another site
            ("cad-konawe", "callgate/v1/kendari/commands/cad-konawe/r-cross2"),
            ("cad", "callgate/v1/kendari/commands/cad-konawe/r-as-other"),  # another's name
            ("cad", "callgate/v1/kendari/commands/cad/r-own"),
            ("cad-konawe", "callgate/v1/konawe/commands/cad-konawe/r-own2"),
        ]:
            await publish(user, topic)
        await _until(lambda: len(seen) >= 2, 10)
        await asyncio.sleep(0.5)  # a wrongly let-through publish would have arrived by now
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    assert sorted(seen) == [
        "callgate/v1/kendari/commands/cad/r-own",
        "callgate/v1/konawe/commands/cad-konawe/r-own2",
    ]
