"""Screening: the decaying nuisance score, the graded response, optional blocking and its valve.

Every test gives the time explicitly (seconds); ``H`` is an hour, ``D`` a day.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.core import (
    AcdConfigError,
    BlockingPolicy,
    CallerHistory,
    Disposition,
    DispositionRecord,
    Priority,
    ScreeningPolicy,
    after_silence,
    e164,
    history_key,
    imei_identity,
    is_anonymous,
    normalise_number,
    nuisance_score,
    record_call,
    record_disposition,
    screen,
)

H = 3600.0
D = 86_400.0
T0 = 1_750_000_000.0
POLICY = ScreeningPolicy()
BLOCKING = ScreeningPolicy(blocking=BlockingPolicy())


def _history(*items: tuple[float, Disposition], key: str = "0812") -> CallerHistory:
    return CallerHistory(key, tuple(DispositionRecord(T0 + at, d) for at, d in items))


def _pranks(n: int, every: float = H) -> CallerHistory:
    return _history(*((k * every, Disposition.PRANK) for k in range(n)))


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "imei", "key"),
    [
        ("081234567890", None, "081234567890"),
        ("+6281234567890", None, "081234567890"),
        ("6281234567890", None, "081234567890"),
        ("0812-3456-7890", "35-209900-176148-1", "081234567890"),
        ("", "35-209900-176148-1", "imei:35-209900-176148-1"),
        ("anonymous", "3520990017614", "imei:3520990017614"),
        ("Restricted", None, None),
        ("", None, None),
        ("", "  ", None),
        ("112", None, "112"),
    ],
)
def test_history_key_uses_the_number_then_the_imei_and_never_merges_anonymous_callers(
    caller: str, imei: str | None, key: str | None
) -> None:
    assert history_key(caller, imei) == key


@pytest.mark.parametrize(
    ("headers", "identity"),
    [
        (
            ('<sip:ue@10.0.0.1>;+sip.instance="<urn:gsma:imei:35209900-176148-1>"',),
            "35209900176148",
        ),
        (("", '<sip:x@y>;+sip.instance="<URN:GSMA:IMEI:35209900-176148-0>"'), "35209900176148"),
        (("<urn:gsma:imei:35209900-176148>",), "35209900176148"),
        (("<sip:carrier@127.0.0.2:5070>",), None),
        (("urn:gsma:imei:3520-17",), None),
        (("urn:gsma:imei:3520990x-176148-1",), None),
        ((), None),
    ],
)
def test_imei_identity_comes_from_the_imei_urn_without_its_check_digit(
    headers: tuple[str, ...], identity: str | None
) -> None:
    assert imei_identity(*headers) == identity


@pytest.mark.parametrize(
    ("number", "expected"),
    [("081234567", "+6281234567"), ("+6281234567", "+6281234567"), ("0x1", "0x1"), ("", "")],
)
def test_e164_writes_national_numbers_as_the_dialplan_does(number: str, expected: str) -> None:
    assert e164(number) == expected


def test_withheld_and_simless_numbers_are_anonymous_and_real_numbers_are_not() -> None:
    assert is_anonymous("")
    assert is_anonymous("unknown")
    assert is_anonymous("---")
    assert not is_anonymous("+62 812 3456")
    assert normalise_number("62812") == "62812"  # too short to be a mobile with country code


# -- the score -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "at", "score"),
    [
        (_history(), 0.0, 0.0),
        (_pranks(1), 0.0, 1.0),
        (_pranks(1), 3 * D, 0.5),
        (_pranks(1), 6 * D, 0.25),
        (_history((0, Disposition.GHOST)), 0.0, 0.5),
        (_pranks(2, every=0.0), 3 * D, 1.0),
        (_history((0, Disposition.PRANK), (3 * D, Disposition.PRANK)), 3 * D, 1.5),
        (_history((0, Disposition.INFORMATION), (0, Disposition.TEST)), 0.0, 0.0),
        (_history((0, Disposition.WRONG_NUMBER)), 0.0, 0.0),
        (_history((0, Disposition.PRANK), (H, Disposition.GENUINE)), H, 0.0),
        # Genuine never banks credit: a prank after it counts in full.
        (_history((0, Disposition.GENUINE), (H, Disposition.PRANK)), H, 1.0),
        # A disposition recorded after ``now`` does not count yet.
        (_pranks(1), -1.0, 0.0),
    ],
)
def test_score_adds_weights_halves_every_half_life_and_genuine_forgives(
    history: CallerHistory, at: float, score: float
) -> None:
    assert nuisance_score(history.dispositions, T0 + at, POLICY) == pytest.approx(score)


def test_partial_forgiveness_keeps_the_rest_of_the_score() -> None:
    policy = ScreeningPolicy(forgiveness=0.25)
    history = _history((0, Disposition.PRANK), (0, Disposition.PRANK), (0, Disposition.GENUINE))
    assert nuisance_score(history.dispositions, T0, policy) == pytest.approx(1.5)


def test_history_loaded_out_of_order_is_scored_in_time_order() -> None:
    records = (
        DispositionRecord(T0 + H, Disposition.PRANK),
        DispositionRecord(T0, Disposition.GENUINE),
    )
    assert nuisance_score(CallerHistory("0812", records).dispositions, T0 + H, POLICY) == 1.0


# -- the graded response ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "at", "tag", "warn", "priority", "category"),
    [
        (None, 0, "", False, Priority.NORMAL, ""),
        (_history(), 0, "", False, Priority.NORMAL, ""),
        (_pranks(1), H, "PRANK x1", False, Priority.NORMAL, "repeat-nuisance"),
        (_pranks(1), 4 * D, "", False, Priority.NORMAL, ""),
        (_pranks(2), 2 * H, "PRANK x2", True, Priority.NORMAL, "repeat-nuisance"),
        (_pranks(3), 3 * H, "PRANK x3", True, Priority.NUISANCE, "repeat-nuisance"),
        (
            _history(
                *((0, Disposition.PRANK),) * 2, (0, Disposition.GHOST), (H, Disposition.GHOST)
            ),
            H,
            "PRANK x2 GHOST x2",
            True,
            Priority.NUISANCE,
            "repeat-nuisance",
        ),
        # Three pranks a week ago: still tagged, no longer warned or moved down.
        (_pranks(3), 7 * D, "PRANK x3", False, Priority.NORMAL, "repeat-nuisance"),
        # The real emergency of yesterday's prankster is queued as any other call.
        (
            _history(*((0, Disposition.PRANK),) * 5, (D, Disposition.GENUINE)),
            D + H,
            "",
            False,
            Priority.NORMAL,
            "",
        ),
    ],
)
def test_screen_grades_the_response_tag_then_warn_then_lower_class(
    history: CallerHistory | None,
    at: float,
    tag: str,
    warn: bool,
    priority: int,
    category: str,
) -> None:
    decision = screen(history, T0 + at, POLICY, anonymous=False)
    assert (decision.tag, decision.warn, decision.priority, decision.category) == (
        tag,
        warn,
        priority,
        category,
    )
    assert not decision.blocked
    assert not decision.valve


def test_heavy_old_score_with_no_disposition_in_the_tag_window_is_tagged_nuisance() -> None:
    policy = ScreeningPolicy(prank_weight=100.0, tag_window=D)
    decision = screen(_pranks(1), T0 + 2 * D, policy, anonymous=False)
    assert decision.tag == "NUISANCE"


@pytest.mark.parametrize(
    ("history", "tag", "category"),
    [
        (None, "ANON", "anonymous"),
        (_history(key="imei:35"), "ANON", "anonymous"),
        (_pranks(3), "ANON PRANK x3", "repeat-nuisance"),
    ],
)
def test_anonymous_calls_have_their_own_category_and_no_penalty_without_history(
    history: CallerHistory | None, tag: str, category: str
) -> None:
    decision = screen(history, T0 + 3 * H, POLICY, anonymous=True)
    assert (decision.tag, decision.category) == (tag, category)


def test_caller_name_puts_the_tag_before_the_number() -> None:
    assert screen(_pranks(1), T0, POLICY, anonymous=False).caller_name("0812") == "PRANK x1 0812"
    assert screen(None, T0, POLICY, anonymous=False).caller_name("0812") == "0812"


# -- blocking --------------------------------------------------------------------------------


def _blocked(at: float = 0.0, duration: float = D) -> CallerHistory:
    return _pranks(1).with_block(T0 + at, duration, "supervisor-2", "pranks all night")


def test_a_manual_block_is_ignored_when_blocking_is_not_configured() -> None:
    decision = screen(_blocked(), T0 + H, POLICY, anonymous=False)
    assert not decision.blocked
    assert decision.category == "repeat-nuisance"


def test_a_blocked_number_is_rejected_when_blocking_is_configured() -> None:
    decision = screen(_blocked(), T0 + H, BLOCKING, anonymous=False)
    assert decision.blocked
    assert (decision.tag, decision.category) == ("BLOCKED PRANK x1", "blocked")


def test_a_block_ends_by_itself_after_its_duration() -> None:
    assert not screen(_blocked(), T0 + D, BLOCKING, anonymous=False).blocked


def test_unblock_lifts_the_block_and_keeps_the_audit_trail() -> None:
    history = _blocked().unblocked(T0 + H, "supervisor-1", "mother called, child's phone")
    assert not screen(history, T0 + 2 * H, BLOCKING, anonymous=False).blocked
    (block,) = history.blocks
    assert (block.by, block.reason, block.lifted_by, block.lift_reason) == (
        "supervisor-2",
        "pranks all night",
        "supervisor-1",
        "mother called, child's phone",
    )
    # Lifting again changes nothing: the block is no longer active.
    assert history.unblocked(T0 + 3 * H, "x", "y") == history


def test_the_valve_puts_a_blocked_number_through_on_its_third_call_in_ten_minutes() -> None:
    history = _blocked()
    decisions = []
    for minute in (10, 12, 14):
        now = T0 + H + minute * 60
        decisions.append(screen(history, now, BLOCKING, anonymous=False))
        history = record_call(history, now, BLOCKING)
    assert [d.blocked for d in decisions] == [True, True, False]
    last = decisions[-1]
    assert (last.valve, last.priority, last.category, last.tag) == (
        True,
        Priority.NORMAL,
        "blocked-valve",
        "VALVE PRANK x1",
    )


def test_calls_spread_wider_than_the_valve_window_stay_blocked() -> None:
    history = _blocked()
    for minute in (0, 11, 22):
        now = T0 + H + minute * 60
        decision = screen(history, now, BLOCKING, anonymous=False)
        history = record_call(history, now, BLOCKING)
        assert decision.blocked
    assert len(history.calls) == 1  # only what the valve needs is kept


def test_record_call_keeps_nothing_when_blocking_is_off() -> None:
    assert record_call(_history(), T0, POLICY).calls == ()


def test_a_prank_that_lifts_the_score_to_the_threshold_places_an_audited_automatic_block() -> None:
    history = _pranks(3, every=0.0)
    history = record_disposition(
        history, DispositionRecord(T0, Disposition.PRANK, "c9"), BLOCKING, by="op-4"
    )
    (block,) = history.blocks
    assert (block.at, block.until, block.by) == (T0, T0 + D, "auto")
    assert "prank" in block.reason
    assert "c9" in block.reason
    assert "op-4" in block.reason
    # Another prank while blocked does not stack a second block.
    again = record_disposition(history, DispositionRecord(T0 + 1, Disposition.PRANK), BLOCKING)
    assert len(again.blocks) == 1
    assert screen(again, T0 + H, BLOCKING, anonymous=False).blocked


@pytest.mark.parametrize(
    ("policy", "disposition"),
    [
        (POLICY, Disposition.PRANK),
        (ScreeningPolicy(blocking=BlockingPolicy(score_threshold=None)), Disposition.PRANK),
        (BLOCKING, Disposition.GENUINE),
        (BLOCKING, Disposition.INFORMATION),
    ],
)
def test_no_automatic_block_without_configured_threshold_or_for_non_nuisance(
    policy: ScreeningPolicy, disposition: Disposition
) -> None:
    history = record_disposition(_pranks(10, every=0.0), DispositionRecord(T0, disposition), policy)
    assert history.blocks == ()
    assert len(history.dispositions) == 11


def test_a_prank_below_the_block_threshold_places_no_block() -> None:
    history = record_disposition(_history(), DispositionRecord(T0, Disposition.PRANK), BLOCKING)
    assert history.blocks == ()


def test_the_active_block_is_the_one_that_ends_last() -> None:
    history = _blocked(duration=H).with_block(T0, 2 * H, "s", "longer")
    block = history.active_block(T0 + 1)
    assert block is not None
    assert block.reason == "longer"


# -- silent calls ----------------------------------------------------------------------------


def test_a_key_press_raises_a_silent_call_and_silence_lowers_it_but_keeps_it() -> None:
    pressed = after_silence(True, POLICY)
    silent = after_silence(False, POLICY)
    assert (pressed.priority, pressed.category) == (Priority.CALLBACK, "silent-key-pressed")
    assert (silent.priority, silent.category, silent.tag) == (Priority.NUISANCE, "ghost", "SILENT")


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"half_life": 0}, "half_life"),
        ({"prank_weight": -1}, "weights"),
        ({"ghost_weight": -0.1}, "weights"),
        ({"forgiveness": 1.5}, "forgiveness"),
        ({"tag_threshold": 0}, "tag_threshold"),
        ({"warn_threshold": -1}, "warn_threshold"),
        ({"deprioritise_threshold": 0}, "deprioritise_threshold"),
        ({"tag_window": 0}, "tag_window"),
    ],
)
def test_impossible_screening_policy_is_refused_with_the_key_named(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(AcdConfigError, match=message):
        ScreeningPolicy(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration": 0}, "duration"),
        ({"score_threshold": 0}, "score_threshold"),
        ({"valve_calls": 0}, "valve_calls"),
        ({"valve_window": 0}, "valve_window"),
    ],
)
def test_impossible_blocking_policy_is_refused_with_the_key_named(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(AcdConfigError, match=message):
        BlockingPolicy(**kwargs)


def test_a_block_without_duration_is_refused() -> None:
    with pytest.raises(AcdConfigError, match="duration"):
        _history().with_block(T0, 0, "s", "r")


# -- properties ------------------------------------------------------------------------------

dispositions = st.lists(
    st.tuples(st.floats(0, 30 * D), st.sampled_from(list(Disposition))), max_size=30
).map(lambda items: _history(*items))
policies = st.builds(
    ScreeningPolicy,
    half_life=st.floats(60.0, 30 * D),
    prank_weight=st.floats(0.0, 5.0),
    ghost_weight=st.floats(0.0, 5.0),
    forgiveness=st.floats(0.0, 1.0),
    blocking=st.none() | st.builds(BlockingPolicy, valve_calls=st.integers(1, 5)),
)


@given(dispositions, policies, st.floats(0, 60 * D))
def test_the_score_is_never_negative(
    history: CallerHistory, policy: ScreeningPolicy, at: float
) -> None:
    assert nuisance_score(history.dispositions, T0 + at, policy) >= 0.0


@given(dispositions, policies, st.floats(0, 30 * D), st.floats(0, 30 * D))
def test_without_new_dispositions_the_score_only_decays(
    history: CallerHistory, policy: ScreeningPolicy, later: float, gap: float
) -> None:
    start = T0 + 30 * D  # after every disposition
    first = nuisance_score(history.dispositions, start + later, policy)
    second = nuisance_score(history.dispositions, start + later + gap, policy)
    assert second <= first


@given(dispositions, st.floats(0, 30 * D), st.booleans())
def test_nothing_is_ever_blocked_when_blocking_is_off(
    history: CallerHistory, at: float, anonymous: bool
) -> None:
    history = history.with_block(T0, 60 * D, "s", "r")
    for k in range(5):
        history = record_call(history, T0 + at + k, POLICY)
    decision = screen(history, T0 + at + 5, POLICY, anonymous=anonymous)
    assert not decision.blocked


@given(
    dispositions,
    st.integers(1, 6),
    st.floats(1.0, 3600.0),
    st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6),
)
def test_the_valve_always_lets_the_nth_call_within_the_window_through(
    history: CallerHistory, calls: int, window: float, spread: list[float]
) -> None:
    policy = ScreeningPolicy(blocking=BlockingPolicy(valve_calls=calls, valve_window=window))
    history = history.with_block(T0, 60 * D, "s", "r")
    # ``calls`` calls, all within one window that ends with the last of them.
    times = sorted(T0 + D + f * window * 0.999 for f in spread[:calls])
    for at in times[:-1]:
        history = record_call(history, at, policy)
    decision = screen(history, times[-1], policy, anonymous=False)
    assert not decision.blocked
    assert decision.valve
