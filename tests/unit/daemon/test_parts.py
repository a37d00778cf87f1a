"""The parts' lifecycle: start in the listed order, stop in reverse, a failing stop logged and
the others still stopped, a failing start stopping what had started."""

from __future__ import annotations

import asyncio
import logging

import pytest

from callgate.daemon.parts import Background, Lifecycle, Part, Step, sync


def recorded(name: str, seen: list[str], *, fail_stop: bool = False) -> Step:
    async def start() -> None:
        seen.append(f"start {name}")

    async def stop() -> None:
        seen.append(f"stop {name}")
        if fail_stop:
            raise RuntimeError(f"{name} broke")

    return Step(name, start, stop)


async def test_parts_start_in_order_and_stop_in_reverse() -> None:
    seen: list[str] = []
    parts = Lifecycle([recorded(n, seen) for n in ("journal", "events", "engine")])
    await parts.start()
    await parts.stop()
    assert seen == [
        "start journal",
        "start events",
        "start engine",
        "stop engine",
        "stop events",
        "stop journal",
    ]
    await parts.stop()  # stopped once only
    assert len(seen) == 6


async def test_a_failing_stop_is_logged_and_the_parts_before_it_still_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    parts = Lifecycle(
        [
            recorded("journal", seen),
            recorded("hand-back", seen, fail_stop=True),
            recorded("ami", seen),
        ]
    )
    await parts.start()
    with caplog.at_level(logging.ERROR):
        await parts.stop()
    assert seen[3:] == ["stop ami", "stop hand-back", "stop journal"]
    assert [r.__dict__.get("part") for r in caplog.records] == ["hand-back"]


async def test_a_failing_start_stops_what_had_started_and_raises() -> None:
    seen: list[str] = []

    async def refuse() -> None:
        raise OSError("port taken")

    listed: list[Part] = [recorded("journal", seen), Step("http", refuse), recorded("ami", seen)]
    with pytest.raises(OSError, match="port taken"):
        await Lifecycle(listed).start()
    assert seen == ["start journal", "stop journal"]


async def test_background_tasks_are_cancelled_at_stop_and_the_kept_ones_end_is_not_raised() -> None:
    ran: list[str] = []

    async def pump() -> None:
        raise ConnectionError("ARI gone")

    async def upkeep() -> None:
        ran.append("upkeep")
        await asyncio.Event().wait()

    background = Background("background", {"pump": pump, "upkeep": upkeep}, keep="pump")
    closed: list[str] = []
    parts = Lifecycle([Step("engine", on_stop=sync(lambda: closed.append("engine"))), background])
    await parts.start()
    assert ran == ["upkeep"]  # each task had its first run before start() returned
    await asyncio.wait({background.task("pump")})
    await parts.stop()
    assert background.task("upkeep").cancelled()
    assert closed == ["engine"]
