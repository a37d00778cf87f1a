"""End to end: a 112 call through the lab produces CAD's event stream on the lab's Mosquitto."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import aiomqtt
import labpeers
import pytest

from .conftest import Daemon, wait_for

LAB_BROKER_PORT = 11883
SITE = f"t{uuid.uuid4().hex[:8]}"  # a site of this test's own on the shared lab broker


@pytest.mark.daemon_env(CALLGATE_MQTT__SITE=SITE, CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
async def test_given_an_answered_call_then_cad_receives_its_lifecycle_in_order(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    received: list[dict[str, object]] = []
    async with aiomqtt.Client("127.0.0.1", LAB_BROKER_PORT, identifier=f"cad-{SITE}") as cad:
        await cad.subscribe(f"callgate/v1/{SITE}/#", qos=1)

        async def collect() -> None:
            async for message in cad.messages:
                if str(message.topic).endswith("/events"):
                    received.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]
                    if received[-1]["type"] == "recording-ready":
                        return

        collector = asyncio.create_task(collect())
        await asyncio.to_thread(phones, "1001")
        calls = await asyncio.to_thread(carrier, ["081700000001"], 3.0)
        assert await asyncio.to_thread(calls.wait, 60) == 0, calls.errors()
        await asyncio.wait_for(collector, timeout=20)

    types = [str(e["type"]) for e in received]
    for expected in ("received", "queued", "offered", "answered", "ended", "recording-ready"):
        assert expected in types, types
    assert types.index("received") < types.index("answered") < types.index("ended")
    seqs = [int(str(e["seq"])) for e in received]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert {e["call_id"] for e in received} == {received[0]["call_id"]}
    first = received[0]
    assert first["caller"] == "+6281700000001"
    await asyncio.to_thread(wait_for, lambda: "call ended" in daemon.log_text(), 5, "the end")
