"""The ``[storage]`` section: where the journal lives. (Recordings: the ``[recording]`` section.)"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = SecretStr("sqlite+aiosqlite:///./var/callgate/journal.db")
    """The journal's database as a SQLAlchemy URL. The default is a SQLite file under ``./var``
    relative to the daemon's working directory (created on first start), which needs no root;
    production sets an absolute path (``sqlite+aiosqlite:////var/lib/callgate/journal.db``) or
    PostgreSQL (``postgresql+asyncpg://user:password@host:5432/callgate``; prefer setting it with
    ``CALLGATE_STORAGE__URL`` so the password stays out of the file). Secret: never logged."""

    max_backlog: int = Field(default=100_000, ge=100, le=10_000_000)
    """Records each journal writer (calls' history, CAD events, callbacks) keeps in memory while
    the database is unavailable, in order, until it is back. A busy centre produces a few
    thousand a day, so the default outlasts any outage; beyond it records are dropped with an
    ALARM and counted in ``callgate_database_records_dropped_total``. At a stop during an
    outage they are kept in ``spool_dir`` and written at the next start."""

    retry_max_seconds: float = Field(default=30.0, ge=0.5, le=600.0)
    """Longest pause between two attempts at a record the database could not take. Attempts
    start 0.5 s apart and double up to this, so a database that is back is written to within
    this long."""

    spool_dir: str = "./var/callgate/spool"
    """Folder where each writer keeps, at a stop while the database is unavailable, the records
    it still holds (``journal.jsonl``, ``outbox.jsonl``, ``callbacks.jsonl``, mode 0640); the
    next start writes them before anything new and removes the file. Relative to the working
    directory like the default SQLite file; under systemd ``/var/lib/callgate/spool`` (the
    unit's ``StateDirectory``). Created (mode 0750) if missing; one that cannot be used is an
    ALARM at start, and records held at a stop are then lost (an ALARM says how many)."""

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().partition("://")[0]
        if scheme not in SUPPORTED_DRIVERS:
            # Name the accepted schemes only: echoing the URL could print its password.
            raise ValueError(f"must start with {' or '.join(d + '://' for d in SUPPORTED_DRIVERS)}")
        return value
