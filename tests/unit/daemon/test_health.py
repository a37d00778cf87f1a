from __future__ import annotations

import pytest

from callgate.daemon.health import Health
from tests.unit.daemon.conftest import Clock


def test_given_nothing_reported_then_not_ready_and_every_component_down() -> None:
    health = Health(clock=Clock())
    assert not health.ready
    assert health.missing() == ["ari", "ami"]
    assert health.degraded() == ["database"]
    assert all(not s.connected and s.since is None for s in health.snapshot().values())


def test_given_ari_ami_database_up_and_mqtt_down_then_ready() -> None:
    health = Health(clock=Clock())
    for name in ("ari", "ami", "database"):
        health.set(name, True)
    assert health.ready
    body = health.to_json()
    assert body["ready"] is True
    assert body["components"]["mqtt"] == {  # type: ignore[index]
        "connected": False,
        "required": False,
        "degrading": False,
        "since": None,
        "detail": None,
    }


def test_when_a_required_component_drops_then_not_ready_and_since_moves() -> None:
    clock = Clock()
    health = Health(clock=clock)
    for name in ("ari", "ami", "database"):
        health.set(name, True)
    clock.now = 1_010.0
    health.set("ami", True)  # a repeated report keeps the original time
    assert health.state("ami").since == 1_000.0
    clock.now = 1_020.0
    health.set("ami", False, "connection refused")
    assert not health.ready
    assert health.state("ami").since == 1_020.0
    assert health.state("ami").detail == "connection refused"
    assert health.missing() == ["ami"]


def test_when_the_database_drops_then_still_ready_but_degraded_since_then() -> None:
    # Calls are distributed without the database (its records wait in memory): taking calls,
    # and saying what waits.
    clock = Clock()
    health = Health(clock=clock)
    for name in ("ari", "ami", "database"):
        health.set(name, True)
    clock.now = 1_030.0
    health.set("database", False, "journal sqlite:///j.db unavailable: database is locked")
    assert health.ready
    body = health.to_json()
    assert body["ready"] is True
    assert body["degraded"] == ["database"]
    assert body["components"]["database"]["since"] == 1_030.0  # type: ignore[index]
    assert body["components"]["database"]["degrading"] is True  # type: ignore[index]
    clock.now = 1_090.0
    health.set("database", True)
    assert health.to_json()["degraded"] == []
    assert health.state("database").since == 1_090.0


def test_given_a_probe_then_its_value_is_read_at_each_question() -> None:
    clock = Clock()
    health = Health(clock=clock)
    flag = {"up": False}
    health.probe("ami", lambda: flag["up"])
    assert not health.state("ami").connected
    flag["up"] = True
    clock.now = 1_005.0
    assert health.state("ami").connected
    assert health.state("ami").since == 1_005.0


def test_when_stopping_then_not_ready_even_with_every_connection_up() -> None:
    health = Health(clock=Clock())
    for name in ("ari", "ami", "database", "mqtt"):
        health.set(name, True)
    health.begin_stopping()
    assert not health.ready
    assert health.to_json()["stopping"] is True


def test_given_an_unknown_component_then_key_error_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known"):
        Health().set("amqp", True)
