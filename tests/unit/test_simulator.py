"""``callgate simulate`` drives the real core through simulated time and prints KPIs."""

from __future__ import annotations

import argparse
import datetime as dt
import io
from pathlib import Path

import pytest

from callgate.core import CallState
from callgate.tools import simulator

SAMPLE = Path(__file__).parents[2] / "benchmarks" / "sample-trace.csv"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    simulator.add_arguments(parser)
    code = simulator.run(parser.parse_args(list(argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sample_trace_runs_and_prints_the_kpi_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--trace", str(SAMPLE), "--agents", "2")
    assert code == 0
    assert "trace sample-trace.csv; 2 call-takers 24/7" in out
    for label in (
        "answered within 15 s",
        "NENA target 90%",
        "longest 10%",
        "occupancy (2 call-takers)",
    ):
        assert label in out


def test_a_month_at_kendaris_rate_with_three_shifts_reports_each_shift(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Kendari: 5,982 calls in 20 days, about 12.5 an hour.
    shifts = ["--shift", "00:00-08:00=1", "--shift", "08:00-16:00=3", "--shift", "16:00-24:00=2"]
    code, out, _ = _run(capsys, "--rate-per-hour", "12.5", "--days", "30", *shifts)
    assert code == 0
    calls = int(out.split("calls", 2)[2].split()[0].replace(",", ""))
    assert 8_500 < calls < 9_500
    assert "00:00-08:00" in out
    assert "16:00-24:00" in out
    assert "out of hours" not in out


def test_office_hours_only_sends_night_calls_to_the_neighbour(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(
        capsys,
        "--days",
        "2",
        "--shift",
        "08:00-16:00=2",
        "--overflow",
        "neighbour,fallback-queue",
        "--timezone",
        "WIT",
        "--strategy",
        "ring-all",
    )
    assert code == 0
    assert "out of hours" in out
    overflowed = int(out.split("overflow destination answered")[1].split()[0].replace(",", ""))
    assert overflowed > 10


def test_same_seed_gives_the_same_report(capsys: pytest.CaptureFixture[str]) -> None:
    first = _run(capsys, "--days", "0.5", "--seed", "7")
    second = _run(capsys, "--days", "0.5", "--seed", "7")
    assert first == second


def test_nobody_to_answer_sends_everything_to_the_fallback_queue(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(
        capsys, "--days", "0.2", "--agents", "0", "--overflow", "fb", "--max-wait", "0"
    )
    assert code == 0
    assert "answered within 15 s                      0.0%" in out
    assert "mean answer time                             -" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--timezone", "Mars/Base"],
        ["--start", "yesterday"],
        ["--ring-timeout", "0"],
        ["--overflow", ","],
    ],
)
def test_bad_settings_exit_with_2_and_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = _run(capsys, "--days", "0.1", *argv)
    assert code == 2
    assert err.startswith("callgate simulate: ")


@pytest.mark.parametrize("text", ["08:00-16:00", "8-16=2", "08:00-16:00=x", "08:00-25:00=1"])
def test_bad_shift_is_an_argument_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        simulator.parse_shift(text)


def test_parse_shift_reads_times_and_head_count() -> None:
    spec = simulator.parse_shift("22:00-06:00=3")
    assert (spec.start, spec.end, spec.agents, spec.label) == (
        dt.time(22),
        dt.time(6),
        3,
        "22:00-06:00",
    )


def test_trace_written_then_read_gives_the_same_calls() -> None:
    calls = [
        simulator.TraceCall(5.0, 60.0, "0812", "prank"),
        simulator.TraceCall(1.0, 30.5, "", "genuine"),
    ]
    buffer = io.StringIO()
    simulator.write_trace(calls, buffer)
    buffer.seek(0)
    assert simulator.read_trace(buffer) == sorted(calls, key=lambda c: c.arrival)


def test_trace_with_empty_category_counts_as_genuine() -> None:
    rows = io.StringIO("arrival,talk_time,caller,category\n3,40,,\n")
    assert simulator.read_trace(rows) == [simulator.TraceCall(3.0, 40.0, "", "genuine")]


def test_every_simulated_call_ends_in_a_terminal_state() -> None:
    import random

    from callgate.core import AcdConfig

    rng = random.Random(1)
    calls = simulator.generate_calls(rng, 30.0, 4 * 3600.0, {"genuine": 1.0})
    sim = simulator.Simulation(
        AcdConfig(),
        calls,
        start=0.0,
        agents=2,
        shifts=[],
        rng=rng,
        patience=60.0,
        answer_delay=3.0,
        no_answer_share=0.2,
    )
    outcome = sim.run()
    assert len(outcome.records) == len(calls)
    assert {r.outcome for r in outcome.records} <= {
        CallState.COMPLETED,
        CallState.ABANDONED,
        CallState.FALLBACK,
    }
    assert not sim.acd.calls


# -- screening -------------------------------------------------------------------------------


def _row(out: str, label: str) -> tuple[str, str]:
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    off, on = line[len(label) + 2 :].split()[:2]
    return off, on


def test_compare_prints_genuine_answered_within_15_s_with_screening_off_and_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(
        capsys,
        "--screening",
        "compare",
        "--prank-share",
        "0.25",
        "--ghost-share",
        "0.2",
        "--rate-per-hour",
        "80",
        "--agents",
        "3",
        "--days",
        "1",
    )
    assert code == 0
    assert "screening off vs on" in out
    assert "25% prank from 30 numbers, 20% ghost from 30" in out
    genuine_off, genuine_on = _row(out, "genuine calls")
    assert genuine_off == genuine_on  # the very same calls in both runs
    off, on = (float(v.rstrip("%")) for v in _row(out, "genuine answered within 15 s"))
    assert 0.0 < off <= 100.0
    assert on >= off  # repeat nuisance callers wait behind genuine ones
    tagged_off, tagged_on = _row(out, "calls tagged on the phone")
    assert tagged_off == "0"
    assert int(tagged_on.replace(",", "")) > 100
    moved_off, moved_on = _row(out, "calls moved to the nuisance class")
    assert moved_off == "0"
    assert int(moved_on.replace(",", "")) > 100


def test_compare_with_the_same_seed_prints_the_same_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ("--screening", "compare", "--days", "0.3", "--seed", "9")
    assert _run(capsys, *argv) == _run(capsys, *argv)


def test_screening_on_prints_the_kpi_table_and_what_genuine_callers_got(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "--screening", "on", "--days", "0.3")
    assert code == 0
    assert "screening on (warning, silent-caller prompt)" in out
    assert "NENA target 90%" in out
    genuine = out.split("genuine callers", 1)[1]
    for label in (
        "answered within 15 s",
        "answered within 20 s",
        "hung up before an answer",
        "reached by a human within 2 min",
    ):
        assert label in genuine


def test_screening_and_callbacks_on_are_the_default_as_in_the_daemon(
    capsys: pytest.CaptureFixture[str],
) -> None:
    default = _run(capsys, "--days", "0.3")
    on = _run(capsys, "--days", "0.3", "--screening", "on", "--callbacks", "on")
    assert default == on
    off = _run(capsys, "--days", "0.3", "--screening", "off", "--callbacks", "off")
    assert "screening off" in off[1]
    assert "callbacks off" in off[1]


def test_repeat_caller_model_draws_nuisance_from_small_pools_and_genuine_mostly_new() -> None:
    import random

    shares = {"prank": 0.25, "ghost": 0.2, "genuine": 0.55}
    calls = simulator.generate_repeat_calls(
        random.Random(3),
        200.0,
        86400.0,
        shares,
        prank_pool=10,
        ghost_pool=5,
        genuine_from_nuisance=0.1,
    )
    by = {c: {t.caller for t in calls if t.category == c} for c in shares}
    assert len(by["prank"]) <= 10
    assert len(by["ghost"]) <= 5
    genuine = [t for t in calls if t.category == "genuine"]
    reused = sum(t.caller in by["prank"] | by["ghost"] for t in genuine)
    assert 0.05 < reused / len(genuine) < 0.15


def test_with_screening_a_known_prankster_waits_behind_a_new_genuine_caller() -> None:
    from callgate.core import AcdConfig, ScreeningPolicy

    prankster = "085700000001"
    calls = [
        # Three answered pranks make the number a repeat nuisance (dispositions at call end).
        simulator.TraceCall(10.0, 20.0, prankster, "prank"),
        simulator.TraceCall(100.0, 20.0, prankster, "prank"),
        simulator.TraceCall(200.0, 20.0, prankster, "prank"),
        # The only call-taker is busy; then the prankster, then a genuine caller, wait.
        simulator.TraceCall(300.0, 200.0, "081100000001", "genuine"),
        simulator.TraceCall(310.0, 20.0, prankster, "prank"),
        simulator.TraceCall(320.0, 60.0, "081100000002", "genuine"),
    ]

    def answer_order(screening: ScreeningPolicy | None) -> list[str]:
        import random

        sim = simulator.Simulation(
            AcdConfig(wrap_up_time=0.0, max_wait=None),
            calls,
            start=0.0,
            agents=1,
            shifts=[],
            rng=random.Random(1),
            patience=1e9,
            answer_delay=1.0,
            no_answer_share=0.0,
            screening=screening,
        )
        records = sim.run().records
        answered = sorted(
            (r for r in records if r.answered_at is not None), key=lambda r: r.answered_at or 0
        )
        return [r.call_id for r in answered][-2:]

    assert answer_order(None) == ["call-4", "call-5"]
    assert answer_order(ScreeningPolicy()) == ["call-5", "call-4"]


def test_trace_categories_screening_does_not_know_get_no_disposition(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(
        "arrival,talk_time,caller,category\n"
        "0,10,081234567890,prank\n"
        "60,10,081234567890,hoax-bomb\n"
        "120,10,,ghost\n"
        "180,10,081234567890,genuine\n"
    )
    code, out, _ = _run(capsys, "--trace", str(trace), "--screening", "compare", "--agents", "1")
    assert code == 0
    assert _row(out, "genuine calls") == ("1", "1")


def test_a_simulated_call_taker_auto_paused_after_a_miss_unpauses_two_minutes_later() -> None:
    import random

    from callgate.core import AcdConfig, AgentState

    calls = [simulator.TraceCall(10.0, 30.0, "081100000001", "genuine")]
    sim = simulator.Simulation(
        AcdConfig(max_wait=None, max_consecutive_no_answers=1),
        calls,
        start=0.0,
        agents=1,
        shifts=[],
        rng=random.Random(1),
        patience=1e9,
        answer_delay=1.0,
        no_answer_share=0.9,
    )
    outcome = sim.run()
    paused = [c for c in sim.agent_changes if c.new is AgentState.PAUSED]
    unpaused = [c for c in sim.agent_changes if c.old is AgentState.PAUSED]
    assert paused
    assert [u.at - p.at for p, u in zip(paused, unpaused, strict=True)] == [
        simulator.AUTO_PAUSE_RECOVERY
    ] * len(unpaused)
    assert outcome.records[0].answered_at is not None  # the caller got through in the end
