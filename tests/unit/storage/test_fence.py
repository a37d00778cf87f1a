"""The journal's fence (#21): once a newer leader claimed the journal, a write of the older
one is refused in its own transaction and leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
