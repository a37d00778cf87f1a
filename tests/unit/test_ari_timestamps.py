"""Asterisk's event stamps, parsed without ever raising."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.asterisk.timestamps import ari_moment_passed, ari_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T01:02:03.456+0000", dt.datetime(2026, 11, 23, 1, 2, 3, 456000, dt.UTC)),
        ("2026-11-23T08:02:03.456+0700", dt.datetime(2026, 11, 23, 1, 2, 3, 456000, dt.UTC)),
        ("2026-11-23T01:02:03+00:00", dt.datetime(2026, 11, 23, 1, 2, 3, tzinfo=dt.UTC)),
        ("2026-11-23T01:02:03.456Z", dt.datetime(2026, 11, 23, 1, 2, 3, 456000, dt.UTC)),
    ],
)
def test_ari_stamps_with_an_offset_become_epoch_seconds(text: str, expected: dt.datetime) -> None:
    assert ari_timestamp(text) == pytest.approx(expected.timestamp(), abs=1e-6)


@pytest.mark.parametrize(
    "value",
    [None, "", "yesterday", "2026-13-45T01:02:03+0000", "2026-11-23T01:02:03.456", 1.5, {}],
)
def test_missing_malformed_or_zoneless_stamps_are_none(value: object) -> None:
    assert ari_timestamp(value) is None


@given(st.one_of(st.text(), st.none(), st.integers(), st.floats()))
def test_never_raises(value: object) -> None:
    result = ari_timestamp(value)
    assert result is None or isinstance(result, float)


def test_a_hang_up_counts_from_the_end_of_its_stamped_millisecond() -> None:
    # ARI truncates to the millisecond: the wrap-up must not start up to 1 ms before the hang-up.
    stamp = "2026-11-23T01:02:03.456+0000"
    moment = ari_moment_passed(stamp)
    assert moment is not None
    assert moment == pytest.approx(dt.datetime(2026, 11, 23, 1, 2, 3, 457000, dt.UTC).timestamp())
    assert ari_moment_passed("yesterday") is None
