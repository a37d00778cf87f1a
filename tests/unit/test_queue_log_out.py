"""callgate's own queue_log: the lines app_queue would write for a call taken, a call abandoned,
pauses and logins; and the file written off the call path, kept and retried when it cannot be."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callgate.asterisk.queue_log import parse_line
from callgate.core.acd import Acd
from callgate.core.commands import Command, Notification
from callgate.core.config import AcdConfig
from callgate.core.events import (
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentUnpaused,
    CallArrived,
    CallBridged,
    CallerHungUp,
    Event,
)
from callgate.daemon.queue_log_out import QueueLogFile, QueueLogLines, clean

T0 = 1_790_000_000


def _lines(steps: list[tuple[float, Event]], config: AcdConfig | None = None) -> list[str]:
    acd = Acd(config or AcdConfig(max_wait=None, wrap_up_time=10))
    writer = QueueLogLines("callgate", lambda agent: f"PJSIP/{agent}")
    out: list[str] = []

    def told(commands: list[Command]) -> None:
        for c in commands:
            if isinstance(c, Notification):
                out.extend(writer.lines(c))

    for offset, event in steps:
        now = T0 + offset
        while (deadline := acd.next_deadline()) is not None and deadline <= now:
            told(acd.handle_timer(deadline))
        told(acd.handle(event, now))
    return out


def test_given_a_call_taken_and_ended_by_the_call_taker_then_enter_connect_completeagent() -> None:
    lines = _lines(
        [
            (0, AgentLoggedIn("1001", "PJSIP/1001")),
            (100, CallArrived("c1", caller="081234")),
            (103, AgentNoAnswer("c1", "1001")),  # declined: rung again straight away
            (107, AgentAnswered("c1", "1001")),
            (108, CallBridged("c1")),
            (228, AgentHungUp("c1", "1001")),
        ]
    )
    assert lines == [
        f"{T0}|NONE|callgate|PJSIP/1001|ADDMEMBER|",
        f"{T0 + 100}|c1|callgate|NONE|ENTERQUEUE||081234",
        f"{T0 + 103}|c1|callgate|PJSIP/1001|RINGNOANSWER|3000",
        # holdtime 7 s (to the answer), no member uniqueid, rang 4 s the second time
        f"{T0 + 108}|c1|callgate|PJSIP/1001|CONNECT|7||4",
        # holdtime 7, talked 120 s, first in line
        f"{T0 + 228}|c1|callgate|PJSIP/1001|COMPLETEAGENT|7|120|1",
    ]
    # Every line is one the reader of Asterisk's own queue_log understands.
    parsed = [parse_line(line) for line in lines]
    assert [p.event for p in parsed if p is not None] == [
        "ADDMEMBER",
        "ENTERQUEUE",
        "RINGNOANSWER",
        "CONNECT",
        "COMPLETEAGENT",
    ]


def test_given_the_caller_hangs_up_first_then_completecaller() -> None:
    lines = _lines(
        [
            (0, AgentLoggedIn("1001", "PJSIP/1001")),
            (10, CallArrived("c1", caller="0812")),
            (12, AgentAnswered("c1", "1001")),
            (12.4, CallBridged("c1")),
            (72.4, CallerHungUp("c1")),
        ]
    )
    assert lines[-1] == f"{T0 + 72}|c1|callgate|PJSIP/1001|COMPLETECALLER|2|60|1"


def test_given_a_caller_who_gives_up_waiting_then_abandon_with_positions_and_wait() -> None:
    lines = _lines(
        [
            (0, CallArrived("c1", caller="0811")),
            (1, AgentLoggedIn("1001", "PJSIP/1001")),
            (1, AgentPaused("1001", "briefing")),
            (5, CallArrived("c2", caller="0812")),
            (20, CallerHungUp("c1")),
            (30, CallerHungUp("c2")),
        ]
    )
    # c1 arrives with nobody logged in: EXITEMPTY (to the fallback); c2 waits then gives up.
    assert lines == [
        f"{T0}|c1|callgate|NONE|ENTERQUEUE||0811",
        f"{T0}|c1|callgate|NONE|EXITEMPTY|1|1|0",
        f"{T0 + 1}|NONE|callgate|PJSIP/1001|ADDMEMBER|",
        f"{T0 + 1}|NONE|callgate|PJSIP/1001|PAUSE|briefing",
        f"{T0 + 5}|c2|callgate|NONE|ENTERQUEUE||0812",
        f"{T0 + 30}|c2|callgate|NONE|ABANDON|1|1|25",
    ]


def test_given_two_callers_waiting_then_positions_follow_arrival() -> None:
    lines = _lines(
        [
            (0, AgentLoggedIn("1001", "PJSIP/1001")),
            (0, AgentPaused("1001", "meal")),
            (1, CallArrived("c1", caller="0811")),
            (2, CallArrived("c2", caller="0812")),
            (3, CallArrived("c3", caller="0813")),
            (9, CallerHungUp("c2")),
            (10, AgentUnpaused("1001")),
            (11, AgentLoggedOut("1001")),
        ]
    )
    assert f"{T0 + 9}|c2|callgate|NONE|ABANDON|2|2|7" in lines
    assert (
        lines[-3:]
        == [
            f"{T0 + 10}|NONE|callgate|PJSIP/1001|UNPAUSE|",
            # c1 is rung at once, and the logout withdraws the ring (no miss).
            f"{T0 + 11}|NONE|callgate|PJSIP/1001|REMOVEMEMBER|",
            f"{T0 + 11}|c1|callgate|NONE|EXITEMPTY|1|1|10",
        ]
        or lines
    )


def test_given_max_wait_then_exitwithtimeout() -> None:
    lines = _lines(
        [
            (0, AgentLoggedIn("1001", "PJSIP/1001")),
            (0, AgentPaused("1001", "meal")),
            (1, CallArrived("c1", caller="0811")),
            (200, AgentUnpaused("1001")),
        ],
        AcdConfig(max_wait=120),
    )
    assert f"{T0 + 121}|c1|callgate|NONE|EXITWITHTIMEOUT|1|1|120" in lines


def test_given_a_reason_with_the_separator_then_the_field_stays_one_field() -> None:
    assert clean("a|b\nc") == "a/b c"
    writer = QueueLogLines("call|gate", lambda agent: f"Operator {agent}")
    acd = Acd(AcdConfig())
    notes = acd.handle(AgentLoggedIn("1001", "PJSIP/1001"), T0)
    notes += acd.handle(AgentPaused("1001", "sholat|maghrib"), T0 + 1)
    out = [line for n in notes if isinstance(n, Notification) for line in writer.lines(n)]
    assert out[-1] == f"{T0 + 1}|NONE|call/gate|Operator 1001|PAUSE|sholat/maghrib"
    assert writer.stopping(T0 + 5) == [f"{T0 + 5}|NONE|call/gate|Operator 1001|REMOVEMEMBER|"]


@pytest.mark.parametrize(
    "text",
    ["a\rb", "a\vb", "a\fb", "a\x85b", "a\u2028b", "a\u2029b", "a\x1cb", "a\x00b", "a\x7fb"],
)
def test_given_any_line_or_control_character_then_cleaned_to_a_space(text: str) -> None:
    assert clean(text) == "a b"


_FREE_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(reason=_FREE_TEXT, caller=_FREE_TEXT, agent=_FREE_TEXT, queue=_FREE_TEXT)
def test_given_arbitrary_free_text_then_each_note_is_whole_lines_with_its_fields_intact(
    reason: str, caller: str, agent: str, queue: str
) -> None:
    # A pause reason from the admin API, a caller's number, a call-taker's or a queue's name:
    # whatever they hold, every line written is one line (for str.splitlines too) of the
    # event's fields, that the fallback reader would take, and the text survives but for the
    # characters cleaned.
    writer = QueueLogLines(queue or "q", lambda a: f"Operator {agent}{a}")
    acd = Acd(AcdConfig(max_wait=None, wrap_up_time=10))
    notes = acd.handle(AgentLoggedIn("1001", "PJSIP/1001"), T0)
    notes += acd.handle(CallArrived("c1", caller=caller), T0 + 1)
    notes += acd.handle(AgentAnswered("c1", "1001"), T0 + 2)
    notes += acd.handle(CallBridged("c1"), T0 + 3)
    notes += acd.handle(CallerHungUp("c1"), T0 + 9)
    notes += acd.handle(AgentPaused("1001", reason), T0 + 20)
    out = [line for n in notes if isinstance(n, Notification) for line in writer.lines(n)]
    events = [line.split("|")[4] for line in out]
    assert events == ["ADDMEMBER", "ENTERQUEUE", "CONNECT", "COMPLETECALLER", "PAUSE"]
    for line in out:
        assert line.splitlines() == [line]
        assert parse_line(line) is not None, line
    enter, pause = out[1].split("|"), out[-1].split("|")
    assert (len(enter), len(pause)) == (7, 6)
    assert enter[6] == clean(caller)
    assert pause[5] == clean(reason)
    assert pause[3] == clean(f"Operator {agent}1001")
    kept = set(reason) - set(_CLEANED)
    assert kept <= set(pause[5])


_CLEANED = "|" + "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]))


async def _until(condition: object) -> None:
    for _ in range(500):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_given_the_file_cannot_be_written_then_lines_are_kept_retried_and_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="callgate.daemon.queue_log_out")
    folder = tmp_path / "not-yet"
    path = folder / "queue_log"
    writer = QueueLogLines("callgate", lambda agent: f"PJSIP/{agent}")
    out = QueueLogFile(path, writer, clock=lambda: T0 + 60, first_retry=0.01)
    out.start()
    acd = Acd(AcdConfig())
    for command in acd.handle(AgentLoggedIn("1001", "PJSIP/1001"), T0):
        if isinstance(command, Notification):
            await out.notification(command)  # returns at once, the folder is missing
    await asyncio.sleep(0.1)  # several failed attempts
    assert out.pending == 1
    warnings = [r for r in caplog.records if "queue_log not writable" in r.getMessage()]
    assert len(warnings) == 1
    folder.mkdir()
    await _until(lambda: out.pending == 0)
    await out.close()
    assert path.read_text().splitlines() == [
        f"{T0}|NONE|callgate|PJSIP/1001|ADDMEMBER|",
        f"{T0 + 60}|NONE|callgate|PJSIP/1001|REMOVEMEMBER|",
    ]
    assert any("writable again" in r.getMessage() for r in caplog.records)


async def test_given_a_full_buffer_then_the_oldest_lines_are_dropped_and_counted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "missing" / "queue_log"
    writer = QueueLogLines("callgate", str)
    out = QueueLogFile(path, writer, clock=lambda: T0, max_lines=2, first_retry=0.01)
    out.start()
    acd = Acd(AcdConfig())
    for agent in ("1001", "1002", "1003"):
        for command in acd.handle(AgentLoggedIn(agent, f"PJSIP/{agent}"), T0):
            if isinstance(command, Notification):
                await out.notification(command)
    assert (out.pending, out.dropped) == (2, 1)
    path.parent.mkdir()
    await _until(lambda: out.pending == 0)
    await out.close(drain_seconds=1)
    assert [line.split("|")[3] for line in path.read_text().splitlines()[:2]] == ["1002", "1003"]
