"""``[roster]``, ``[acd] aging_seconds`` and the strategies a 112 centre may configure."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from callgate.config import ConfigError, acd_config, load_settings

THREE_SHIFTS = """
[roster]
timezone = "WITA"
out_of_hours = ["PJSIP/neighbour"]
alarm_grace = 30

[[roster.shifts]]
name = "pagi"
start = "07:00"
end = "15:00"
calltakers = ["1001", "1002"]

[[roster.shifts]]
name = "siang"
start = "15:00"
end = "23:00"
days = ["mon", "tue", "wed", "thu", "fri"]
head_count = 1

[[roster.shifts]]
name = "malam"
start = "23:00"
end = "07:00"
calltakers = ["1003"]

[[roster.exceptions]]
date = 2026-08-17
shifts = ["siang"]
off = true

[[roster.exceptions]]
date = 2026-08-18
calltakers = ["1004"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callgate.toml"
    path.write_text(text)
    return path


def test_a_three_shift_roster_reaches_the_core(tmp_path: Path) -> None:
    config = acd_config(load_settings(write(tmp_path, THREE_SHIFTS)))
    roster = config.roster
    assert roster is not None
    assert roster.timezone == "WITA"
    assert roster.logout_off_roster is True
    assert roster.alarm_grace == 30.0
    pagi, siang, malam = roster.shifts
    assert (pagi.name, pagi.start, pagi.end, pagi.agents) == (
        "pagi",
        dt.time(7),
        dt.time(15),
        frozenset({"1001", "1002"}),
    )
    assert siang.weekdays == frozenset(range(5))
    assert siang.head_count == 1
    assert siang.off_dates == {dt.date(2026, 8, 17)}
    assert pagi.off_dates == frozenset()
    # An exception without shifts is about every shift.
    assert malam.agents_by_date == ((dt.date(2026, 8, 18), frozenset({"1004"})),)
    assert config.out_of_hours_destinations == ("PJSIP/neighbour", "fallback-queue")


def test_without_shifts_there_is_no_roster_and_out_of_hours_is_the_overflow() -> None:
    config = acd_config(load_settings(None))
    assert config.roster is None
    assert config.out_of_hours_destinations == ()
    assert config.aging_interval is None


def test_a_roster_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    shifts = [{"name": "pagi", "start": "07:00", "end": "15:00", "calltakers": ["1001"]}]
    monkeypatch.setenv("CALLGATE_ROSTER__SHIFTS", json.dumps(shifts))
    monkeypatch.setenv("CALLGATE_ROSTER__TIMEZONE", "Asia/Makassar")
    monkeypatch.setenv("CALLGATE_ROSTER__LOGOUT_WHEN_OFF_ROSTER", "false")
    roster = acd_config(load_settings(None)).roster
    assert roster is not None
    assert [s.name for s in roster.shifts] == ["pagi"]
    assert roster.logout_off_roster is False


def test_aging_seconds_reaches_the_core(tmp_path: Path) -> None:
    config = acd_config(load_settings(write(tmp_path, "[acd]\naging_seconds = 45\n")))
    assert config.aging_interval == 45


SHIFT = '[[roster.shifts]]\nname = "pagi"\nstart = "07:00"\nend = "15:00"\n'


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[acd]\nstrategy = "skills"\n', "acd.strategy: Value error, skills is not offered"),
        ("[acd]\naging_seconds = 0\n", "acd.aging_seconds"),
        ('[roster]\ntimezone = "Mars/Olympus"\n', "roster.timezone"),
        (SHIFT.replace("07:00", "7am"), "roster.shifts.0.start"),
        (SHIFT.replace("15:00", "24:30"), "roster.shifts.0.end"),
        (SHIFT + 'days = ["monday"]\n', "roster.shifts.0.days.0"),
        (SHIFT + "head_count = 0\n", "roster.shifts.0.head_count"),
        (SHIFT + 'name2 = "x"\n', "roster.shifts.0.name2: unknown key"),
        (SHIFT + SHIFT, "roster.shifts: Value error, two shifts are named 'pagi'"),
        (SHIFT + 'calltakers = ["1099"]\n', "shifts.0.calltakers: '1099' is not in calltakers"),
        (
            SHIFT + '[[roster.exceptions]]\ndate = 2026-08-17\nshifts = ["sore"]\noff = true\n',
            "exceptions.0.shifts: no shift is named 'sore'",
        ),
        (
            SHIFT + "[[roster.exceptions]]\ndate = 2026-08-17\n",
            "exceptions.0: give either off = true or calltakers",
        ),
        (
            SHIFT + '[[roster.exceptions]]\ndate = 2026-08-17\ncalltakers = ["1099"]\n',
            "exceptions.0.calltakers: '1099' is not in calltakers",
        ),
        (SHIFT + "[[roster.exceptions]]\ndate = 2026-02-30\noff = true\n", "Invalid date"),
    ],
)
def test_a_bad_roster_or_strategy_is_refused_naming_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_settings(write(tmp_path, text))
