"""The ``[storage]`` section: where the journal lives. (Recordings: the ``[recording]`` section.)"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = SecretStr("sqlite+aiosqlite:///./var/callgate/journal.db")
    """The journal's database as a SQLAlchemy URL. The default is a SQLite file under ``./var``
    relative to the daemon's working directory (created on first start), which needs no root;
    production sets an absolute path (``sqlite+aiosqlite:////var/lib/callgate/journal.db``) or
    PostgreSQL (``postgresql+asyncpg://user:password@host:5432/callgate``; prefer setting it with
    ``CALLGATE_STORAGE__URL`` so the password stays out of the file). Secret: never logged."""

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().partition("://")[0]
        if scheme not in SUPPORTED_DRIVERS:
            # Name the accepted schemes only: echoing the URL could print its password.
            raise ValueError(f"must start with {' or '.join(d + '://' for d in SUPPORTED_DRIVERS)}")
        return value
