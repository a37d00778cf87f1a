"""Browser sessions and display tokens in the journal: kept by digest, found again, dropped by
session, by user, and with their display when it is revoked; pruned. Each scenario runs on
SQLite here and on PostgreSQL in tests/integration/test_journal_postgres.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callgate.ports import StoredSession
from callgate.storage.browser_sessions import JournalSessions
from callgate.storage.journal import Journal

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _session(digest: str, name: str, *, display: bool = False) -> StoredSession:
    return StoredSession(digest, name, display, T0, T0 + timedelta(minutes=5), "f" * 64)


async def sessions_by_digest(journal: Journal) -> None:
    store = JournalSessions(journal)
    assert await store.add_display("sup", "9" * 64, "root", T0)
    await store.save_session(_session("a" * 64, "sup"))
    await store.save_session(_session("b" * 64, "sup"))
    await store.save_session(_session("c" * 64, "root"))
    await store.save_session(_session("d" * 64, "sup", display=True))  # a display named sup
    assert await store.find_session("a" * 64) == _session("a" * 64, "sup")
    later = StoredSession("a" * 64, "sup", False, T0, T0 + timedelta(hours=1), "f" * 64)
    assert await store.touch_session("a" * 64, later.last_seen)
    assert await store.find_session("a" * 64) == later
    await store.drop_session("c" * 64)
    assert await store.find_session("c" * 64) is None
    assert await store.drop_sessions("sup", display=False) == 2
    assert await store.find_session("b" * 64) is None
    assert await store.find_session("d" * 64) is not None  # the display's stays
    assert await store.drop_sessions("nobody", display=False) == 0
    # A last sight adds no row: one gone was ended (logged out, revoked), and stays so.
    assert not await store.touch_session("c" * 64, T0 + timedelta(hours=2))
    assert await store.find_session("c" * 64) is None


async def last_sights_out_of_order(journal: Journal) -> None:
    """Sights written in the background land in any order: the row keeps the latest one."""
    store = JournalSessions(journal)
    await store.save_session(_session("a" * 64, "sup"))  # seen T0 + 5 min
    latest = T0 + timedelta(hours=11)
    assert await store.touch_session("a" * 64, latest)
    for older in (T0 + timedelta(hours=6), T0 + timedelta(minutes=1)):  # landing late
        assert await store.touch_session("a" * 64, older)  # found, though not moved back
    found = await store.find_session("a" * 64)
    assert found is not None
    assert found.last_seen == latest
    # The whole row written again (its first write had failed) keeps the later sight too.
    await store.save_session(_session("a" * 64, "sup"))
    found = await store.find_session("a" * 64)
    assert found is not None
    assert found.last_seen == latest
    assert await store.touch_session("a" * 64, latest + timedelta(minutes=1))
    found = await store.find_session("a" * 64)
    assert found is not None
    assert found.last_seen == latest + timedelta(minutes=1)


async def displays_revoked_with_sessions(journal: Journal) -> None:
    store = JournalSessions(journal)
    assert await store.add_display("lobby", "1" * 64, "root", T0)
    assert not await store.add_display("lobby", "2" * 64, "root", T0)  # the name is taken
    assert await store.add_display("hall", "3" * 64, "root", T0 + timedelta(days=1))
    await store.save_session(_session("e" * 64, "lobby", display=True))
    await store.save_session(_session("f" * 64, "lobby", display=False))  # a user named lobby
    assert await store.display_of("1" * 64) == "lobby"
    assert await store.display_of("2" * 64) is None
    [hall, lobby] = await store.displays()
    assert (hall.name, hall.sessions, hall.last_seen) == ("hall", 0, None)
    assert (lobby.name, lobby.created, lobby.created_by, lobby.sessions) == ("lobby", T0, "root", 1)
    assert lobby.last_seen == T0 + timedelta(minutes=5)
    assert await store.revoke_display("lobby")
    assert not await store.revoke_display("lobby")
    assert await store.display_of("1" * 64) is None
    assert await store.find_session("e" * 64) is None
    assert await store.find_session("f" * 64) is not None
    # A display's row written after its revoke (a race) opens no screen, and is dropped.
    await store.save_session(_session("e" * 64, "lobby", display=True))
    assert await store.find_session("e" * 64) is None
    assert await store.drop_sessions("lobby", display=True) == 0


async def old_sessions_pruned(journal: Journal) -> None:
    store = JournalSessions(journal)
    await store.save_session(_session("a" * 64, "sup"))  # seen T0 + 5 min
    assert await store.add_display("lobby", "1" * 64, "root", T0)
    await store.save_session(_session("b" * 64, "lobby", display=True))
    fresh = StoredSession("c" * 64, "root", False, T0, T0 + timedelta(hours=9))
    await store.save_session(fresh)
    assert await store.prune_sessions(T0 + timedelta(hours=1), T0) == 1
    assert await store.find_session("a" * 64) is None
    assert await store.find_session("b" * 64) is not None
    assert await store.prune_sessions(T0, T0 + timedelta(days=1)) == 1
    assert await store.find_session("c" * 64) == fresh


async def test_given_sessions_then_found_by_digest_updated_and_dropped(journal: Journal) -> None:
    await sessions_by_digest(journal)


async def test_given_last_sights_landing_out_of_order_then_the_latest_stays(
    journal: Journal,
) -> None:
    await last_sights_out_of_order(journal)


async def test_given_displays_then_found_by_token_digest_and_revoked_with_sessions(
    journal: Journal,
) -> None:
    await displays_revoked_with_sessions(journal)


async def test_given_old_sessions_then_pruned_by_their_kinds_limit(journal: Journal) -> None:
    await old_sessions_pruned(journal)
