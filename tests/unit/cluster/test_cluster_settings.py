"""``[cluster]``: absent is a single callgate; a bad value names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgate.config import ConfigError, Settings, load_settings


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
