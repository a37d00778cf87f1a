"""Journal scenarios run against SQLite (unit tests) and PostgreSQL (integration test) alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from callgate.storage.journal import Journal
from callgate.storage.records import RecordingStatus
from callgate.storage.tables import metadata

T0 = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)
WIB = timezone(timedelta(hours=7))  # Jakarta: a caller's clock, not the journal's
SHA = "ab" * 32


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def start(journal: Journal, call_id: str, seconds: float = 0) -> bool:
    return await journal.call_started(
        call_id,
        caller="+6281234567890",
        caller_sent="081234567890",
        dialed="112",
        priority=1,
        category="genuine",
        at=at(seconds),
    )


async def answered_call_round_trip(url: str) -> None:
    """A call that queues, is answered, talks, ends, and gets its recording: all read back."""
    journal = await Journal.open(url)
    try:
        assert await start(journal, "c1") is True
        await journal.call_state("c1", at=at(0), from_state=None, to_state="ARRIVED", trigger="NEW")
        await journal.call_state(
            "c1", at=at(0.5), from_state="ARRIVED", to_state="QUEUED", trigger="QUEUE"
        )
        await journal.agent_assigned("c1", agent_id="1001", at=at(1), role="call-taker")
        await journal.call_state(
            "c1", at=at(6), from_state="QUEUED", to_state="CONNECTED", trigger="BRIDGED"
        )
        await journal.agent_assigned("c1", agent_id="damkar", at=at(40), role="agency")
        # A time in another zone is the same instant; it comes back in UTC.
        await journal.call_ended(
            "c1",
            at=at(90).astimezone(WIB),
            outcome="COMPLETED",
            answered_at=at(5),
            answered_by="1001",
        )
        await journal.recording_ready(
            "c1", path="c1.wav", sha256=SHA, size_bytes=1_440_044, duration_s=85.0, at=at(91)
        )

        call = await journal.get_call("c1")
    finally:
        await journal.close()

    assert call is not None
    assert (call.caller, call.caller_sent, call.dialed) == ("+6281234567890", "081234567890", "112")
    assert (call.priority, call.category) == (1, "genuine")
    assert call.started_at == T0
    assert call.ended_at == at(90)
    assert call.ended_at is not None
    assert call.ended_at.tzinfo is UTC
    assert (call.outcome, call.state, call.answered_by) == ("COMPLETED", "COMPLETED", "1001")
    assert call.answered_at == at(5)
    assert not call.is_open
    assert [(t.from_state, t.to_state, t.trigger) for t in call.transitions] == [
        (None, "ARRIVED", "NEW"),
        ("ARRIVED", "QUEUED", "QUEUE"),
        ("QUEUED", "CONNECTED", "BRIDGED"),
    ]
    assert [t.at for t in call.transitions] == [at(0), at(0.5), at(6)]
    assert [(a.agent_id, a.role) for a in call.agents] == [
        ("1001", "call-taker"),
        ("damkar", "agency"),
    ]
    assert call.recording is not None
    assert call.recording.status is RecordingStatus.READY
    assert (call.recording.path, call.recording.sha256) == ("c1.wav", SHA)
    assert (call.recording.size_bytes, call.recording.duration_s) == (1_440_044, 85.0)
    assert call.recording.at == at(91)


async def open_call_survives_restart(url: str) -> None:
    """A call connected before a restart is open after it, with its history, and can be ended."""
    journal = await Journal.open(url)
    try:
        await start(journal, "before-restart")
        await journal.call_state(
            "before-restart",
            at=at(6),
            from_state="CONNECTING",
            to_state="CONNECTED",
            trigger="BRIDGED",
        )
        await journal.agent_assigned("before-restart", agent_id="1002", at=at(5))
        await start(journal, "finished", seconds=1)
        await journal.call_ended("finished", at=at(30), outcome="ABANDONED")
    finally:
        await journal.close()

    journal = await Journal.open(url)
    try:
        # The daemon replays what it knows; nothing is recorded twice.
        assert await start(journal, "before-restart") is False
        assert (
            await journal.call_state(
                "before-restart",
                at=at(6),
                from_state="CONNECTING",
                to_state="CONNECTED",
                trigger="BRIDGED",
            )
            is False
        )
        assert await journal.agent_assigned("before-restart", agent_id="1002", at=at(5)) is False

        still_open = await journal.open_calls()
        assert [c.call_id for c in still_open] == ["before-restart"]
        assert still_open[0].state == "CONNECTED"
        assert [a.agent_id for a in still_open[0].agents] == ["1002"]
        assert len(still_open[0].transitions) == 1

        await journal.call_ended(
            "before-restart", at=at(120), outcome="COMPLETED", answered_at=at(5), answered_by="1002"
        )
        assert await journal.open_calls() == []
    finally:
        await journal.close()


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def schema_matches_models(url: str) -> None:
    """The schema the migrations build is the one the models describe."""
    await (await Journal.open(url)).close()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_schema_differences)
    finally:
        await engine.dispose()
    assert differences == [], f"models and migrations differ; write a migration: {differences}"


async def inquiry_queries(url: str) -> None:
    """#23's queries: a search by every filter, paged with its total, a call's file, holds and
    the audit trail."""
    from callgate.storage import inquiries as q
    from callgate.storage.agent_events import AgentEvent, save_agent_event
    from callgate.storage.annotations import JournalAnnotations
    from callgate.storage.fallback_calls import FALLBACK_DESTINATION

    journal = await Journal.open(url)
    try:
        spelled = ("+6281200000001", "+6281200000002", "+6285700000003", "anonymous", "+62812%")
        for n, caller in enumerate(spelled):
            call_id = f"q{n}"
            await journal.call_started(
                call_id, caller=caller, caller_sent=caller.replace("+62", "0"), dialed="112",
                priority=1, category="anonymous" if caller == "anonymous" else "none",
                at=at(3600 * n),
            )  # fmt: skip
            agent = "1001" if n % 2 == 0 else "1002"
            await journal.call_ended(
                call_id, at=at(3600 * n + 60), outcome="FALLBACK" if n == 3 else "COMPLETED",
                answered_at=at(3600 * n + 5), answered_by=agent,
                destination=FALLBACK_DESTINATION if n == 3 else None,
            )  # fmt: skip
            await save_agent_event(
                journal,
                AgentEvent(at=at(3600 * n + 5), agent_id=agent, event="call-answered",
                           call_id=call_id, cause="CallAnswered"),
            )  # fmt: skip
        await journal.recording_ready(
            "q0", path="/r/q0.wav", sha256=SHA, size_bytes=10, duration_s=1.0, at=at(61)
        )
        notes = JournalAnnotations(journal)
        await notes.set_disposition("q1", "prank", "1002", at(4000))
        await notes.request_callback("q2", "sup", at(8000))

        async def ids(query: q.CallQuery, **page: int) -> tuple[list[str], int]:
            found, total = await q.search_calls(journal, query, **page)
            return [s.call_id for s in found], total

        assert await ids(q.CallQuery()) == (["q4", "q3", "q2", "q1", "q0"], 5)
        assert await ids(q.CallQuery(), page=2, per_page=2) == (["q2", "q1"], 5)
        # A prefix matches the spelling it names only: "%" is a character, not a wildcard.
        assert await ids(q.CallQuery(callers=("+62812",))) == (["q4", "q1", "q0"], 3)
        assert await ids(q.CallQuery(callers=("+62812%",))) == (["q4"], 1)
        assert await ids(q.CallQuery(callers=("+6285", "anon"))) == (["q3", "q2"], 2)
        assert await ids(q.CallQuery(since=at(3600), until=at(3 * 3600))) == (["q2", "q1"], 2)
        assert await ids(q.CallQuery(calltaker="1002")) == (["q3", "q1"], 2)
        assert await ids(q.CallQuery(answered_by="1001", outcome="COMPLETED")) == (
            ["q4", "q2", "q0"],
            3,
        )
        assert await ids(q.CallQuery(disposition="prank")) == (["q1"], 1)
        assert await ids(q.CallQuery(tag="callback")) == (["q2"], 1)
        assert await ids(q.CallQuery(tag="anonymous")) == (["q3"], 1)
        assert await ids(q.CallQuery(fallback=True)) == (["q3"], 1)
        assert (await ids(q.CallQuery(fallback=False)))[1] == 4

        [q0] = (await q.search_calls(journal, q.CallQuery(callers=("+6281200000001",))))[0]
        assert q0.recording
        assert not q0.hold
        assert await q.place_hold(journal, "q0", reason="court", by="sup", at=at(9000)) is True
        assert await q.place_hold(journal, "q0", reason="again", by="sup", at=at(9001)) is False
        assert await q.place_hold(journal, "nope", reason="x", by="sup", at=at(9001)) is None
        assert await q.held_among(journal, ["q0", "q1"]) == {"q0"}
        await q.audit(journal, at=at(9100), by="sup", action="played", call_id="q0")
        found = await q.call_file(journal, "q0")
        assert found is not None
        assert found.summary.hold
        assert found.hold is not None
        assert found.hold.reason == "court"
        assert [e.event for e in found.agent_events] == ["call-answered"]
        assert [(a.action, a.by) for a in found.access] == [("hold", "sup"), ("played", "sup")]
        assert await q.call_file(journal, "nope") is None
        assert [h.call_id for h in await q.holds(journal)] == ["q0"]
        assert await q.lift_hold(journal, "q0", reason="done", by="root", at=at(9200))
        assert not await q.lift_hold(journal, "q0", reason="done", by="root", at=at(9201))
        assert await q.holds(journal) == []
        assert [e.action for e in await q.audit_trail(journal)] == ["unhold", "played", "hold"]
        assert await q.recordings_since(journal, at(0)) == [("q0", "/r/q0.wav", SHA)]
        assert await q.recordings_since(journal, at(100)) == []
    finally:
        await journal.close()
