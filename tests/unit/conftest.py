"""Checks every unit test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.asterisk.recorded_ari import RecordedAri


@pytest.fixture(autouse=True)
def _every_ari_request_is_recorded() -> Iterator[None]:
    """A test on the recorded ARI fake asks only what the lab's recordings answer: a request of
    another shape means a scenario to record (tests/fixtures/ari/README.md), not a 500 to
    ignore."""
    first = len(RecordedAri.made)
    yield
    fakes = RecordedAri.made[first:]
    del RecordedAri.made[first:]
    unexpected = [request for fake in fakes for request in fake.unexpected]
    assert unexpected == [], f"ARI requests no recording answers: {unexpected}"
