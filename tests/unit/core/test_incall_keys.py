"""A call-taker's keys during a call, decided by the core (#20): ``*<digit>`` three-way,
``#<digit>`` hand-off, ``**<digit>`` disposition, each digit within the sequence's timeout."""

from __future__ import annotations

import pytest
from conftest import Harness, of
from hypothesis import given
from hypothesis import strategies as st

from callgate.core import (
    AcdConfig,
    AcdConfigError,
    CallAgency,
    CallTakerKeyPressed,
    Command,
    SetDispositionByKey,
)


def keys(h: Harness, sequence: str, gap: float = 0.5, call_id: str = "c1") -> list[Command]:
    out: list[Command] = []
    for key in sequence:
        out += h.send(CallTakerKeyPressed(call_id, "a1", key), after=gap)
    return out


def test_given_star_then_a_digit_in_time_then_the_agency_is_called_three_way() -> None:
    h = Harness()
    assert keys(h, "*3") == [CallAgency("c1", "a1", "3", hand_off=False)]


def test_given_hash_then_a_digit_in_time_then_the_call_is_handed_off() -> None:
    assert keys(Harness(), "#7") == [CallAgency("c1", "a1", "7", hand_off=True)]


def test_given_star_star_then_a_digit_then_the_disposition_is_set() -> None:
    assert keys(Harness(), "**4") == [SetDispositionByKey("c1", "a1", "4")]


def test_given_a_digit_alone_or_after_the_timeout_then_nothing_happens() -> None:
    h = Harness()
    assert keys(h, "5") == []
    assert keys(h, "*3", gap=3.5) == []
    # The timeout is inclusive: a digit exactly at it still completes the sequence.
    assert keys(h, "*3", gap=3.0) == [CallAgency("c1", "a1", "3", hand_off=False)]


def test_given_a_second_star_too_late_then_it_starts_a_new_three_way_sequence() -> None:
    h = Harness()
    keys(h, "*")
    keys(h, "*", gap=4.0)
    assert keys(h, "2") == [CallAgency("c1", "a1", "2", hand_off=False)]


def test_given_star_then_hash_then_the_latest_prefix_counts() -> None:
    assert keys(Harness(), "*#1") == [CallAgency("c1", "a1", "1", hand_off=True)]
    assert keys(Harness(), "***1") == [CallAgency("c1", "a1", "1", hand_off=False)]


def test_given_a_sequence_on_one_call_then_a_digit_on_another_completes_nothing() -> None:
    h = Harness()
    keys(h, "*", call_id="c1")
    assert keys(h, "3", call_id="c2") == []
    assert keys(h, "3", call_id="c1") == [CallAgency("c1", "a1", "3", hand_off=False)]


def test_given_a_started_sequence_then_its_timeout_is_the_core_deadline_and_forgets_it() -> None:
    h = Harness(AcdConfig(key_sequence_timeout=2.0))
    keys(h, "#", gap=0.0)
    deadline = h.acd.next_deadline()
    assert deadline is not None
    assert h.now + 2.0 < deadline < h.now + 2.001
    h.advance(2.5)
    assert h.acd.next_deadline() is None
    assert keys(h, "1", gap=0.0) == []


def test_given_a_restarted_sequence_then_the_old_timer_is_stale() -> None:
    h = Harness()
    keys(h, "*", gap=0.0)
    keys(h, "#", gap=1.0)
    h.advance(2.5)  # the first sequence's timer fires: the second one is still on
    assert keys(h, "9", gap=0.0) == [CallAgency("c1", "a1", "9", hand_off=True)]


def test_given_a_timeout_not_positive_then_the_config_is_refused() -> None:
    with pytest.raises(AcdConfigError, match="key_sequence_timeout"):
        AcdConfig(key_sequence_timeout=0)


@given(st.lists(st.tuples(st.sampled_from("*#0123456789"), st.floats(0.0, 5.0)), max_size=30))
def test_any_keys_end_in_at_most_one_outcome_per_digit_and_only_after_a_prefix(
    pressed: list[tuple[str, float]],
) -> None:
    h = Harness()
    prefix, when = "", 0.0
    for key, gap in pressed:
        out = h.send(CallTakerKeyPressed("c1", "a1", key), after=gap)
        # The rule as the ARI adapter applied it before #20, on the same clock.
        if key in "*#":
            in_time = prefix == "*" and h.now - when <= 3.0
            prefix, when, expected = ("**" if key == "*" and in_time else key), h.now, []
        else:
            in_time = bool(prefix) and h.now - when <= 3.0
            expected = []
            if in_time and prefix == "**":
                expected = [SetDispositionByKey("c1", "a1", key)]
            elif in_time:
                expected = [CallAgency("c1", "a1", key, hand_off=prefix == "#")]
            prefix = ""
        assert out == expected
    assert len(of(CallAgency, h.log)) + len(of(SetDispositionByKey, h.log)) <= len(pressed)


def test_given_a_stale_timer_fired_by_the_driver_then_the_live_sequence_stays() -> None:
    h = Harness()
    keys(h, "*", gap=0.0)
    keys(h, "#", gap=1.0)
    # A driver that fires due timers without asking next_deadline() first meets the stale one.
    assert h.acd.handle_timer(h.now + 2.5) == []
    assert h.acd.handle(CallTakerKeyPressed("c1", "a1", "9"), h.now + 2.6) == [
        CallAgency("c1", "a1", "9", hand_off=True)
    ]
