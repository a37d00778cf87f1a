"""CSV files callgate writes: no cell a spreadsheet would run as a formula (OWASP, CSV
Injection), whatever a pause reason or a caller's number holds."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.reports import csv_cells
from callgate.storage.agent_events import AgentEvent
from callgate.tools.report import DEFAULT_SHIFTS, build_calltaker_report, write_calltakers_csv
from callgate.tools.simulator.traffic import TraceCall, write_trace
from tests.unit.test_report_calltakers import BEFORE, EVENTS, FAR, HANDLED, PERIOD, t


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("sholat", "sholat"),
        ("a=b", "a=b"),
        ("", ""),
        # Only a number: no spreadsheet runs it, and caller numbers keep their "+".
        ("+6281234567890", "+6281234567890"),
        ("-1.5", "-1.5"),
        (-3, -3),
        (2.5, 2.5),
        (None, None),
    ],
)
def test_given_a_cell_then_a_formula_start_is_quoted_and_the_rest_kept(
    value: object, written: object
) -> None:
    assert csv_cells.cell(value) == written


@given(st.text())
def test_given_any_text_then_the_cell_read_back_starts_with_no_formula_character(
    text: str,
) -> None:
    stream = io.StringIO()
    csv.writer(stream).writerow(csv_cells.row([text]))
    (read,) = next(csv.reader(io.StringIO(stream.getvalue(), newline="")))
    assert read == csv_cells.cell(text)
    number = re.fullmatch(r"[+-]?[0-9]+(\.[0-9]+)?", read, re.ASCII)
    assert not read.startswith(csv_cells.FORMULA_STARTS) or number
    assert read in (text, "'" + text)


def test_given_a_pause_reason_that_is_a_formula_then_the_calltakers_csv_quotes_it(
    tmp_path: Path,
) -> None:
    events = [
        *EVENTS,
        AgentEvent(t(24, 2), "1001", "pause", reason='=HYPERLINK("http://evil","x")'),
        AgentEvent(t(24, 2, 10), "1001", "unpause"),
    ]
    report = build_calltaker_report(PERIOD, BEFORE, events, HANDLED, shifts=DEFAULT_SHIFTS, now=FAR)
    write_calltakers_csv(report, tmp_path)
    with (tmp_path / "calltaker_pauses.csv").open(newline="") as stream:
        reasons = {row["reason"] for row in csv.DictReader(stream)}
    assert '\'=HYPERLINK("http://evil","x")' in reasons
    assert not any(r.startswith(csv_cells.FORMULA_STARTS) for r in reasons)


def test_given_a_trace_then_caller_numbers_keep_their_plus_and_formulas_are_quoted() -> None:
    stream = io.StringIO()
    write_trace(
        [TraceCall(1.0, 60.0, "+6281234567890", "genuine"), TraceCall(2.0, 5.0, "=1+1", "prank")],
        stream,
    )
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert [r[2] for r in rows[1:]] == ["+6281234567890", "'=1+1"]
