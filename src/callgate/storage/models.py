"""The journal's tables as SQLAlchemy ORM models; the migrations in ``migrations/versions`` must
create exactly this schema (a unit test compares the two, so a model change without a migration
fails CI).

Times are stored in UTC. SQLite has no time-zone type and would hand back naive datetimes, so
every time column goes through :class:`UTCDateTime`, which refuses naive input and always returns
tz-aware UTC.

States, triggers, outcomes and roles are plain strings (the core's enum values): the journal
records what the daemon reports and never needs to import the core.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

log = logging.getLogger(__name__)

#: Width of columns that hold text a carrier or a client sends (caller IDs, identities, names of
#: who did something): generous, because a value that does not fit would cost the whole row.
#: Columns that are indexed stay bounded (a PostgreSQL B-tree entry must fit in a third of a page).
WIDE = 255
#: What replaces the tail of a value clipped to its column.
CLIP_MARKER = "…"

# Named constraints let later migrations alter them on SQLite (batch mode needs the names) and
# keep the names identical on PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC that always reads back tz-aware (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive time is ambiguous (local? UTC?); guessing would corrupt the record.
            raise ValueError(f"naive datetime {value.isoformat()} given to the journal")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Clipped(TypeDecorator[str]):
    """A bounded text column that clips an over-long value (keeping its width, ending in
    :data:`CLIP_MARKER`, with a warning) instead of letting the database refuse the row.

    The journal must never lose a call's start because a carrier sent a longer caller ID than
    anyone expected; a clipped field is a smaller loss than a missing call. In the database it
    is plain ``VARCHAR(length)``."""

    impl = String
    cache_ok = True

    def __init__(self, length: int, name: str) -> None:
        super().__init__(length)
        self.length = length
        self.name = name

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or len(value) <= self.length:
            return value
        # The value itself stays out of the log: it may be a caller's number, and is long.
        log.warning(
            "value longer than its column clipped",
            extra={"column": self.name, "length": len(value), "width": self.length},
        )
        return value[: self.length - len(CLIP_MARKER)] + CLIP_MARKER


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CallRow(Base):
    """One 112 call, from the moment the daemon knew of it until it ended."""

    __tablename__ = "calls"
    #: An inquiry's search by call-taker, newest first (migration 0007).
    __table_args__ = (Index("ix_calls_answered_by_started_at", "answered_by", "started_at"),)

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: Indexed: screening looks up the caller's history by it.
    caller: Mapped[str] = mapped_column(Clipped(WIDE, "calls.caller"), index=True)
    #: The caller ID exactly as the carrier sent it: any length, never clipped.
    caller_sent: Mapped[str] = mapped_column(Text)
    dialed: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(Clipped(64, "calls.category"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str | None] = mapped_column(String(32))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(Clipped(WIDE, "calls.answered_by"))
    destination: Mapped[str | None] = mapped_column(Clipped(WIDE, "calls.destination"))
    #: The carrier's IMEI-derived identity of a SIM-less caller (keys their history), if sent.
    identity: Mapped[str | None] = mapped_column(Clipped(WIDE, "calls.identity"), index=True)

    transitions: Mapped[list[TransitionRow]] = relationship(
        back_populates="call", order_by="TransitionRow.id", cascade="all, delete-orphan"
    )
    agents: Mapped[list[AgentRow]] = relationship(
        back_populates="call", order_by="AgentRow.id", cascade="all, delete-orphan"
    )
    recording: Mapped[RecordingRow | None] = relationship(
        back_populates="call", cascade="all, delete-orphan"
    )


class TransitionRow(Base):
    """One state change of a call, in the order the daemon reported them."""

    __tablename__ = "call_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.call_id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(Clipped(64, "call_transitions.trigger"))

    call: Mapped[CallRow] = relationship(back_populates="transitions")


class AgentRow(Base):
    """A call-taker (or agency, or a supervisor's step) involved in a call, once per role."""

    __tablename__ = "call_agents"
    __table_args__ = (UniqueConstraint("call_id", "agent_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.call_id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[str] = mapped_column(Clipped(WIDE, "call_agents.agent_id"))
    role: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    call: Mapped[CallRow] = relationship(back_populates="agents")


class RecordingRow(Base):
    """The call's recording file (one per call): where it is, its SHA-256, and its fate."""

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_status_at", "status", "at"),)

    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_s: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    call: Mapped[CallRow] = relationship(back_populates="recording")


class FenceRow(Base):
    """The one row holding the epoch of the newest leader that claimed the journal (#21): a
    write from an older epoch is refused in its own transaction. Epoch 0: never claimed (a
    single callgate, which never checks it)."""

    __tablename__ = "fence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)
