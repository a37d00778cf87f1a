"""Every prompt a caller or a call-taker hears is a config key whose default is a Bahasa Indonesia
file that scripts/make-prompts generates: a new key cannot ship without its Indonesian text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from callgate.asterisk.settings import SPOKEN_NUMBERS
from callgate.config import (
    PROMPT_DIR,
    AnnouncementSettings,
    CallTakerPrompts,
    Settings,
    Spoken,
    Tone,
)

REPO = Path(__file__).resolve().parents[2]

#: Core sounds without words, the same in every language: allowed as defaults of tone keys.
WORDLESS = {"beep", "beeperr"}


def _generated() -> set[str]:
    names = set()
    for line in (REPO / "sounds" / "prompts-id.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, text = line.partition("\t")
            assert text.strip(), f"{name} has no text in sounds/prompts-id.tsv"
            names.add(name)
    return names


def _keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, object, list[object]]]:
    """(dotted key, default, annotation metadata) of every key below ``model``."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _keys(annotation, f"{key}.")
        else:
            yield key, field.default, list(field.metadata)


PROMPTS = [(k, d) for k, d, meta in _keys(Settings) if any(isinstance(m, Spoken) for m in meta)]
TONES = [(k, d) for k, d, meta in _keys(Settings) if any(isinstance(m, Tone) for m in meta)]


def test_the_prompt_keys_are_found() -> None:
    keys = {k for k, _ in PROMPTS}
    assert {
        "call.greeting",
        "screening.warning",
        "screening.silent_prompt",
        "screening.blocking.announcement",
        "calltakers.prompts.login_ok",
        "calltakers.prompts.error",
        "announcements.position_prompt",
        "announcements.number_prompt",
    } <= keys
    assert {k for k, _ in TONES} == {
        "calltakers.prompts.in_call_disposition_ok",
        "calltakers.prompts.in_call_disposition_failed",
    }


@pytest.mark.parametrize(("key", "default"), PROMPTS, ids=[k for k, _ in PROMPTS])
def test_every_spoken_default_is_an_indonesian_file_that_make_prompts_generates(
    key: str, default: object
) -> None:
    assert isinstance(default, str)
    assert default, f"{key} has no default prompt"
    # A number's prompt names a file for each number said (1 .. SPOKEN_NUMBERS).
    spoken = [default.format(n=n) for n in range(1, SPOKEN_NUMBERS + 1)]
    for media in ",".join(spoken).split(","):
        match = re.fullmatch(rf"sound:{re.escape(PROMPT_DIR)}/([A-Za-z0-9_-]+)", media)
        assert match, f"{key} = {media!r} is not sound:{PROMPT_DIR}/<name> (an English sound?)"
        assert match.group(1) in _generated(), f"{key}: add {match.group(1)} to prompts-id.tsv"


@pytest.mark.parametrize(("key", "default"), TONES, ids=[k for k, _ in TONES])
def test_tone_defaults_have_no_words(key: str, default: object) -> None:
    assert isinstance(default, str)
    assert default.removeprefix("sound:") in WORDLESS, f"{key} = {default!r} is not a tone"


def test_every_sound_default_is_a_marked_prompt_or_tone() -> None:
    """A key added as a plain str with a sound default would escape the checks above."""
    marked = {k for k, _ in PROMPTS + TONES}
    unmarked = [
        k
        for k, d, _ in _keys(Settings)
        if isinstance(d, str) and d.startswith("sound:") and k not in marked
    ]
    assert not unmarked


def test_the_dialplan_plays_only_generated_callgate_prompts() -> None:
    dialplan = (REPO / "dialplan" / "extensions.conf").read_text()
    used = set(re.findall(rf"{re.escape(PROMPT_DIR)}/([A-Za-z0-9_-]+)", dialplan))
    assert "agent-error" in used
    assert used <= _generated()
    assert "something-terribly-wrong" not in dialplan


def test_a_feature_code_prompt_is_one_sound_file() -> None:
    # AGI STREAM FILE plays one file: an ARI media list would fail at the first *11.
    for bad in ("sound:a,sound:b", "custom/callgate/agent-login-ok", "sound:a b", ""):
        with pytest.raises(ValidationError):
            CallTakerPrompts(login_ok=bad)
    assert CallTakerPrompts(login_ok="sound:custom/masuk").login_ok == "sound:custom/masuk"


def test_the_numbers_prompt_takes_the_number_and_nothing_else() -> None:
    for bad in ("sound:custom/callgate/angka", "sound:angka-{m}", "sound:{0}", "sound:{n"):
        with pytest.raises(ValidationError):
            AnnouncementSettings(number_prompt=bad)
    custom = AnnouncementSettings(number_prompt="sound:custom/pusat/{n}")
    assert custom.number_prompt.format(n=7) == "sound:custom/pusat/7"
