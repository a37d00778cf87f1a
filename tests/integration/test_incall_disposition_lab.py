"""A call-taker classes the call they are on by keying **<digit> (3 = prank): stored in the
journal, and the caller does not hear the keys (they only reach callgate)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import labpeers

from callgate.storage.annotations import JournalAnnotations

from .conftest import Daemon, wait_for


async def _disposition(daemon: Daemon, call_id: str) -> tuple[str | None, str | None]:
    async with daemon.journal() as journal:
        note = await JournalAnnotations(journal).get(call_id)
    return (None, None) if note is None else (note.disposition, note.disposition_by)


def test_given_a_connected_call_when_the_calltaker_keys_star_star_3_then_it_is_a_prank(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    (calltaker,) = phones("1002")
    calls = carrier(["081500000022"], talk_seconds=60)
    wait_for(lambda: bool(daemon.records("call connected")), 15, "the call to connect")
    call_id = str(daemon.records("call connected")[0]["call_id"])

    for digit in ("*", "*", "3"):
        calltaker.command("sndcode", digit)
        time.sleep(0.3)
    wait_for(lambda: bool(daemon.records("disposition set")), 10, "the disposition")
    (record,) = daemon.records("disposition set")
    assert (record["call_id"], record["disposition"], record["source"]) == (
        call_id,
        "prank",
        "dtmf",
    )
    # No agency was called for the "*": the keys were one disposition, not a hand-off.
    assert not daemon.records("calling an agency")
    calltaker.command("hangup")
    assert calls.wait(timeout=30) == 0, calls.errors()
    wait_for(lambda: bool(daemon.records("call ended")), 10, "the call to end")
    assert asyncio.run(_disposition(daemon, call_id)) == ("prank", "1002")
