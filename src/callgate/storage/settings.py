"""The ``[storage]`` section: where the journal and the recordings live, and for how long."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    recordings_dir: Path = Path("./var/callgate/recordings")
    """Where finished call recordings are kept (relative to the working directory unless
    absolute); retention deletes only files inside this folder."""
    recording_retention_days: Annotated[int, Field(ge=1)] = 90
    """Days a recording is kept after it was finished, then deleted (the journal keeps its
    SHA-256 and size). Centres commonly keep 31 to 180 days; follow your regulator."""

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().partition("://")[0]
        if scheme not in SUPPORTED_DRIVERS:
            # Name the accepted schemes only: echoing the URL could print its password.
            raise ValueError(f"must start with {' or '.join(d + '://' for d in SUPPORTED_DRIVERS)}")
        return value
