"""The journal's fence (#21): once a newer leader claimed the journal, a write of the older
one is refused in its own transaction and leaves nothing behind."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from callgate.storage.fence_reset import RESET_ACTION, fence_epoch, reset_fence
from callgate.storage.inquiries import InquiryAuditRow
from callgate.storage.journal import Journal, JournalFenced

AT = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)


async def _start(journal: Journal, call_id: str) -> bool:
    return await journal.call_started(
        call_id, caller="0811", caller_sent="0811", dialed="112", priority=0, category="", at=AT
    )


async def test_given_a_single_callgate_then_no_epoch_is_checked(journal: Journal) -> None:
    assert journal.epoch is None
    assert await _start(journal, "c1")


async def test_given_a_newer_leader_then_the_older_ones_writes_are_refused(db_url: str) -> None:
    await older_epoch_refused(db_url)


async def older_epoch_refused(db_url: str) -> None:
    """The scenario, on SQLite here and on PostgreSQL in tests/integration."""
    old, new = await Journal.open(db_url), await Journal.open(db_url)
    told: list[str] = []
    old.fenced = told.append
    try:
        await old.claim_epoch(5)
        assert await _start(old, "before")
        await new.claim_epoch(9)
        with pytest.raises(JournalFenced, match="epoch 5 is no longer the leader's"):
            await _start(old, "after")
        assert len(told) == 1
        # Refused whole: the call the old leader tried to start is not there.
        assert await new.get_call("after") is None
        assert await new.get_call("before") is not None
        assert await _start(new, "new")
        # An older epoch cannot claim it back.
        with pytest.raises(JournalFenced, match="newer than epoch 5"):
            await old.claim_epoch(5)
    finally:
        await old.close()
        await new.close()


async def test_given_the_same_epoch_claimed_again_then_it_keeps_writing(db_url: str) -> None:
    journal = await Journal.open(db_url)
    try:
        await journal.claim_epoch(3)
        await journal.claim_epoch(3)  # a leader reconnecting: the same epoch
        assert await _start(journal, "c1")
    finally:
        await journal.close()


async def test_given_a_claim_that_has_not_landed_then_the_first_write_claims_the_journal(
    db_url: str,
) -> None:
    # A new leader serves before its claim lands (the old one, paused, held the lock): its
    # first write claims the epoch in the same transaction, and the old leader's are refused.
    old, new = await Journal.open(db_url), await Journal.open(db_url)
    try:
        await old.claim_epoch(5)
        new.epoch = 9  # what the daemon sets before the claim is made
        assert await _start(new, "new")
        with pytest.raises(JournalFenced, match="epoch 5 is no longer the leader's"):
            await _start(old, "after")
        assert await new.get_call("after") is None
        assert await _start(new, "newer")
    finally:
        await old.close()
        await new.close()


async def test_given_a_read_only_transaction_then_no_fence_is_taken(db_url: str) -> None:
    # A read never takes the fence row's lock: a new leader's start-up reads (open callback
    # tasks...) never wait on an old leader paused mid-transaction, and an old leader's reads
    # are not refused (only its writes are).
    old, new = await Journal.open(db_url), await Journal.open(db_url)
    told: list[str] = []
    old.fenced = told.append
    try:
        await old.claim_epoch(5)
        assert await _start(old, "before")
        await new.claim_epoch(9)
        assert await old.get_call("before") is not None
        assert told == []
        with pytest.raises(JournalFenced):
            await _start(old, "after")
        assert len(told) == 1
    finally:
        await old.close()
        await new.close()


async def test_given_etcd_rebuilt_then_a_reset_lowers_the_fence_with_an_audit_row(
    journal: Journal,
) -> None:
    # etcd rebuilt: its revisions start again at 1, far below the journal's epoch 9000.
    await journal.claim_epoch(9000)
    assert await fence_epoch(journal) == 9000
    journal.epoch = None  # the admin's CLI is no leader
    done = await reset_fence(journal, 12, by="root (uid 0)", at=AT)
    assert (done.before, done.after, done.changed) == (9000, 12, True)
    assert await fence_epoch(journal) == 12
    trail = await journal_trail(journal)
    assert [(row.by, row.action, row.call_id) for row in trail] == [
        ("root (uid 0)", RESET_ACTION, None)
    ]
    assert json.loads(trail[0].detail or "") == {"from": 9000, "to": 12}
    # The new etcd's next leader (epoch 13) claims and writes; an older one is still refused.
    leader = await Journal.open(journal.url)
    try:
        await leader.claim_epoch(13)
        assert await _start(leader, "c1")
        with pytest.raises(JournalFenced):
            await journal.claim_epoch(11)
    finally:
        await leader.close()


async def test_given_a_fence_at_or_below_etcds_revision_then_a_reset_changes_nothing(
    journal: Journal,
) -> None:
    await journal.claim_epoch(7)
    journal.epoch = None
    done = await reset_fence(journal, 7, by="callgate (uid 990)", at=AT)
    assert (done.before, done.after, done.changed) == (7, 7, False)
    assert await fence_epoch(journal) == 7
    assert await journal_trail(journal) == []  # nothing done, nothing on the trail
    with pytest.raises(ValueError, match="naive"):
        await reset_fence(journal, 1, by="root", at=AT.replace(tzinfo=None))


async def journal_trail(journal: Journal) -> list[InquiryAuditRow]:
    async with journal.transaction() as session:
        return list((await session.execute(select(InquiryAuditRow))).scalars())
