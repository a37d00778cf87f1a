"""``callgate events`` follows the broker, site and user of the config, not lab defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from callgate.mqtt.subscriber import main, resolve


def args(**given: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "config": None, "host": None, "port": None, "site": None, "prefix": None,
        "username": None, "ca_file": None,
    }  # fmt: skip
    return argparse.Namespace(**(base | given))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callgate.toml"
    path.write_text(
        '[mqtt]\nhost = "broker.centre"\nport = 1883\nsite = "kendari"\n'
        'topic_prefix = "pusat/v1"\nusername = "callgate"\npassword = "from-the-file"\n'
    )
    return path


def test_given_a_config_then_events_follow_its_broker_site_and_user(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLGATE_MQTT__PASSWORD", raising=False)
    found = resolve(args(config=str(config)))
    assert (found.host, found.port, found.site, found.prefix) == (
        "broker.centre", 1883, "kendari", "pusat/v1"
    )  # fmt: skip
    assert (found.username, found.password, found.tls_context) == (
        "callgate", "from-the-file", None
    )  # fmt: skip


def test_given_options_then_they_win_over_the_config(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLGATE_MQTT__PASSWORD", "from-the-environment")
    found = resolve(args(config=str(config), host="127.0.0.1", port=11883, site="site1"))
    assert (found.host, found.port, found.site) == ("127.0.0.1", 11883, "site1")
    assert found.password == "from-the-environment"


def test_given_a_bad_config_then_events_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nport = 0\n")
    assert main(["--config", str(bad)]) == 2
    assert "mqtt.port" in capsys.readouterr().err
