"""A caller re-found in Stasis after callgate was killed: the journal must have the call.

Found by the lab fault suite (SIGKILL mid-burst): a call that entered just before the kill had
its start only in the dead process's memory; after the restart every record of it was refused
("not in the journal (no call_started)") and the call was missing from the journal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from callgate.asterisk.ari.adapter import AriAdapter
from callgate.asterisk.ari.client import JsonObject
from callgate.config import Settings
from callgate.core.commands import RingAgent
from callgate.core.events import AgentNoAnswer, CallArrived, Event
from callgate.daemon.journaling import CallJournal
from callgate.ports import RECORDS, CallStarted, Record
from callgate.storage.journal import Journal
from tests.unit.asterisk.recorded_ari import RecordedAri

CALL = "1795768621.78"
VARIABLES = {
    "CALLGATE_RECORDING": f"callgate/{CALL}.wav",
    "CALLGATE_PRIORITY": "1",
    "CALLGATE_CALLER_SENT": "081957684220",
    "CALLGATE_DIALED": "112",
}


def asterisk(*in_stasis: JsonObject) -> RecordedAri:
    """The restarted daemon's Asterisk: ``in_stasis`` still in the app, and the caller still
    talking to the call-taker (a conversation that outlived callgate); every channel's
    variables as the dialplan set them on the caller's."""
    ari = RecordedAri()
    ari.channels = list(in_stasis)
    ari.bridges = [
        RecordedAri.bridge(
            id=f"call-{CALL}",
            channels=[CALL, TAKER_LEG],
            creationtime="2026-11-27T08:37:09.640+0000",
        )
    ]
    ari.variable = lambda channel, name: VARIABLES.get(name, "")
    return ari


TAKER_LEG = "calltaker-7b0c54f1-42d2-4f6e-8a53-0e4c8b1c9a02"
#: 1002's leg, rung at 08:37:04.2 and answered: the bridge was made for them at 08:37:09.64.
TAKER = RecordedAri.channel(
    id=TAKER_LEG,
    name="PJSIP/1002-00000007",
    caller={"number": "+6281957684220", "name": ""},
    dialplan={"app_name": "Stasis", "app_data": f"callgate,calltaker,{CALL},1002"},
    creationtime="2026-11-27T08:37:04.200+0000",
)
CHANNEL = RecordedAri.channel(
    id=CALL,
    state="Up",
    caller={"number": "+6281957684220", "name": ""},
    dialplan={"context": "emergency", "exten": "s", "priority": 9},
    creationtime="2026-11-27T08:37:01.100+0000",
    channelvars=VARIABLES,  # ari.conf's channelvars, as the dialplan set them
)


class Seen:
    """The engine's feed as the adapter sees it: events kept, records told to the journal."""

    def __init__(self, writer: CallJournal) -> None:
        self.writer = writer
        self.starts: list[CallStarted] = []
        self.fed: list[Event] = []

    async def __call__(self, *events: Event | Record) -> None:
        for event in events:
            if isinstance(event, RECORDS):
                await self.writer.notification(event)
                if isinstance(event, CallStarted):
                    self.starts.append(event)
            else:
                self.fed.append(event)


async def test_given_a_conversation_that_outlived_a_kill_then_the_journal_gets_it_whole(
    tmp_path: Path,
) -> None:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    writer = CallJournal(journal)
    writer.start()
    in_stasis = {**CHANNEL, "dialplan": {"app_name": "Stasis", "app_data": "callgate"}}
    calls = AriAdapter(
        asterisk(in_stasis, TAKER),
        Settings(),
        clock=lambda: 2_000_000_000.0,
        feed=Seen(writer),
    )
    try:
        await calls.reconciler._reconcile()
        # The call-taker hangs up: the adopted conversation ends.
        await calls.on_event(RecordedAri.frame("StasisEnd", channel={"id": TAKER_LEG}))
        await writer.close()
        call = await journal.get_call(CALL)
    finally:
        await journal.close()
    assert call is not None
    assert (call.caller_sent, call.outcome) == ("081957684220", "COMPLETED")
    assert call.ended_at is not None
    # The journal never had its answer (the process before was killed with it queued): the
    # call-taker in the bridge answered it, when Asterisk made the bridge for them.
    answered = dt.datetime(2026, 11, 27, 8, 37, 9, 640_000, tzinfo=dt.UTC)
    assert (call.answered_by, call.answered_at) == ("1002", answered)
    assert [(a.agent_id, a.role) for a in call.agents] == [("1002", "call-taker")]


async def test_given_a_caller_refound_after_a_kill_then_the_journal_gets_its_start(
    tmp_path: Path,
) -> None:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    writer = CallJournal(journal)
    writer.start()
    seen = Seen(writer)
    calls = AriAdapter(
        asterisk(),
        Settings(),
        clock=lambda: 2_000_000_000.0,
        feed=seen,
    )
    try:
        await calls.arrivals.new_call(CHANNEL, reconnected=True)
        await writer.close()
        call = await journal.get_call(CALL)
    finally:
        await journal.close()
    assert call is not None
    assert (call.caller, call.caller_sent, call.dialed, call.priority) == (
        "+6281957684220",
        "081957684220",
        "112",
        1,
    )
    assert call.started_at == dt.datetime(2026, 11, 27, 8, 37, 1, 100_000, tzinfo=dt.UTC)
    [start] = seen.starts
    assert start.restored
    assert seen.fed, "the caller is queued again"


async def test_given_a_caller_rung_during_the_reconciliation_then_its_ring_is_not_taken_for_gone(
    tmp_path: Path,
) -> None:
    """The lab's SIGKILL-while-ringing run: the re-queued caller is offered at once, and the ring
    it starts is newer than the reconciliation's list of channels. It must not be judged gone
    (a withdrawn ring counts as a miss: three of them paused both call-takers while the callers
    waited). The old process's leg still ringing the phone is hung up before the new ring."""
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    writer = CallJournal(journal)
    writer.start()
    in_stasis = {**CHANNEL, "dialplan": {"app_name": "Stasis", "app_data": "callgate"}}
    old_leg = RecordedAri.channel(id="calltaker-old-1001", state="Ringing")
    ari = asterisk(in_stasis, old_leg)
    ari.bridges = []
    order: list[str] = []

    class Ringing(Seen):
        async def __call__(self, *events: Event | Record) -> None:
            await super().__call__(*events)
            for event in events:
                if isinstance(event, CallArrived):
                    order.append("ring")
                    await calls.execute(RingAgent(event.call_id, "1001", "PJSIP/1001", "112"))

    seen = Ringing(writer)
    calls = AriAdapter(ari, Settings(), clock=lambda: 2_000_000_000.0, feed=seen)
    try:
        await calls.reconciler._reconcile()
        await writer.close()
    finally:
        await journal.close()
    assert not [e for e in seen.fed if isinstance(e, AgentNoAnswer)], seen.fed
    assert [leg.agent_id for leg in calls.book.legs.values()] == ["1001"], "the new ring is held"
    hangups = [path for _, path, _ in ari.did("DELETE") if "calltaker-old-1001" in path]
    assert hangups, "the old process's ring is hung up"
    assert order == ["ring"]
