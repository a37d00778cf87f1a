"""``callgate simulate`` drives the real core through simulated time and prints KPIs."""

from __future__ import annotations

import argparse
import datetime as dt
import io
from pathlib import Path

import pytest

from callgate import simulator
from callgate.core import CallState

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
