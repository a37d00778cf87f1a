"""Browser sessions of the admin port and the wall screens' device tokens, in the journal, so
that both survive a daemon restart or upgrade (:mod:`callgate.http.sessions` says why).

Only digests are stored: the SHA-256 of a session id, of a display token. Both are 256 random
bits, which no dictionary attack can guess, so a fast hash is enough (argon2 is for passwords
people choose); a copy of the database opens no session and no screen.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Index,
    String,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from callgate.ports import DisplayInfo, StoredSession
from callgate.storage.database import require_aware
from callgate.storage.journal import Journal
from callgate.storage.models import WIDE, Base, Clipped, UTCDateTime

#: A SHA-256 in hex.
DIGEST = 64
#: Names of users and displays (auth.NAME_PATTERN: at most 64).
NAME = 64


class SessionRow(Base):
    """One browser session (a person's or a wall screen's), by the digest of its id."""

    __tablename__ = "browser_sessions"
    __table_args__ = (Index("ix_browser_sessions_name_display", "name", "display"),)

    digest: Mapped[str] = mapped_column(String(DIGEST), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME))
    display: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    #: What the user was when the session started (:class:`~callgate.ports.StoredSession`).
    fingerprint: Mapped[str] = mapped_column(String(DIGEST))


class DisplayRow(Base):
    """One wall screen's device token, by the digest of the token."""

    __tablename__ = "display_tokens"

    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    digest: Mapped[str] = mapped_column(String(DIGEST), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(Clipped(WIDE, "display_tokens.created_by"))


class JournalSessions:
    """:class:`~callgate.ports.SessionRecords` and :class:`~callgate.ports.DisplayRecords` in
    the journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def find_session(self, digest: str) -> StoredSession | None:
        async with self.journal.transaction() as session:
            row = await session.get(SessionRow, digest)
            if row is None:
                return None
            if row.display and await session.get(DisplayRow, row.name) is None:
                # Its display was revoked (a row left by a write that raced the revoke): the
                # screen must not come back.
                await session.delete(row)
                return None
            return StoredSession(
                row.digest, row.name, row.display, row.created_at, row.last_seen, row.fingerprint
            )

    async def save_session(self, stored: StoredSession) -> None:
        require_aware(created=stored.created, last_seen=stored.last_seen)
        async with self.journal.transaction() as session:
            row = await session.get(SessionRow, stored.digest)
            seen = stored.last_seen
            if row is None:
                row = SessionRow(digest=stored.digest)
                session.add(row)
            else:  # an older sight landing late keeps the later one (touch_session says why)
                seen = max(seen, row.last_seen)
            row.name, row.display = stored.name, stored.display
            row.created_at, row.last_seen = stored.created, seen
            row.fingerprint = stored.fingerprint

    async def touch_session(self, digest: str, last_seen: datetime) -> bool:
        """A session's last sight; False (nothing written) when its row is gone: ended by a
        log-out, a revoke or a prune meanwhile, which an upsert would bring back.

        The row keeps the latest sight, whatever order writes land in: sights written in the
        background (several at once when the journal is slow) commit in no set order (SQLite's
        busy wait, a pool's connections, a failover's retries), and the last to commit used to
        win, leaving a busy session's row hours behind, to be judged idle after a restart. The
        comparison is in the one statement, so no other write can come between it and the
        update; the row still counts as found (True) when it already had a later sight."""
        require_aware(last_seen=last_seen)
        seen = literal(last_seen, UTCDateTime)
        latest = case((SessionRow.last_seen < seen, seen), else_=SessionRow.last_seen)
        async with self.journal.transaction() as session:
            result = await session.execute(
                update(SessionRow).where(SessionRow.digest == digest).values(last_seen=latest)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def drop_session(self, digest: str) -> None:
        async with self.journal.transaction() as session:
            await session.execute(delete(SessionRow).where(SessionRow.digest == digest))

    async def drop_sessions(self, name: str, *, display: bool) -> int:
        async with self.journal.transaction() as session:
            found = await session.execute(
                select(SessionRow.digest).where(
                    SessionRow.name == name, SessionRow.display == display
                )
            )
            digests = list(found.scalars())
            if digests:
                await session.execute(delete(SessionRow).where(SessionRow.digest.in_(digests)))
            return len(digests)

    async def prune_sessions(self, people_before: datetime, displays_before: datetime) -> int:
        """Forget the sessions last seen before their kind's limit (a browser closed without
        logging out leaves its row, which no request will end); how many."""
        require_aware(people_before=people_before, displays_before=displays_before)
        async with self.journal.transaction() as session:
            result = await session.execute(
                delete(SessionRow).where(
                    or_(
                        and_(SessionRow.display.is_(False), SessionRow.last_seen < people_before),
                        and_(SessionRow.display.is_(True), SessionRow.last_seen < displays_before),
                    )
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def add_display(self, name: str, digest: str, by: str, at: datetime) -> bool:
        """A new display; False (nothing stored) when one of that name exists."""
        require_aware(at=at)
        async with self.journal.transaction() as session:
            if await session.get(DisplayRow, name) is not None:
                return False
            session.add(DisplayRow(name=name, digest=digest, created_at=at, created_by=by))
            return True

    async def displays(self) -> list[DisplayInfo]:
        """Every display by name, with how many sessions it has open and when one was last
        seen (as of the last time it was written: a session's last sight is written at most
        once a minute)."""
        sessions = (
            select(
                SessionRow.name,
                func.count().label("open"),
                func.max(SessionRow.last_seen).label("seen"),
            )
            .where(SessionRow.display.is_(True))
            .group_by(SessionRow.name)
            .subquery()
        )
        query = (
            select(DisplayRow, sessions.c.open, sessions.c.seen)
            .outerjoin(sessions, sessions.c.name == DisplayRow.name)
            .order_by(DisplayRow.name)
        )
        async with self.journal.transaction() as session:
            rows = (await session.execute(query)).all()
        return [
            DisplayInfo(
                row.name,
                row.created_at,
                row.created_by,
                int(count or 0),
                seen,  # max() keeps the column's type: tz-aware UTC
            )
            for row, count, seen in rows
        ]

    async def display_of(self, digest: str) -> str | None:
        async with self.journal.transaction() as session:
            found = await session.execute(
                select(DisplayRow.name).where(DisplayRow.digest == digest)
            )
            return found.scalar_one_or_none()

    async def revoke_display(self, name: str) -> bool:
        async with self.journal.transaction() as session:
            row = await session.get(DisplayRow, name)
            if row is None:
                return False
            await session.delete(row)
            await session.execute(
                delete(SessionRow).where(SessionRow.name == name, SessionRow.display.is_(True))
            )
            return True
