"""The ARI event pump's set-up retry and hand-on order, driven by an in-memory event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callgate.asterisk.ari.client import AriUnavailable, Connected, Disconnected, JsonObject
from callgate.asterisk.link import AriLink, carrying_on


class Script:
    """Set-up attempts that fail a given number of times, and a record of what the pump did."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.seen: list[object] = []

    async def set_up(self) -> None:
        self.attempts += 1
        self.seen.append(("set-up", self.attempts))
        if self.attempts <= self.failures:
            raise TimeoutError

    async def handle(self, event: JsonObject) -> None:
        self.seen.append(event["type"])

    def state(self, up: bool, detail: str | None) -> None:
        self.seen.append(("ari", up, detail))


async def stream(
    *items: JsonObject | Connected | Disconnected, end: asyncio.Event | None = None
) -> AsyncIterator[JsonObject | Connected | Disconnected]:
    """``items``, then the end of the stream (once ``end`` is set, if given)."""
    for item in items:
        yield item
        await asyncio.sleep(0.01)
    if end is not None:
        await end.wait()


async def test_given_two_failed_set_ups_then_the_third_makes_ari_ready_and_held_events_follow() -> (
    None
):
    script = Script(failures=2)
    end = asyncio.Event()
    link = AriLink(
        stream(Connected(1), {"type": "StasisStart"}, end=end),
        set_up=script.set_up,
        handle=script.handle,
        on_state=script.state,
        backoff_initial=0.01,
    )
    task = asyncio.create_task(link.run())
    async with asyncio.timeout(5):
        while ("ari", True, None) not in script.seen:  # noqa: ASYNC110 - polls the record
            await asyncio.sleep(0.01)
    end.set()
    assert await task == "the ARI event stream ended"
    assert script.seen == [
        ("ari", False, "connected; setting up"),
        ("set-up", 1),
        ("ari", False, "set-up attempt 1 failed: TimeoutError"),
        ("set-up", 2),
        ("ari", False, "set-up attempt 2 failed: TimeoutError"),
        ("set-up", 3),
        ("ari", True, None),
        "StasisStart",
    ]


async def test_given_a_disconnect_during_set_up_then_it_is_dropped_and_held_events_handed_on() -> (
    None
):
    script = Script(failures=10**6)
    link = AriLink(
        stream(Connected(1), {"type": "StasisEnd"}, Disconnected("closed by Asterisk")),
        set_up=script.set_up,
        handle=script.handle,
        on_state=script.state,
        backoff_initial=10.0,
    )
    assert await asyncio.wait_for(link.run(), 5) == "the ARI event stream ended"
    assert script.seen[-2:] == ["StasisEnd", ("ari", False, "closed by Asterisk")]
    assert script.attempts == 1


async def test_an_event_handled_wrongly_is_logged_and_the_pump_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(event: JsonObject) -> None:
        raise KeyError(event["type"])

    async def refused(event: JsonObject) -> None:
        raise AriUnavailable("ARI is not connected")

    await carrying_on(broken)({"type": "StasisStart"})
    await carrying_on(refused)({"type": "StasisEnd"})
    assert [r.getMessage() for r in caplog.records] == [
        "handling an ARI event failed; carrying on",
        "ARI request failed while handling an event",
    ]


async def test_a_second_connection_during_the_set_up_lets_it_finish_then_runs_it_again() -> None:
    """Several nodes: node2 connecting while node1's set-up runs must not cancel it halfway
    (it may be taking a caller); it runs again once for node2, then ARI is ready."""
    seen: list[object] = []
    first_may_end = asyncio.Event()
    second_connected = asyncio.Event()

    async def set_up() -> None:
        attempt = sum(1 for s in seen if isinstance(s, tuple) and s[0] == "set-up") + 1
        seen.append(("set-up", attempt))
        try:
            if attempt == 1:
                await first_may_end.wait()
        except asyncio.CancelledError:
            seen.append(("cancelled", attempt))
            raise
        seen.append(("done", attempt))

    async def handle(event: JsonObject) -> None:
        seen.append(event["type"])

    async def items() -> AsyncIterator[JsonObject | Connected | Disconnected]:
        yield Connected(1)
        yield {"type": "StasisStart"}
        yield Connected(2)
        second_connected.set()
        await asyncio.Event().wait()  # the stream stays open

    link = AriLink(
        items(),
        set_up=set_up,
        handle=handle,
        on_state=lambda up, why: seen.append(("ari", up, why)),
        backoff_initial=0.01,
    )
    task = asyncio.create_task(link.run())
    async with asyncio.timeout(5):
        await second_connected.wait()
        first_may_end.set()
        while ("ari", True, None) not in seen:  # noqa: ASYNC110 - polls the record
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert seen == [
        ("ari", False, "connected; setting up"),
        ("set-up", 1),
        ("done", 1),
        "StasisStart",  # handed on once a set-up completed, not held through the next
        ("set-up", 2),
        ("done", 2),
        ("ari", True, None),
    ]
