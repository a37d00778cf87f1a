"""The journal on a real SQLite file: what goes in comes back, replays change nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from callgate.storage.database import UnknownCallError
from callgate.storage.journal import Journal
from callgate.storage.records import RecordingStatus
from tests.unit.storage import scenarios
from tests.unit.storage.scenarios import SHA, WIB, at, start


async def test_given_an_answered_call_when_read_back_then_every_field_and_history_match(
    db_url: str,
) -> None:
    await scenarios.answered_call_round_trip(db_url)


async def test_given_a_call_connected_before_a_restart_when_reopened_then_it_is_open_and_can_end(
    db_url: str,
) -> None:
    await scenarios.open_call_survives_restart(db_url)


async def test_given_a_known_call_when_started_again_then_the_first_record_is_kept(
    journal: Journal,
) -> None:
    assert await start(journal, "c1") is True
    assert (
        await journal.call_started(
            "c1", caller="x", caller_sent="x", dialed="110", priority=0, category="prank", at=at(9)
        )
        is False
    )
    call = await journal.get_call("c1")
    assert call is not None
    assert (call.caller, call.dialed, call.started_at) == ("+6281234567890", "112", at(0))


async def test_given_a_time_in_jakarta_when_stored_then_it_reads_back_as_the_same_instant_in_utc(
    journal: Journal,
) -> None:
    local = datetime(2026, 11, 22, 15, 0, tzinfo=WIB)
    await journal.call_started(
        "c1", caller="", caller_sent="", dialed="112", priority=1, category="", at=local
    )
    call = await journal.get_call("c1")
    assert call is not None
    assert call.started_at == local
    assert call.started_at.tzinfo is UTC
    assert call.started_at.hour == 8


async def test_given_a_naive_time_when_stored_then_value_error_and_nothing_written(
    journal: Journal,
) -> None:
    with pytest.raises(ValueError, match="at=2026-11-22T08:00:00 is a naive datetime"):
        await journal.call_started(
            "c1",
            caller="",
            caller_sent="",
            dialed="112",
            priority=1,
            category="",
            at=datetime(2026, 11, 22, 8, 0),  # naive on purpose
        )
    assert await journal.get_call("c1") is None


async def test_given_an_unknown_call_when_an_event_is_recorded_then_unknown_call_error(
    journal: Journal,
) -> None:
    with pytest.raises(UnknownCallError, match="ghost"):
        await journal.call_state("ghost", at=at(1), from_state=None, to_state="QUEUED", trigger="Q")
    with pytest.raises(UnknownCallError, match="ghost"):
        await journal.agent_assigned("ghost", agent_id="1001", at=at(1))
    with pytest.raises(UnknownCallError, match="ghost"):
        await journal.call_ended("ghost", at=at(1), outcome="ABANDONED")
    with pytest.raises(UnknownCallError, match="ghost"):
        await journal.recording_failed("ghost", reason="x", at=at(1))


async def test_given_an_agent_rung_twice_when_assigned_again_then_one_involvement_per_role(
    journal: Journal,
) -> None:
    await start(journal, "c1")
    assert await journal.agent_assigned("c1", agent_id="1001", at=at(1)) is True
    assert await journal.agent_assigned("c1", agent_id="1001", at=at(20)) is False
    assert await journal.agent_assigned("c1", agent_id="1001", at=at(30), role="agency") is True
    call = await journal.get_call("c1")
    assert call is not None
    assert [(a.agent_id, a.role, a.at) for a in call.agents] == [
        ("1001", "call-taker", at(1)),
        ("1001", "agency", at(30)),
    ]


async def test_given_an_ended_call_when_a_late_state_arrives_then_it_is_kept_but_outcome_stays(
    journal: Journal,
) -> None:
    await start(journal, "c1")
    await journal.call_ended("c1", at=at(10), outcome="ABANDONED")
    await journal.call_state(
        "c1", at=at(11), from_state="QUEUED", to_state="OFFERED", trigger="OFFER"
    )
    call = await journal.get_call("c1")
    assert call is not None
    assert call.state == "ABANDONED"
    assert [t.to_state for t in call.transitions] == ["OFFERED"]


async def test_given_many_calls_when_recent_calls_then_newest_first_limited_and_since_respected(
    journal: Journal,
) -> None:
    for n in range(5):
        await start(journal, f"c{n}", seconds=n * 60)
    assert [c.call_id for c in await journal.recent_calls(limit=3)] == ["c4", "c3", "c2"]
    assert [c.call_id for c in await journal.recent_calls(since=at(180))] == ["c4", "c3"]
    assert await journal.get_call("nope") is None


async def test_given_a_recording_when_ready_then_hash_is_kept_lowercase_and_a_bad_hash_refused(
    journal: Journal,
) -> None:
    await start(journal, "c1")
    with pytest.raises(ValueError, match="SHA-256"):
        await journal.recording_ready(
            "c1", path="c1.wav", sha256="not-a-hash", size_bytes=1, duration_s=1.0, at=at(1)
        )
    await journal.recording_ready(
        "c1", path="c1.wav", sha256=SHA.upper(), size_bytes=1, duration_s=1.0, at=at(1)
    )
    call = await journal.get_call("c1")
    assert call is not None
    assert call.recording is not None
    assert call.recording.sha256 == SHA


async def test_given_a_ready_recording_when_a_late_failure_arrives_then_the_file_stays_recorded(
    journal: Journal,
) -> None:
    await start(journal, "c1")
    await journal.recording_ready(
        "c1", path="c1.wav", sha256=SHA, size_bytes=1, duration_s=1.0, at=at(1)
    )
    assert await journal.recording_failed("c1", reason="late", at=at(2)) is False
    call = await journal.get_call("c1")
    assert call is not None
    assert call.recording is not None
    assert call.recording.status is RecordingStatus.READY


@pytest.mark.parametrize("failure_first", [False, True])
async def test_given_a_file_and_a_reason_in_either_order_then_the_row_keeps_both(
    journal: Journal, failure_first: bool
) -> None:
    # An unsealed recording is reported as ready (with its hash) and as failed (with why): the
    # hash and path must survive, or retention would never delete the file.
    await start(journal, "c1")
    ready = journal.recording_ready(
        "c1", path="c1.wav", sha256=SHA, size_bytes=1, duration_s=1.0, at=at(1)
    )
    failed = journal.recording_failed("c1", reason="not sealed", at=at(1))
    for report in (failed, ready) if failure_first else (ready, failed):
        await report
    call = await journal.get_call("c1")
    assert call is not None
    assert call.recording is not None
    assert (call.recording.status, call.recording.path, call.recording.sha256) == (
        RecordingStatus.READY,
        "c1.wav",
        SHA,
    )
    assert call.recording.reason == "not sealed"
    assert [r.call_id for r in await journal.expired_recordings(at(2))] == ["c1"]


async def test_given_a_failed_recording_when_read_then_reason_is_kept_and_no_file_listed(
    journal: Journal,
) -> None:
    await start(journal, "c1")
    assert await journal.recording_failed("c1", reason="disk full", at=at(3)) is True
    call = await journal.get_call("c1")
    assert call is not None
    assert call.recording is not None
    assert (call.recording.status, call.recording.reason) == (RecordingStatus.FAILED, "disk full")
    assert call.recording.path is None
    assert await journal.expired_recordings(at(10**9)) == []


async def test_given_the_journal_used_as_async_context_then_it_closes_on_exit(db_url: str) -> None:
    async with await Journal.open(db_url) as journal:
        await start(journal, "c1")
    async with await Journal.open(db_url) as journal:
        assert [c.call_id for c in await journal.open_calls()] == ["c1"]


async def test_given_two_tasks_starting_the_same_call_at_once_then_exactly_one_records_it(
    journal: Journal,
) -> None:
    results = await asyncio.gather(*(start(journal, "c1") for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert [c.call_id for c in await journal.open_calls()] == ["c1"]


async def test_given_a_caller_longer_than_its_column_then_clipped_with_a_marker_and_a_warning(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLite never enforces widths; PostgreSQL would refuse the row and lose the call. Either
    # way the journal clips first, so both keep the call.
    assert await journal.call_started(
        "c1", caller="+62" + "8" * 297, caller_sent="0" * 300, dialed="112", priority=1,
        category="", at=scenarios.at(0),
    )  # fmt: skip
    call = await journal.get_call("c1")
    assert call is not None
    assert call.caller == "+62" + "8" * 251 + "…"
    assert call.caller_sent == "0" * 300
    clipped = [
        (r.__dict__["column"], r.__dict__["length"], r.__dict__["width"])
        for r in caplog.records
        if r.getMessage() == "value longer than its column clipped"
    ]
    assert clipped == [("calls.caller", 300, 255)]
