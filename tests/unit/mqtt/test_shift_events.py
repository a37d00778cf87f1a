"""A shift's staffing on CAD's stream: retained per shift, its own seq, the alarm as a field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callgate.core.commands import ShiftStaffing
from callgate.mqtt.schema import EVENT_ADAPTER, ShiftStaffingEvent
from callgate.storage.journal import Journal
from tests.unit.mqtt.test_events import T0, publisher, rows, store


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


async def test_given_a_shift_short_handed_then_cad_gets_it_retained_on_the_shifts_topic(
    journal: Journal, tmp_path: Path
) -> None:
    p = publisher(journal)
    await p.notification(ShiftStaffing("pagi", 2, 1, False, True, T0))
    await p.notification(ShiftStaffing("pagi", 2, 1, True, True, T0 + 120))
    await p.notification(ShiftStaffing("pagi", 2, 1, False, False, T0 + 3600))
    await store(p)
    got = rows(tmp_path)
    assert [(r[0], r[1], r[2], r[3]) for r in got] == [
        ("callgate/v1/kendari/shifts/pagi/staffing", "shift:pagi", 1, True),
        ("callgate/v1/kendari/shifts/pagi/staffing", "shift:pagi", 2, True),
        ("callgate/v1/kendari/shifts/pagi/staffing", "shift:pagi", 3, True),
    ]
    alarm = EVENT_ADAPTER.validate_python(got[1][4])
    assert isinstance(alarm, ShiftStaffingEvent)
    assert (alarm.shift, alarm.rostered, alarm.logged_in, alarm.short_handed, alarm.on) == (
        "pagi",
        2,
        1,
        True,
        True,
    )
    assert got[2][4]["on"] is False
