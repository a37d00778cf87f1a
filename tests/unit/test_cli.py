"""The command line routes each subcommand with its own options."""

from __future__ import annotations

from pathlib import Path

import pytest

import callgate
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


def test_given_version_then_it_prints_the_built_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"callgate {callgate.__version__}\n"


def test_given_no_build_then_the_version_is_the_installed_one_or_a_plain_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata
    import sys

    # No _version.py (a source tree that was never built) and no installed distribution.
    monkeypatch.setitem(sys.modules, "callgate._version", None)

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert callgate._read_version() == "0.0.0+unknown"
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.2.3")
    assert callgate._read_version() == "1.2.3"
