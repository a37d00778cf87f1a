"""``[cluster]``: absent is a single callgate; a bad value names its key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from callgate.config import (
    ConfigError,
    Settings,
    load_settings,
    refuse_outside_lab,
    unsafe_outside_lab,
)
from callgate.storage.database import session_limits


def test_given_no_cluster_section_then_a_single_callgate() -> None:
    assert not Settings().cluster.enabled


def test_given_etcd_urls_then_clustered_and_trailing_slashes_dropped(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[cluster]\netcd = ["http://127.0.0.1:23791/"]\ncentre = "jakarta"\n')
    cluster = load_settings(file).cluster
    assert cluster.enabled
    assert cluster.etcd == ["http://127.0.0.1:23791"]


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('etcd = ["127.0.0.1:2379"]', "cluster.etcd"),
        ('etcd = ["http://user:pw@127.0.0.1:2379"]', "cluster.etcd"),
        ("lease_ttl = 1", "cluster.lease_ttl"),
        ('centre = "a/b"', "cluster.centre"),
    ],
)
def test_given_a_bad_cluster_value_then_start_up_stops_naming_the_key(
    tmp_path: Path, line: str, key: str
) -> None:
    file = tmp_path / "c.toml"
    file.write_text(f"[cluster]\n{line}\n")
    with pytest.raises(ConfigError, match=key) as caught:
        load_settings(file)
    assert "pw" not in str(caught.value)


def test_given_etcd_with_a_sqlite_journal_outside_the_lab_then_refused_naming_both_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each host would keep its own SQLite file: two records of one centre.
    monkeypatch.delenv("CALLGATE_LAB", raising=False)
    cluster = '[cluster]\netcd = ["http://127.0.0.1:2379"]\n'
    file = tmp_path / "c.toml"
    file.write_text(cluster + '[storage]\nurl = "sqlite+aiosqlite:///j.db"\n')
    keys = [line.split(":")[0] for line in unsafe_outside_lab(load_settings(file))]
    assert keys[-1] == "cluster.etcd"
    with pytest.raises(ConfigError, match=r"cluster\.etcd: set") as refused:
        refuse_outside_lab(load_settings(file))
    assert "storage.url" in str(refused.value)
    file.write_text(cluster + '[storage]\nurl = "postgresql+asyncpg://cg:secret@db/callgate"\n')
    assert not any("cluster" in line for line in unsafe_outside_lab(load_settings(file)))
    file.write_text("lab = true\n" + cluster)  # the lab: two callgates share one file
    assert unsafe_outside_lab(load_settings(file)) == []


@pytest.mark.parametrize(("ttl", "timeout"), [(2, 2 / 3), (3, 1.0), (30, 10.0)])
def test_given_a_lease_then_an_etcd_request_takes_at_most_a_third_of_it(
    ttl: int, timeout: float
) -> None:
    # A renewal (every third of the lease) must never outlast the lease it renews.
    settings = Settings.model_validate({"cluster": {"lease_ttl": ttl}})
    assert settings.cluster.request_timeout == pytest.approx(timeout)
    assert 0.5 <= settings.cluster.request_timeout <= ttl / 3


def test_given_a_cluster_then_its_journal_sessions_are_limited_to_the_lease_and_two_seconds() -> (
    None
):
    assert Settings().cluster.journal_session_limit is None  # a single callgate: no limit
    clustered = {"etcd": ["http://127.0.0.1:2379"], "lease_ttl": 3}
    assert Settings.model_validate({"cluster": clustered}).cluster.journal_session_limit == 5.0


async def test_given_a_session_limit_then_each_new_connection_sets_both_timeouts() -> None:
    # The statement runs on asyncpg's own connection, outside any transaction, so the pool's
    # rollback at check-in keeps it (tests/integration/test_journal_postgres.py on a server).
    sent: list[str] = []

    class _Asyncpg:
        async def execute(self, sql: str) -> None:
            sent.append(sql)

    class _Adapted:
        def run_async(self, fn: Callable[[_Asyncpg], Awaitable[None]]) -> None:
            ran.append(fn(_Asyncpg()))

    ran: list[Awaitable[None]] = []
    session_limits(5.0)(_Adapted(), None)
    await ran[0]
    assert sent == ["SET idle_in_transaction_session_timeout = 5000; SET lock_timeout = 5000"]
