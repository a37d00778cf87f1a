"""The queue_log parser: app_queue's lines in, the fallback queue's finished calls out."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callgate.asterisk.queue_log import (
    ASTERISK_RESTARTED,
    FallbackCall,
    FallbackQueueLog,
    Refused,
    calltaker_id,
    parse_line,
    refusal,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "queue_log" / "fallback-112.queue_log"
ENDPOINTS = ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004"]
T0 = 1732262400  # the fixture's QUEUESTART


def fixture_lines() -> list[str]:
    """The fixture as Asterisk would have written it (without its hand-written header)."""
    return [line for line in FIXTURE.read_text().splitlines() if not line.startswith("#")]


def fed(*lines: str, settle: float = 60.0) -> FallbackQueueLog:
    parser = FallbackQueueLog("fallback-112", ENDPOINTS, settle=settle)
    parser.feed(lines)
    return parser


def by_id(calls: list[FallbackCall]) -> dict[str, FallbackCall]:
    return {c.call_id: c for c in calls}


def test_given_the_fixture_when_read_to_its_end_then_each_finished_call_has_its_facts() -> None:
    parser = fed(*fixture_lines())
    calls = parser.completed(now=T0 + 200)

    assert [c.call_id for c in calls] == [  # oldest end first
        "1732262480.17",
        "1732262458.11",
        "1732262461.13",
        "1732262520.21",
    ]
    answered = by_id(calls)["1732262458.11"]
    assert answered == FallbackCall(
        call_id="1732262458.11",
        caller="+6281234567890",
        caller_sent="081234567890",
        dialed="112",
        reason="callgate-not-connected",
        entered_at=1732262458,
        answered_at=1732262462,
        ended_at=1732262500,
        agents=(("1001", 1732262462),),
        end_event="COMPLETECALLER",
    )
    assert answered.agent_id == "1001"
    rang_out_first = by_id(calls)["1732262461.13"]
    assert (rang_out_first.agent_id, rang_out_first.dialed) == ("1002", "62112")
    assert rang_out_first.end_event == "COMPLETEAGENT"
    abandoned = by_id(calls)["1732262480.17"]
    assert (abandoned.agent_id, abandoned.answered_at, abandoned.caller) == (
        None,
        None,
        "anonymous",
    )
    assert (abandoned.ended_at, abandoned.end_event) == (1732262492, "ABANDON")
    assert by_id(calls)["1732262520.21"].reason == "handed-back"
    # The caller still waiting is kept, the other queue's caller ignored, bad lines counted.
    assert parser.waiting == 1
    assert parser.malformed == 3


def test_given_a_finished_call_when_asked_again_then_it_is_not_returned_twice() -> None:
    parser = fed(*fixture_lines())
    assert len(parser.completed(now=T0 + 200)) == 4
    assert parser.completed(now=T0 + 300) == []


def test_given_the_caller_hung_up_then_the_call_is_over_at_once() -> None:
    parser = fed(*fixture_lines())
    # COMPLETECALLER and ABANDON are final whatever the clock says; COMPLETEAGENT (...13) is not.
    assert {c.call_id for c in parser.completed(now=1732262500)} == {
        "1732262480.17",
        "1732262458.11",
        "1732262520.21",
    }


def test_given_the_calltaker_hung_up_then_the_call_waits_settle_seconds_for_a_rejoin() -> None:
    parser = fed(*fixture_lines())
    # COMPLETEAGENT at ...510: the dialplan requeues a caller still on the line.
    assert "1732262461.13" not in {c.call_id for c in parser.completed(now=1732262569)}
    assert [c.call_id for c in parser.completed(now=1732262570)] == ["1732262461.13"]


def test_given_a_caller_requeued_after_the_calltaker_hung_up_then_one_call_with_both() -> None:
    parser = fed(
        "100|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1",
        "104|7.1|fallback-112|Operator 1001|CONNECT|4|7.2|2",
        "130|7.1|fallback-112|Operator 1001|COMPLETEAGENT|4|26|1",
        "131|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1",
        "135|7.1|fallback-112|Operator 1002|CONNECT|4|7.3|2",
    )
    assert parser.completed(now=1000) == []  # back in the queue, talking to 1002
    parser.feed(["160|7.1|fallback-112|Operator 1002|COMPLETECALLER|4|25|1"])
    (call,) = parser.completed(now=160)
    assert (call.entered_at, call.answered_at, call.ended_at) == (100, 104, 160)
    assert call.agents == (("1001", 104), ("1002", 135))
    assert call.agent_id == "1001"


def test_given_asterisk_restarted_then_calls_still_in_the_queue_are_over() -> None:
    parser = fed(
        "100|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1",
        "104|7.1|fallback-112|Operator 1001|CONNECT|4|7.2|2",
        "500|NONE|NONE|NONE|QUEUESTART|",
    )
    (call,) = parser.completed(now=500)
    assert (call.end_event, call.ended_at, call.agent_id) == (ASTERISK_RESTARTED, 500, "1001")


def test_given_lines_split_across_feeds_then_the_call_is_assembled() -> None:
    lines = fixture_lines()
    parser = FallbackQueueLog("fallback-112", ENDPOINTS)
    for line in lines:
        parser.feed([line])
    assert len(parser.completed(now=T0 + 200)) == 4


def test_given_a_call_whose_end_never_comes_then_it_is_forgotten_after_a_day() -> None:
    parser = FallbackQueueLog("fallback-112", ENDPOINTS, forget_after=3600)
    parser.feed(["100|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1"])
    assert parser.completed(now=3699) == []
    assert parser.waiting == 1
    assert parser.completed(now=3700) == []
    assert (parser.waiting, parser.forgotten) == (0, 1)


def test_given_a_sent_number_with_a_pipe_then_its_line_is_refused_and_the_call_kept() -> None:
    parser = FallbackQueueLog("fallback-112", ENDPOINTS)
    refused = parser.feed(
        [
            "100|7.1|fallback-112|NONE|CALLGATEINFO|08|11|112|handed-back",
            "100|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1",
            "110|7.1|fallback-112|NONE|ABANDON|1|1|10",
        ]
    )
    assert refused == [Refused(0, "CALLGATEINFO with 4 data fields")]
    (call,) = parser.completed(now=110)
    # Never glued back together: what the line says is not believed, the call is still there.
    assert (call.caller_sent, call.dialed, call.reason, call.caller) == ("", "", "", "+62811")
    assert call.end_event == "ABANDON"


def test_given_a_caller_id_that_forged_a_connect_then_the_forged_line_is_refused() -> None:
    # What an unfiltered dialplan wrote for a caller ID "0811|x|y" + line break + a CONNECT:
    # the forged line has the right count of fields but text where app_queue writes numbers.
    parser = FallbackQueueLog("fallback-112", ENDPOINTS)
    refused = parser.feed(
        [
            "100|7.1|fallback-112|NONE|CALLGATEINFO|0811|x|y",
            "101|7.1|fallback-112|Operator 1001|CONNECT|0|x|112|callgate-not-connected",
            "101|7.1|fallback-112|Operator 1001|CONNECT|one|7.2|2",
            "100|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1",
            "110|7.1|fallback-112|NONE|ABANDON|1|1|10",
        ]
    )
    assert [r.index for r in refused] == [1, 2]
    (call,) = parser.completed(now=110)
    assert (call.agent_id, call.answered_at, call.end_event) == (None, None, "ABANDON")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("100|7.1|fallback-112|NONE|ENTERQUEUE||+62\x0b811|1", "control or line-separator"),
        ("100|7.1|fallback-112|NONE|ENTERQUEUE||+62\x85811|1", "control or line-separator"),
        ("100|7.1|fallback-112|NONE|ENTERQUEUE||+62\u2028811|1", "control or line-separator"),
        ("100|7.1|fallback-112|NONE|ENTERQUEUE||+62\r811|1", "control or line-separator"),
        ("1e9|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1", "bad timestamp"),
        (" 100|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1", "bad timestamp"),
        ("100|../x|fallback-112|NONE|ENTERQUEUE||+62811|1", "bad call id"),
        ("100|7.1|fallback-112|NONE|enterqueue||+62811|1", "bad queue, agent or event"),
        ("100|7.1|fallback-112|NONE|ENTERQUEUE|", "ENTERQUEUE with 1 data fields"),
        ("100|7.1|fallback-112|NONE|ABANDON|1|1|1|1", "ABANDON with 4 data fields"),
        ("100|7.1|fallback-112|NONE|COMPLETECALLER|4|x|1", "COMPLETECALLER with text"),
    ],
)
def test_given_a_line_of_the_wrong_shape_then_refused_with_why(line: str, reason: str) -> None:
    assert parse_line(line) is None
    assert (refusal(line) or "").startswith(reason)


def test_given_events_acted_on_in_each_known_shape_then_accepted() -> None:
    for line in [
        "100|7.1|fallback-112|NONE|ENTERQUEUE||+62811",  # callgate's own, Asterisk < 13
        "100|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1",
        "104|7.1|fallback-112|Operator 1001|CONNECT|4|7.2",
        "104|7.1|fallback-112|Operator 1001|CONNECT|4|7.2|2",
        "110|7.1|fallback-112|NONE|EXITWITHTIMEOUT|1",
        "110|7.1|fallback-112|NONE|EXITWITHKEY|5|1|1|10",
        "110|7.1|fallback-112|Operator 1001|BLINDTRANSFER|200|default|4|20|1",
        "110|7.1|fallback-112|Operator 1001|ATTENDEDTRANSFER|BRIDGE|abc-1|4|20|1",
        "110|7.1|fallback-112|Operator 1001|RINGNOANSWER|15000|what|ever",  # not acted on
        "1700000000.5|host-1700000000.1|fallback-112|NONE|QUEUESTART|",
    ]:
        assert refusal(line) is None, line


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_given_any_text_then_feeding_it_never_raises_and_every_line_is_kept_or_refused(
    text: str,
) -> None:
    parser = FallbackQueueLog("fallback-112", ENDPOINTS)
    lines = text.split("\n")
    refused = parser.feed(lines)
    assert len(refused) == parser.malformed
    assert all(lines[r.index].strip() for r in refused)
    parser.completed(now=1e12)


def test_given_an_end_without_its_enterqueue_then_the_first_line_seen_is_the_start() -> None:
    parser = fed(
        "104|7.1|fallback-112|Operator 1001|CONNECT|4|7.2|2",
        "130|7.1|fallback-112|Operator 1001|COMPLETECALLER|4|26|1",
    )
    (call,) = parser.completed(now=130)
    assert (call.entered_at, call.caller, call.agent_id) == (104, "", "1001")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        "1|2|3|4",
        "x|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1",
        "nan|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1",
        "-5|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1",
        "100||fallback-112|NONE|ENTERQUEUE||+62811|1",
        "100|7.1|fallback-112|NONE||",
        "\x00\xff|||||",
    ],
)
def test_given_a_malformed_line_then_it_is_skipped_and_counted_never_raised(line: str) -> None:
    assert parse_line(line) is None
    parser = fed(line)
    assert parser.malformed == (1 if line.strip() else 0)
    assert parser.waiting == 0


def test_given_a_line_with_crlf_then_it_parses() -> None:
    line = parse_line("100|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1\r\n")
    assert line is not None
    assert (line.at, line.call_id, line.event, line.data) == (
        100.0,
        "7.1",
        "ENTERQUEUE",
        ("", "+62811", "1"),
    )


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("Operator 1001", "1001"),  # queues.conf member name (log_membername_as_agent = yes)
        ("PJSIP/1002", "1002"),  # the interface (log_membername_as_agent = no)
        ("PJSIP/1009", "1009"),  # a member that is not a configured call-taker
        ("Supervisor", "Supervisor"),
    ],
)
def test_given_a_queue_member_then_it_maps_to_the_calltaker_id(agent: str, expected: str) -> None:
    endpoints = {e.partition("/")[2]: e for e in ENDPOINTS}
    assert calltaker_id(agent, endpoints) == expected
