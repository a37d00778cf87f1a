"""The command line routes each subcommand with its own options."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgate.cli import main

SAMPLE_TRACE = Path(__file__).resolve().parents[2] / "benchmarks" / "sample-trace.csv"


def test_given_simulate_options_then_they_reach_the_simulator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["simulate", "--trace", str(SAMPLE_TRACE), "--agents", "2"]) == 0
    out = capsys.readouterr().out
    assert "answered within 15 s" in out


def test_given_no_command_then_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
