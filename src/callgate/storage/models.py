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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CallRow(Base):
    """One 112 call, from the moment the daemon knew of it until it ended."""

    __tablename__ = "calls"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    caller: Mapped[str] = mapped_column(String(64), index=True)  # screening's history lookup
    caller_sent: Mapped[str] = mapped_column(String(64))
    dialed: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str | None] = mapped_column(String(32))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str | None] = mapped_column(String(128))
    #: The carrier's IMEI-derived identity of a SIM-less caller (keys their history), if sent.
    identity: Mapped[str | None] = mapped_column(String(96), index=True)

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
    trigger: Mapped[str] = mapped_column(String(64))

    call: Mapped[CallRow] = relationship(back_populates="transitions")


class AgentRow(Base):
    """A call-taker (or agency) involved in a call, once per role."""

    __tablename__ = "call_agents"
    __table_args__ = (UniqueConstraint("call_id", "agent_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.call_id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[str] = mapped_column(String(64))
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
