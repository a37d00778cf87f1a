"""A broker that never acknowledges: the ACD goes on on time, one ALARM, figures in the metrics.

No broker: the publisher runs with a fake client whose event publishes never complete (as a
flooded broker that stopped sending PUBACKs), its outbox a real SQLite one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from callgate.core import (
    Acd,
    AcdConfig,
    AgentAnswered,
    AgentLoggedIn,
    Bridge,
    CallArrived,
    CallBridged,
    CallerHungUp,
    Command,
    Event,
    RingAgent,
)
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from callgate.mqtt import publisher as publisher_module
from callgate.mqtt.backpressure import CLIENT_LOGGER, CLIENT_WARNING, PublishMonitor
from callgate.mqtt.publisher import EventPublisher
from callgate.mqtt.settings import MqttSettings
from callgate.storage.journal import Journal
from callgate.storage.outbox import Outbox
from tests.unit.daemon.conftest import projected

WRAP = 0.05
ALARM = "ALARM: MQTT broker slow: events for CAD backing up (calls are not affected)"


class StuckBroker:
    """An aiomqtt client whose session starts but whose event publishes never complete."""

    def __init__(self, status_topic: str) -> None:
        self.status_topic = status_topic
        self.handed: list[str] = []
        self.pending_calls_threshold = 10
        self._never = asyncio.Event()

    async def __aenter__(self) -> StuckBroker:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def publish(self, topic: str, payload: str, **kwargs: Any) -> None:
        if topic == self.status_topic:
            return  # "online": the session is up
        self.handed.append(topic)
        await self._never.wait()

    async def subscribe(self, topic: str, **kwargs: Any) -> None:
        return None

    @property
    def messages(self) -> AsyncIterator[Any]:
        return self._no_messages()

    async def _no_messages(self) -> AsyncIterator[Any]:
        await self._never.wait()
        yield None  # pragma: no cover - never reached


class Asterisk:
    """Carries out every command at once; notes when each call-taker was rung."""

    def __init__(self) -> None:
        self.rung: list[tuple[float, str]] = []

    async def execute(self, command: Command) -> Sequence[Event]:
        if isinstance(command, RingAgent):
            self.rung.append((time.monotonic(), command.call_id))
        if isinstance(command, Bridge):
            return (CallBridged(command.call_id),)
        return ()


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


async def test_given_a_broker_that_never_acknowledges_then_the_acd_is_on_time_and_one_alarm(
    journal: Journal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = MqttSettings(site="kendari")
    events = EventPublisher(settings, Outbox(journal), batch=20)
    # A publish not acknowledged in 0.2 s is late (2 s in production: a test need not wait).
    events.monitor = PublishMonitor(slow_after=0.2)
    broker = StuckBroker(events.topics.status)
    monkeypatch.setattr(publisher_module, "broker_client", lambda *args: broker)
    asterisk = Asterisk()
    engine = Engine(
        Acd(AcdConfig(wrap_up_time=WRAP, max_wait=None)),
        asterisk,
        observers=[events.notification],
    )
    metrics = Metrics(projected(engine), Health(), outbox_depth=events.depth, mqtt=events.monitor)
    await events.start()
    caplog.set_level(logging.INFO)
    try:
        await engine.feed(AgentLoggedIn("a1", "PJSIP/a1"))
        feeds: list[float] = []
        for n in range(30):
            started = time.monotonic()
            await engine.feed(CallArrived(f"c{n}", caller="0811"))
            feeds.append(time.monotonic() - started)
        await engine.feed(AgentAnswered("c0", "a1"))
        # c0 talks, the rest wait. Each hang-up frees a1 after the wrap-up, and the engine's
        # timer rings a1 for the next caller: that timer must not wait for the broker.
        talking, late = "c0", []
        for _ in range(10):
            rings = len(asterisk.rung)
            started = time.monotonic()
            await engine.feed(CallerHungUp(talking))
            feeds.append(time.monotonic() - started)
            while len(asterisk.rung) == rings:
                assert time.monotonic() - started < 2.0, f"a1 not rung again after {talking}"
                await asyncio.sleep(0.001)
            rung_at, talking = asterisk.rung[-1]
            late.append(rung_at - (started + WRAP))
            await engine.feed(AgentAnswered(talking, "a1"))
        await asyncio.sleep(1.5)  # the watch sees the stuck window
        assert broker.handed, "the publisher handed events to the broker"
    finally:
        await events.close(drain_seconds=0.5)
        engine.close()
    assert max(feeds) < 0.1, f"a feed took {max(feeds) * 1e3:.0f} ms"
    assert max(late) < 0.1, f"a ring came {max(late) * 1e3:.0f} ms after the wrap-up's end"
    alarms = [r for r in caplog.records if r.getMessage() == ALARM]
    assert len(alarms) == 1
    assert alarms[0].levelno == logging.ERROR
    assert metrics.registry.get_sample_value("callgate_mqtt_backlog_alarm") == 1
    assert metrics.registry.get_sample_value("callgate_mqtt_in_flight") == 0  # close ended it
    assert (metrics.registry.get_sample_value("callgate_mqtt_publish_delays_total") or 0) >= 1
    assert (metrics.registry.get_sample_value("callgate_outbox_depth") or 0) > 0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_given_a_slow_window_then_one_alarm_one_info_and_the_late_publishes_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="callgate.mqtt.backpressure")
    clock = Clock()
    monitor = PublishMonitor(slow_after=2.0, alarm_depth=500, clear_depth=50, clock=clock)
    window = monitor.sending(200)
    for _ in range(10):
        monitor.check(depth=300)
        clock.now += 1.0
    assert monitor.figures().in_flight == 200
    assert monitor.backed_up
    monitor.done(window)
    monitor.done(window)  # a second end of the same window changes nothing
    monitor.check(depth=120)  # not late any more, but not yet cleared
    assert monitor.backed_up
    monitor.check(depth=10)  # few left, but a publish was late a moment ago: it may recur
    assert monitor.backed_up
    clock.now += 10.0
    for _ in range(3):
        monitor.check(depth=10)
    figures = monitor.figures()
    assert (figures.in_flight, figures.delayed, figures.backed_up) == (0, 200, False)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages == [("ERROR", ALARM), ("INFO", "MQTT backlog cleared")]
    assert caplog.records[0].backlog == 300  # type: ignore[attr-defined]


def test_given_a_deep_backlog_with_prompt_publishes_then_backed_up_and_state_updates_held(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    monitor = PublishMonitor(clock=clock)
    monitor.done(monitor.sending(200))  # prompt: not delayed
    assert not monitor.hold_state_update()
    monitor.check(depth=499)
    assert not monitor.backed_up
    monitor.check(depth=500)
    monitor.check(depth=900)
    assert monitor.hold_state_update()
    assert monitor.hold_state_update()
    figures = monitor.figures()
    assert (figures.delayed, figures.state_updates_held, figures.backed_up) == (0, 2, True)
    assert [r.getMessage() for r in caplog.records] == [ALARM]


def test_given_the_client_library_warning_then_counted_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = PublishMonitor()
    monitor.warnings.install()
    monitor.warnings.install()  # once only
    try:
        client_log = logging.getLogger(CLIENT_LOGGER)
        for pending in range(11, 211):
            client_log.warning(CLIENT_WARNING, pending)
        client_log.warning("Message queue is full. Discarding message.")
    finally:
        monitor.warnings.remove()
    client_log.warning(CLIENT_WARNING, 12)  # removed: logged again
    assert monitor.figures().client_warnings == 200
    assert [r.getMessage() for r in caplog.records] == [
        "Message queue is full. Discarding message.",
        "There are 12 pending publish calls.",
    ]


def test_given_no_publisher_then_no_mqtt_series() -> None:
    from prometheus_client import generate_latest

    exported = generate_latest(Metrics(Projection(), Health()).registry)
    assert b"callgate_mqtt_" not in exported
