"""The ``[cluster]`` section: whether this callgate is one of several for its centre.

Absent (no ``etcd`` URLs): one callgate, no etcd, nothing changes. With ``etcd`` URLs: one
leader per centre, elected through etcd; the others wait as warm standbys (issue #21).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class ClusterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    etcd: list[str] = Field(default_factory=list)
    """The etcd members' client URLs (``http://10.0.0.1:2379``, one per member, three in
    production). Empty (the default): a single callgate, no election."""

    centre: str = Field(default="callgate", pattern=_NAME)
    """The centre's name: one leader per centre, under the key ``/callgate/<centre>/leader``.
    Every callgate of one centre sets the same name."""

    node_name: str = Field(default="", pattern=r"^$|" + _NAME)
    """This callgate's name in the election (logs, the leader key's value). Empty: the host
    name and the process id."""

    lease_ttl: int = Field(default=3, ge=2, le=30)
    """Seconds the leader's lease lives without a renewal. A crashed leader's lease lapses
    after at most this long, and a standby takes over within about half a second more (a clean
    stop revokes it at once). The leader renews every third of it and stops commanding half a
    second before it could lapse."""

    @property
    def request_timeout(self) -> float:
        """Seconds one etcd request may take: a third of the lease (the leader renews every
        third), at least half a second, so a renewal never outlasts the lease it renews."""
        return max(0.5, self.lease_ttl / 3)

    @property
    def journal_session_limit(self) -> float | None:
        """Seconds a journal session may stay idle in a transaction or wait for a lock
        (PostgreSQL): ``lease_ttl + 2``, so an old leader paused mid-transaction holds the new
        leader's writes up no longer than its lease and a little more. None unclustered."""
        return float(self.lease_ttl + 2) if self.enabled else None

    @field_validator("etcd")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for index, url in enumerate(value):
            if "@" in url:
                # Never echoed: it may carry a password (callgate sends etcd none).
                raise ValueError(f"URL {index + 1} carries credentials; give http://host:port")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r}: give http://host:port or https://host:port")
        return [url.rstrip("/") for url in value]

    @property
    def enabled(self) -> bool:
        return bool(self.etcd)
