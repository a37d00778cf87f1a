"""``[centre] timezone`` (the centre's one zone, which the roster follows; ``[roster] timezone``
still read, deprecated), ``[wallboard]`` and ``[calltakers] names``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from callgate.config import ConfigError, Settings, load_settings
from callgate.daemon.reload import is_live


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "callgate.toml"
    path.write_text(text)
    return load_settings(path)


def test_by_default_the_centre_is_in_wib_and_the_roster_follows(tmp_path: Path) -> None:
    settings = load_settings(None)
    assert settings.centre.timezone == settings.roster.timezone == "WIB"
    assert settings.centre.zone.key == "Asia/Jakarta"


def test_the_roster_follows_the_centre_s_zone(tmp_path: Path) -> None:
    settings = load(tmp_path, '[centre]\ntimezone = "WITA"\n')
    assert settings.roster.timezone == "WITA"
    assert settings.centre.zone.key == "Asia/Makassar"


def test_the_old_roster_zone_is_read_with_a_deprecation_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="callgate.centre"):
        settings = load(tmp_path, '[roster]\ntimezone = "WIT"\n')
    assert settings.centre.timezone == "WIT"
    assert settings.centre.zone.key == "Asia/Jayapura"
    assert any("roster.timezone is deprecated" in r.getMessage() for r in caplog.records)


def test_the_same_zone_in_both_places_is_accepted_with_the_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="callgate.centre"):
        settings = load(
            tmp_path, '[centre]\ntimezone = "Asia/Makassar"\n[roster]\ntimezone = "WITA"\n'
        )
    assert settings.centre.zone.key == "Asia/Makassar"
    assert any("roster.timezone is deprecated" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            '[centre]\ntimezone = "WIT"\n[roster]\ntimezone = "WITA"\n',
            "centre.timezone = 'WIT' and roster.timezone = 'WITA' disagree",
        ),
        ('[centre]\ntimezone = "Mars/Olympus"\n', "centre.timezone: Value error, unknown"),
        ('[centre]\ntimezone = ""\n', "centre.timezone"),
        ('[centre]\nzone = "WIB"\n', "centre.zone: unknown key"),
        ("[wallboard]\nwarn_after = 20\nlate_after = 15\n", "late_after (15) must be above"),
        ("[wallboard]\nwarn_after = 0\n", "wallboard.warn_after"),
        ("[wallboard]\nsound_after = 0\n", "wallboard.sound_after"),
        ('[calltakers]\nnames = { "1009" = "Sari" }\n', "calltakers.names: '1009' is not"),
        ('[calltakers]\nnames = { "1001" = "" }\n', "calltakers.names.1001"),
    ],
)
def test_a_bad_zone_or_wallboard_key_is_named(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as caught:
        load(tmp_path, text)
    assert named in str(caught.value)


def test_the_wallboard_s_marks_sound_and_names_reach_the_page(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "[wallboard]\nwarn_after = 10\nlate_after = 30\nsound = true\nsound_after = 45\n"
        'sound_fallback = false\n[calltakers]\nnames = { "1001" = "Sari Dewi" }\n',
    )
    assert settings.wallboard.to_json() == {
        "marks": [10, 30],
        "sound": True,
        "sound_after": 45,
        "sound_fallback": False,
    }
    assert settings.calltakers.names == {"1001": "Sari Dewi"}


def test_the_environment_sets_the_centre_s_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLGATE_CENTRE__TIMEZONE", "WITA")
    settings = load_settings(None)
    assert settings.roster.timezone == "WITA"


def test_a_reload_applies_the_wallboard_but_the_zone_waits_for_a_restart() -> None:
    assert is_live("wallboard.sound")
    assert is_live("roster.shifts")
    assert not is_live("centre.timezone")
    assert not is_live("roster.timezone")


@pytest.mark.parametrize(
    "text", ["[roster]\ntimezone = 7\n", '[centre]\ntimezone = "WIT"\n[roster]\ntimezone = 7\n']
)
def test_a_roster_zone_that_is_not_a_name_is_named_not_replaced(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=r"roster\.timezone"):
        load(tmp_path, text)
