"""The simulated world answers the core as Asterisk and callers would: the silent-caller
prompt, the warning, blocking and its valve, callbacks, the roster; and ``--recommend``."""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.core import (
    AcdConfig,
    BlockingPolicy,
    CallbackPolicy,
    CallState,
    Roster,
    ScreeningPolicy,
    Shift,
    SilencePolicy,
)
from callgate.tools import simulator
from callgate.tools.simulator import recommend as rec
from callgate.tools.simulator.results import genuine_report
from callgate.tools.simulator.simulation import Callers, Outcome, Simulation
from callgate.tools.simulator.traffic import THREE_SHIFTS, ShiftSpec, TraceCall

G, P = "genuine", "prank"
PRANKSTER = "085700000001"


def _sim(
    calls: Sequence[TraceCall],
    *,
    config: AcdConfig | None = None,
    screening: ScreeningPolicy | None = None,
    callers: Callers | None = None,
    agents: int | None = 1,
    shifts: Sequence[ShiftSpec] = (),
    patience: float = 1e9,
    start: float = 0.0,
) -> tuple[Simulation, Outcome]:
    sim = Simulation(
        config or AcdConfig(wrap_up_time=0.0, max_wait=None),
        calls,
        start=start,
        agents=agents,
        shifts=shifts,
        rng=random.Random(5),
        patience=patience,
        answer_delay=1.0,
        no_answer_share=0.0,
        screening=screening,
        callers=callers or Callers(),
    )
    return sim, sim.run()


def _answer_order(outcome: Outcome) -> list[str]:
    answered = [r for r in outcome.records if r.answered_at is not None]
    return [r.call_id for r in sorted(answered, key=lambda r: r.answered_at or 0.0)]


WATCHED = AcdConfig(wrap_up_time=0.0, max_wait=None, silence=SilencePolicy())


# -- the silent-caller prompt ------------------------------------------------------------------


def test_given_a_ghost_waiting_when_prompted_it_stays_silent_and_waits_behind_a_later_caller() -> (
    None
):
    calls = [
        TraceCall(1.0, 120.0, "081100000001", G),  # takes the only call-taker
        TraceCall(5.0, 10.0, "087800000001", "ghost"),  # silent through the prompt
        TraceCall(40.0, 30.0, "081100000002", G),  # speaks; arrives after the ghost
    ]
    _, outcome = _sim(calls, config=WATCHED)
    assert outcome.prompted == 1
    assert _answer_order(outcome) == ["call-0", "call-2", "call-1"]
    _, unwatched = _sim(calls)
    assert unwatched.prompted == 0
    assert _answer_order(unwatched) == ["call-0", "call-1", "call-2"]


def test_given_talking_callers_waiting_then_nobody_is_prompted() -> None:
    calls = [TraceCall(1.0, 200.0, "081100000001", G), TraceCall(5.0, 30.0, "081100000002", G)]
    _, outcome = _sim(calls, config=WATCHED, callers=Callers(cannot_speak=0.0))
    assert outcome.prompted == 0
    assert _answer_order(outcome) == ["call-0", "call-1"]


def test_given_a_genuine_caller_who_cannot_speak_when_prompted_the_key_puts_them_first() -> None:
    calls = [
        TraceCall(1.0, 120.0, "081100000001", "information"),
        TraceCall(5.0, 30.0, "081100000002", "information"),  # waits, speaks
        TraceCall(10.0, 30.0, "081100000003", G),  # cannot speak: presses a key when asked
    ]
    _, outcome = _sim(calls, config=WATCHED, callers=Callers(cannot_speak=1.0))
    assert outcome.prompted == 1
    assert _answer_order(outcome) == ["call-0", "call-2", "call-1"]


# -- the warning ------------------------------------------------------------------------------


def _pranks_then(last: TraceCall) -> list[TraceCall]:
    # Two answered pranks (dispositions at the end of each) make a third call a warned one.
    return [TraceCall(1.0, 10.0, PRANKSTER, P), TraceCall(60.0, 10.0, PRANKSTER, P), last]


def test_given_a_warned_prankster_who_is_deterred_then_they_hang_up_during_the_warning() -> None:
    calls = [*_pranks_then(TraceCall(120.0, 10.0, PRANKSTER, P))]
    calls.insert(2, TraceCall(100.0, 300.0, "081100000001", G))  # the call-taker is busy
    callers = Callers(warning_deters=1.0)
    _, outcome = _sim(calls, screening=ScreeningPolicy(), callers=callers)
    assert outcome.deterred == 1
    last = next(r for r in outcome.records if r.call_id == "call-3")
    assert last.outcome is CallState.ABANDONED
    assert last.ended_at - last.arrived_at <= callers.warning_length


def test_given_a_warned_genuine_caller_then_the_warning_changes_nothing() -> None:
    calls = _pranks_then(TraceCall(120.0, 10.0, PRANKSTER, G))
    _, outcome = _sim(calls, screening=ScreeningPolicy(), callers=Callers(warning_deters=1.0))
    assert outcome.deterred == 0
    assert genuine_report(outcome, calls).answered_within[15] == 100.0


# -- blocking and its valve -------------------------------------------------------------------

BLOCKING = ScreeningPolicy(blocking=BlockingPolicy(score_threshold=1.0, announcement="diblokir"))


def test_given_a_blocked_genuine_caller_who_calls_again_then_the_valve_puts_them_through() -> None:
    # One prank blocks the number; an emergency from it 1,000 s later is blocked twice, then
    # the third call within the valve's window gets through.
    calls = [TraceCall(1.0, 10.0, PRANKSTER, P), TraceCall(1000.0, 60.0, PRANKSTER, G)]
    callers = Callers(redial_after=5.0)
    _, outcome = _sim(calls, screening=BLOCKING, callers=callers)
    assert sorted(outcome.blocked) == ["call-1", "call-1-r1"]
    assert _answer_order(outcome) == ["call-0", "call-1-r2"]
    report = genuine_report(outcome, calls)
    assert report.blocked == 0.0
    assert report.reached == 100.0
    assert report.answered_within[15] == 0.0  # answered, but long after the first call


def test_given_a_blocked_genuine_caller_who_never_calls_again_then_they_count_as_blocked() -> None:
    calls = [TraceCall(1.0, 10.0, PRANKSTER, P), TraceCall(1000.0, 60.0, PRANKSTER, G)]
    _, outcome = _sim(calls, screening=BLOCKING, callers=Callers(redials=0))
    assert list(outcome.blocked) == ["call-1"]
    report = genuine_report(outcome, calls)
    assert (report.callers, report.blocked, report.reached_later) == (1, 100.0, 0.0)


def test_given_a_blocked_prankster_then_they_do_not_call_again_and_no_kpi_counts_them() -> None:
    calls = [TraceCall(1.0, 10.0, PRANKSTER, P), TraceCall(1000.0, 10.0, PRANKSTER, P)]
    _, outcome = _sim(calls, screening=BLOCKING)
    assert list(outcome.blocked) == ["call-1"]
    assert outcome.report.calls == 1
    assert [r.call_id for r in outcome.records] == ["call-0"]


def test_given_a_blocked_caller_who_hangs_up_during_the_announcement_then_the_call_ends() -> None:
    calls = [TraceCall(1.0, 10.0, PRANKSTER, P), TraceCall(1000.0, 10.0, PRANKSTER, G)]
    callers = Callers(min_patience=1.0, announcement_length=1e6, redials=0)
    sim, outcome = _sim(calls, screening=BLOCKING, callers=callers, patience=2.0)
    assert list(outcome.blocked) == ["call-1"]
    assert outcome.blocked["call-1"] - 1000.0 < 100.0
    assert not sim.acd.calls


# -- callbacks --------------------------------------------------------------------------------

CALLING_BACK = AcdConfig(wrap_up_time=0.0, max_wait=None, callbacks=CallbackPolicy())
BUSY_THEN_ABANDONED = [
    TraceCall(1.0, 100.0, "081100000001", G),
    TraceCall(5.0, 40.0, "081100000002", G),  # gives up while the only call-taker talks
]


def test_given_an_abandoned_genuine_caller_then_a_callback_reaches_them() -> None:
    callers = Callers(callback_reach=1.0, min_patience=5.0)
    _, outcome = _sim(BUSY_THEN_ABANDONED, config=CALLING_BACK, callers=callers, patience=6.0)
    assert list(outcome.called_back) == ["call-1"]
    assert [a.answered_at is not None for a in outcome.attempts] == [True]
    assert len(outcome.records) == 2  # the attempt is call-takers' work, not a caller's call
    report = genuine_report(outcome, BUSY_THEN_ABANDONED)
    assert (report.answered_within[15], report.abandoned) == (50.0, 50.0)
    assert (report.called_back, report.reached_later) == (50.0, 100.0)
    reached = outcome.called_back["call-1"] - 5.0
    assert report.reached == (100.0 if reached <= 120.0 else 50.0)


def test_given_a_number_that_never_answers_then_the_attempts_stop_and_nobody_is_reached() -> None:
    callers = Callers(callback_reach=0.0, min_patience=5.0)
    _, outcome = _sim(BUSY_THEN_ABANDONED, config=CALLING_BACK, callers=callers, patience=6.0)
    assert not outcome.called_back
    assert len(outcome.attempts) == CallbackPolicy().max_attempts
    assert genuine_report(outcome, BUSY_THEN_ABANDONED).reached_later == 50.0


def test_without_callbacks_an_abandoned_caller_is_never_reached() -> None:
    callers = Callers(callback_reach=1.0, min_patience=5.0)
    _, outcome = _sim(BUSY_THEN_ABANDONED, callers=callers, patience=6.0)
    assert not outcome.attempts
    assert genuine_report(outcome, BUSY_THEN_ABANDONED).reached_later == 50.0


def test_no_caller_hangs_up_within_the_minimum_patience() -> None:
    calls = [TraceCall(n + 1.0, 600.0, f"08110000{n:04d}", G) for n in range(50)]
    _, outcome = _sim(calls, callers=Callers(min_patience=20.0), patience=25.0)
    waits = [r.ended_at - r.arrived_at for r in outcome.records if r.answered_at is None]
    assert waits
    assert min(waits) >= 20.0


# -- the roster -------------------------------------------------------------------------------


def test_given_fewer_call_takers_at_night_then_only_the_night_shift_answers_at_night() -> None:
    tz = ZoneInfo("Asia/Makassar")
    start = dt.datetime(2025, 6, 2, tzinfo=tz).timestamp()
    specs = [replace(s, agents=n) for s, n in zip(THREE_SHIFTS, (3, 3, 1), strict=True)]
    roster = Roster(
        "WITA",
        tuple(
            Shift(s.start, s.end, agents=frozenset(f"s{i + 1}-{k + 1}" for k in range(s.agents)))
            for i, s in enumerate(specs)
        ),
    )
    rng = random.Random(2)
    calls = simulator.generate_calls(rng, 20.0, 86400.0, {G: 1.0})
    config = AcdConfig(max_wait=None, roster=roster)
    _, outcome = _sim(calls, config=config, agents=None, shifts=specs, start=start, patience=60)
    night = {
        r.agent_id
        for r in outcome.records
        if r.answered_at is not None
        and not 7 <= dt.datetime.fromtimestamp(r.arrived_at, tz).hour < 23
    }
    day = {r.agent_id for r in outcome.records if r.answered_at is not None} - night
    assert night == {"s3-1"}
    assert day == {"s1-1", "s1-2", "s1-3", "s2-1", "s2-2", "s2-3"}


# -- the recommendation -----------------------------------------------------------------------


@given(
    threshold=st.integers(1, 30),
    start=st.integers(-5, 40),
    limit=st.integers(1, 40),
)
def test_smallest_meeting_finds_the_threshold_of_a_monotone_test(
    threshold: int, start: int, limit: int
) -> None:
    asked: list[int] = []

    def meets(n: int) -> bool:
        asked.append(n)
        return n >= threshold

    found = rec.smallest_meeting(start, meets, limit)
    assert found == (threshold if threshold <= limit else None)
    assert len(asked) <= abs(min(max(1, start), limit) - threshold) + 2


@pytest.mark.parametrize(
    ("span_hours", "expected"), [(24, (8, 8, 8)), (12, (5, 0, 7)), (48, (16, 16, 16))]
)
def test_shift_hours_counts_the_hours_each_shift_is_on(
    span_hours: int, expected: tuple[int, int, int]
) -> None:
    got = tuple(rec.shift_hours(s, span_hours * 3600.0) for s in THREE_SHIFTS)
    assert got == expected


def _advise(rate: float, days: float = 2.0) -> list[rec.ShiftAdvice]:
    tz = ZoneInfo("Asia/Makassar")
    start = dt.datetime(2025, 6, 2, tzinfo=tz).timestamp()
    calls = simulator.generate_calls(
        random.Random(4), rate, days * 86400.0, {G: 0.7, P: 0.2, "ghost": 0.1}
    )

    def simulate(heads: Sequence[int]) -> Outcome:
        specs = [replace(s, agents=n) for s, n in zip(THREE_SHIFTS, heads, strict=True)]
        roster = Roster(
            "WITA",
            tuple(
                Shift(
                    s.start, s.end, agents=frozenset(f"s{i + 1}-{k + 1}" for k in range(s.agents))
                )
                for i, s in enumerate(specs)
            ),
        )
        config = replace(WATCHED, wrap_up_time=30.0, max_wait=60.0, roster=roster)
        return _sim(calls, config=config, agents=None, shifts=specs, start=start, patience=45)[1]

    return rec.recommend(
        calls,
        THREE_SHIFTS,
        tz=tz,
        start=start,
        span=days * 86400.0,
        wrap_up=30.0,
        simulate=simulate,
        progress=lambda _: None,
    )


def test_the_recommended_head_count_meets_the_target_and_one_fewer_does_not() -> None:
    advice = _advise(15.0)
    for a in advice:
        assert a.heads is not None
        assert a.within is not None
        assert a.within >= 90.0
        assert a.heads == 1 or (a.below is not None and a.below < 90.0)
        assert a.erlang >= 1
        assert a.handle_time > 30.0


def test_more_traffic_never_needs_fewer_call_takers() -> None:
    light, heavy = _advise(8.0), _advise(40.0)
    assert all((h.heads or 99) >= (lt.heads or 99) for lt, h in zip(light, heavy, strict=True))
    assert sum(h.heads or 99 for h in heavy) > sum(lt.heads or 99 for lt in light)


# -- the command ------------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    simulator.add_arguments(parser)
    code = simulator.run(parser.parse_args(list(argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_recommend_prints_a_head_count_per_shift_beside_erlang_c(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "--recommend", "--days", "1", "--seed", "3")
    assert code == 0
    assert "seed 3" in out
    header = next(line for line in out.splitlines() if "Erlang C" in line and "shift" in line)
    assert header.split() == [
        "shift", "calls", "calls/h", "handle", "Erlang", "C", "simulated", "<=15", "s", "one",
        "fewer",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in out.splitlines() if "-" in line[:16]}
    assert set(rows) >= {"pagi", "siang", "malam"}
    for row in (rows["pagi"], rows["siang"], rows["malam"]):
        erlang_c, heads = int(row[5]), int(row[6])
        assert erlang_c >= 1
        assert heads >= 1
    assert "all shifts so staffed" in out
    assert "call-takers:" in err or "call-taker:" in err  # progress on stderr


def test_recommend_uses_the_shifts_given(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "--recommend", "--days", "0.5", "--shift", "day=06:00-18:00=0",
        "--shift", "night=18:00-06:00=0",
    )  # fmt: skip
    assert code == 0
    assert "\n  day " in out
    assert "\n  night " in out
    assert "pagi" not in out


def test_recommend_says_when_the_target_is_out_of_reach(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Half the offers are missed: no head count answers 90% within 15 s.
    code, out, _ = _run(
        capsys, "--recommend", "--days", "0.25", "--shift", "a=00:00-24:00=1",
        "--no-answer-share", "0.6",
    )  # fmt: skip
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("  a "))
    assert f">{row.split()[4]}" != row.split()[5]
    assert row.split()[5].startswith(">")
    assert "all shifts so staffed" not in out


def test_the_kendari_preset_gives_a_month_at_its_rate_unless_told_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "--preset", "kendari", "--days", "2", "--agents", "3")
    assert code == 0
    assert "preset kendari" in out
    assert "12.6389 calls/h over 2 days, diurnal profile" in out
    assert "14% prank from 180 numbers, 13% ghost from 170" in out
    calls = int(out.split("\n  calls", 1)[1].split()[0].replace(",", ""))
    assert 500 < calls < 700


def test_blocking_on_the_command_line_reports_blocked_calls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(
        capsys, "--blocking", "--days", "2", "--prank-share", "0.4", "--prank-pool", "5",
        "--agents", "3",
    )  # fmt: skip
    assert code == 0
    assert "blocking with its valve" in out
    assert "blocked (announced, hung up)" in out


def test_a_diurnal_profile_keeps_the_mean_rate_and_quietens_the_night() -> None:
    calls = simulator.generate_calls(
        random.Random(8), 100.0, 10 * 86400.0, {G: 1.0}, simulator.traffic.DIURNAL
    )
    assert 23_000 < len(calls) < 25_000
    hours = [int(c.arrival // 3600) % 24 for c in calls]
    assert hours.count(3) * 2.5 < hours.count(17)


@pytest.mark.parametrize(
    ("text", "label", "agents"),
    [("malam=23:00-07:00=2", "malam", 2), ("07:00-15:00=0", "07:00-15:00", 0)],
)
def test_a_shift_may_carry_a_name(text: str, label: str, agents: int) -> None:
    spec = simulator.parse_shift(text)
    assert (spec.label, spec.agents) == (label, agents)


@pytest.mark.parametrize("text", ["=08:00-16:00=2", "a=b=08:00-16:00=1", "a=08:00-16:00=-1"])
def test_a_bad_named_shift_is_an_argument_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        simulator.parse_shift(text)
