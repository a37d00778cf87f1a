"""Dispositions keyed on the call-taker's phone after the call, against the real lab: a SIPp
carrier call answered by extension 1003, then ``*153`` (prank) from that phone through the
dialplan's [callgate-agents], callgate's FastAGI server and the journal. Uses only the
call-taker extensions 1003 and 1004."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import labpeers
import pytest

from callgate.storage.annotations import CallAnnotation, JournalAnnotations

from .conftest import Daemon, wait_for

CALLER = "081177001530"


async def _annotation(daemon: Daemon, call_id: str) -> CallAnnotation | None:
    async with daemon.journal() as journal:
        return await JournalAnnotations(journal).get(call_id)


def _dispositions(daemon: Daemon, by: str) -> list[dict[str, object]]:
    """The daemon's one log line per disposition request from call-taker ``by``."""
    return [
        r
        for r in daemon.records()
        if r["event"] in ("disposition set", "disposition not set") and r.get("by") == by
    ]


def _dial(phone: labpeers.Softphone, number: str) -> None:
    response = phone.command("dial", number)
    assert response.get("ok"), response


@pytest.mark.daemon_env(
    CALLGATE_CALLTAKERS__ENDPOINTS='["PJSIP/1003", "PJSIP/1004"]',
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
)
def test_given_a_call_answered_by_1003_when_1003_dials_star_153_after_it_then_journaled_prank(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    [taker] = phones("1003")
    call = carrier([CALLER], talk_seconds=4)
    assert call.wait(timeout=60) == 0, call.errors()
    wait_for(lambda: len(daemon.records("call ended")) == 1, 15, "the call to end")
    [ended] = daemon.records("call ended")
    call_id = str(ended["call_id"])
    connected = daemon.records("call connected")
    assert [str(r.get("agent_id")) for r in connected] == ["1003"], connected

    # After the hang-up: *15 then 3 (prank) from the call-taker's own phone.
    _dial(taker, "*153")
    wait_for(lambda: bool(_dispositions(daemon, "1003")), 20, "the *153 disposition")
    [logged] = _dispositions(daemon, "1003")
    assert logged["event"] == "disposition set", logged
    assert (logged["call_id"], logged["disposition"], logged["source"]) == (
        call_id,
        "prank",
        "feature-code",
    )
    stored = asyncio.run(_annotation(daemon, call_id))
    assert stored is not None
    assert (stored.disposition, stored.disposition_by) == ("prank", "1003")
    codes = [r for r in daemon.records("agent code") if r.get("code") == "disposition"]
    assert [r.get("result") for r in codes] == ["OK"], codes

    # 1004 answered nothing: its *153 changes nothing and says so.
    [idle] = phones("1004")
    _dial(idle, "*153")
    wait_for(lambda: bool(_dispositions(daemon, "1004")), 20, "1004's *153")
    [refused] = _dispositions(daemon, "1004")
    assert (refused["event"], refused["result"]) == ("disposition not set", "no-recent-call")
    stored = asyncio.run(_annotation(daemon, call_id))
    assert stored is not None
    assert (stored.disposition, stored.disposition_by) == ("prank", "1003")
