"""Screening in the lab: a repeat prank caller waits behind a genuine caller who came later."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import labpeers
import pytest

from callgate.storage.annotations import JournalAnnotations

from .conftest import Daemon, wait_for

PRANKSTER = "081199000001"
GENUINE = "081199000002"
BUSY = "081199000003"


async def _mark(daemon: Daemon, call_ids: list[str], disposition: str) -> None:
    async with daemon.journal() as journal:
        notes = JournalAnnotations(journal)
        for call_id in call_ids:
            assert await notes.set_disposition(call_id, disposition, "1001", datetime.now(UTC))


@pytest.mark.daemon_env(CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
def test_given_a_repeat_prank_caller_then_tagged_and_answered_after_a_later_genuine_caller(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    takers = phones("1001")
    with labpeers.CallTakersHangUp(1.0, takers):
        # Three earlier calls from the prankster, answered and marked prank by the call-taker.
        history = carrier([PRANKSTER] * 3, talk_seconds=20)
        history.rate_per_second = 1
        assert history.wait(timeout=90) == 0, history.errors()
    wait_for(lambda: len(daemon.records("call ended")) == 3, 10, "the three calls to end")
    asyncio.run(_mark(daemon, [str(r["call_id"]) for r in daemon.records("call ended")], "prank"))

    with labpeers.CallTakersHangUp(4.0, takers):
        busy = carrier([BUSY], talk_seconds=60)
        wait_for(lambda: len(daemon.records("call connected")) == 4, 15, "the call-taker busy")
        prank = carrier([PRANKSTER], talk_seconds=60)
        wait_for(lambda: len(daemon.records("112 call entered")) == 5, 10, "the prankster")
        genuine = carrier([GENUINE], talk_seconds=60)
        for calls in (busy, genuine, prank):
            assert calls.wait(timeout=90) == 0, calls.errors()

    entered = {str(r["call_id"]): r for r in daemon.records("112 call entered")}
    order = [str(entered[str(r["call_id"])]["caller"]) for r in daemon.records("call connected")]
    # The prankster arrived first but waited in the lower class; both were answered.
    assert order[-2:] == ["+6281199000002", "+6281199000001"]
    screened = daemon.records("caller screened")
    assert screened
    assert screened[-1]["caller"] == "+6281199000001"
    assert "PRANK" in str(screened[-1]["tag"]).upper()
