"""A caller ID that tries to forge queue_log lines, on the real lab (Asterisk 22 or 16).

The carrier (SIPp) sends a 112 call whose From and P-Asserted-Identity user part carries an
escaped ``|`` and line break (``%7C``, ``%0A``) spelling a forged CONNECT and ABANDON of a call
``1.1`` "answered by 1001", and a display name with ``|`` too: what a VoIP-originated call can
bring. Once callgate answers it, once the fallback queue (callgate stopped). Then: the dialplan
wrote the number as sent filtered, queue_log holds no forged line, callgate's journal has the
two calls with the right call-taker and outcome and nothing else, and the caller's own number is
the only thing that changed. A pause reason with U+2028, NEL, ``|`` and a leading ``=`` goes
through the admin API into callgate's own queue_log and the report's CSV on the way.
"""

from __future__ import annotations

import csv
import json
import string
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import labpeers
import pytest

from callgate.asterisk.queue_log import refusal
from callgate.storage.records import CallRecord

from .conftest import Daemon, run_cli, wait_for

_RUN = f"{int(time.time()) % 10**5:05d}"
#: The caller's own number: what must survive, in the shape carriers send it (national).
NUMBERS = {"callgate": f"08{_RUN}1", "fallback": f"08{_RUN}2"}
FORGED_CALL = "1.1"
#: The lines an unfiltered dialplan wrote after the CALLGATEINFO's number (the last one then
#: ending with the info's "|112|<reason>"), which callgate's reader took before #25: a call
#: 1.1 "answered by 1001". Short: PJSIP may keep only 80 bytes of a caller ID number.
FORGED = [
    f"1|{FORGED_CALL}|fallback-112|1001|CONNECT",
    f"1|{FORGED_CALL}|fallback-112|1001|ABANDON",
]
#: What the dialplan lets through of a number as sent (its FILTER()).
SENT_CHARS = set("+*#._" + string.digits + string.ascii_letters)
PAUSE_REASON = "=1+1|x\u2028y\x85z"


def _user_part(number: str) -> str:
    """The SIP user part: the number, then the forged lines, each behind an escaped newline."""
    decoded = number + "".join("\n" + line for line in FORGED)
    return urllib.parse.quote(decoded, safe="+.")


def _filtered(text: str) -> str:
    return "".join(c for c in text if c in SENT_CHARS)


def _caller_channel_ids() -> dict[str, str]:
    """What Asterisk made of the trunk caller's identity (ANI keeps the number as PJSIP
    delivered it; the dialplan rewrites CALLERID(num)); empty if no caller channel is up."""
    channels = labpeers.ari_get("/channels")
    assert isinstance(channels, list)
    for channel in channels:
        if str(channel.get("name", "")).startswith("PJSIP/jasnita"):
            out: dict[str, str] = {}
            for var in ("CALLERID(ani-num)", "CALLERID(name)", "CALLGATE_CALLER_SENT"):
                query = urllib.parse.quote(var)
                value = labpeers.ari_get(f"/channels/{channel['id']}/variable?variable={query}")
                out[var] = str(value.get("value", "")) if isinstance(value, dict) else ""
            return out
    return {}


def _hostile_call(
    carrier: Callable[..., labpeers.CarrierCalls], tmp_path: Path, number: str, leg: str
) -> dict[str, str]:
    calls = labpeers.CarrierCalls(
        # "number;display name" (the scenario's field0 and field1)
        callers=[f"{_user_part(number)};Operator|1001|CONNECT"],
        talk_seconds=8,
        scenario="carrier-112-display-name.xml",
        workdir=tmp_path / f"sipp-{leg}",
    )
    calls.start()
    seen: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 6
        while not seen and time.monotonic() < deadline:
            time.sleep(0.5)
            seen = _caller_channel_ids()
        assert calls.wait(timeout=60) == 0, calls.errors()
        assert calls.stats() == {"successful": 1, "failed": 0}
    finally:
        calls.stop()
    return seen


def _check_sent(call: CallRecord, number: str) -> None:
    """The number as sent is the caller's, filtered (cut where PJSIP cut it), never more."""
    raw = _user_part(number)
    decoded = urllib.parse.unquote(raw)
    assert call.caller_sent.startswith(number), call.caller_sent
    assert set(call.caller_sent) <= SENT_CHARS, call.caller_sent
    assert _filtered(decoded).startswith(call.caller_sent) or _filtered(raw).startswith(
        call.caller_sent
    ), call.caller_sent
    assert call.caller.startswith("+62" + number[1:]), call.caller
    assert call.caller[1:].isdigit(), call.caller


def _new_lines(path: Path, offset: int) -> list[str]:
    data = path.read_bytes()[offset:]
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    assert lines[-1] == "", "a line left unfinished"
    # Nothing another reader would split elsewhere (VT, FF, NEL, U+2028...).
    assert text.splitlines() == lines[:-1]
    return lines[:-1]


#: Where the test leaves what the caller ID became at each step, passed or failed.
FOUND_FILE = Path("/tmp/callgate-callerid-injection.json")


@pytest.fixture
def found() -> Iterator[dict[str, object]]:
    seen: dict[str, object] = {}
    yield seen
    FOUND_FILE.write_text(json.dumps(seen, ensure_ascii=True, indent=1) + "\n")
    print("\ncaller ID injection:", json.dumps(seen, ensure_ascii=True, indent=1))


@pytest.mark.daemon_env(
    CALLGATE_FALLBACK__QUEUE_LOG=str(labpeers.QUEUE_LOG),
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
    CALLGATE_QUEUE_LOG__PATH="queue_log",
)
def test_given_a_caller_id_with_escaped_pipes_and_line_breaks_then_nothing_is_forged(
    daemon: Daemon,
    tmp_path: Path,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
    found: dict[str, object],
) -> None:
    t0 = datetime.now(UTC) - timedelta(seconds=2)
    wait_for(lambda: "ready: taking calls" in daemon.log_text(), 30, "the daemon to be ready")
    (phone,) = phones("1001")

    # -- a pause reason from the API that is a formula with line separators in it -----------
    paused = run_cli("agents", "pause", "1001", "--reason", PAUSE_REASON)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    unpaused = run_cli("agents", "unpause", "1001")
    assert unpaused.returncode == 0, unpaused.stdout + unpaused.stderr

    # -- callgate answers the hostile call ----------------------------------------------------
    found["Asterisk channel, callgate leg"] = _hostile_call(
        carrier, tmp_path, NUMBERS["callgate"], "callgate"
    )
    wait_for(
        lambda: any(c.caller_sent.startswith(NUMBERS["callgate"]) and c.ended_at
                    for c in daemon.calls()),
        20,
        "callgate's call journaled",
    )  # fmt: skip
    time.sleep(2)  # its queue_log lines written
    own_log = daemon.state_dir / "queue_log"
    own_lines = _new_lines(own_log, 0)
    assert all(refusal(line) is None for line in own_lines), own_lines
    (pause,) = [line.split("|") for line in own_lines if line.split("|")[4] == "PAUSE"]
    assert pause[5] == "=1+1/x y z"
    found["own queue_log PAUSE"] = pause[5]
    enter = [line.split("|") for line in own_lines if line.split("|")[4] == "ENTERQUEUE"]
    assert len(enter) == 1
    assert len(enter[0]) == 7
    found["own queue_log ENTERQUEUE caller"] = enter[0][6]

    # -- callgate stopped: the fallback queue answers the next one ---------------------------
    daemon.stop()
    offset = labpeers.QUEUE_LOG.stat().st_size if labpeers.QUEUE_LOG.exists() else 0
    found["Asterisk channel, fallback leg"] = _hostile_call(
        carrier, tmp_path, NUMBERS["fallback"], "fallback"
    )
    assert phone.rtp_received_packets() != []
    time.sleep(2)  # app_queue's COMPLETECALLER
    lines = _new_lines(labpeers.QUEUE_LOG, offset)
    assert all(refusal(line) is None for line in lines), lines
    assert not [line for line in lines if line.split("|")[1] == FORGED_CALL], lines
    infos = [line for line in lines if "|CALLGATEINFO|" in line]
    assert len(infos) == 1, lines
    info = infos[0].split("|")
    assert len(info) == 8, info
    found["Asterisk queue_log CALLGATEINFO"] = infos[0]
    fallback_id = info[1]
    assert {line.split("|")[1] for line in lines} <= {fallback_id, "NONE"}, lines
    events = [line.split("|")[4] for line in lines if line.split("|")[1] == fallback_id]
    assert events[:2] == ["CALLGATEINFO", "ENTERQUEUE"], events
    assert "CONNECT" in events, events
    assert events[-1] == "COMPLETECALLER", events

    daemon.start()
    wait_for(
        lambda: any(c.call_id == fallback_id and c.recording is not None for c in daemon.calls()),
        40,
        "the fallback call journaled with its recording",
    )
    daemon.stop()

    # -- the journal: the two calls, right, and nothing else -----------------------------------
    ours = [c for c in daemon.calls() if c.started_at >= t0]
    assert {c.call_id for c in ours} >= {fallback_id}
    assert FORGED_CALL not in {c.call_id for c in daemon.calls()}
    assert len(ours) == 2, [(c.call_id, c.caller, c.caller_sent) for c in ours]
    by_leg = {
        leg: next(c for c in ours if c.caller_sent.startswith(number))
        for leg, number in NUMBERS.items()
    }
    for leg, call in by_leg.items():
        _check_sent(call, NUMBERS[leg])
        assert call.answered_by == "1001", call
        assert [(a.agent_id, a.role) for a in call.agents] == [("1001", "call-taker")], call
        found[f"journal {leg}: caller_sent"] = call.caller_sent
        found[f"journal {leg}: caller"] = call.caller
    assert by_leg["fallback"].call_id == fallback_id
    assert by_leg["fallback"].outcome == "FALLBACK"
    assert by_leg["callgate"].outcome != "FALLBACK"
    refused = [r for r in daemon.records() if str(r.get("event", "")).startswith("queue_log line")]
    assert not [r for r in refused if int(str(r.get("byte_offset") or 0)) >= offset], refused

    # -- the report's CSV: the pause reason is text, not a formula -----------------------------
    config = tmp_path / "report.toml"
    config.write_text(f'[storage]\nurl = "sqlite+aiosqlite:///{daemon.journal_path}"\n')
    end = datetime.now(UTC) + timedelta(minutes=2)
    report = run_cli(
        "report", "--config", str(config), "--calltakers", "--tz", "UTC",
        "--from", (t0 - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M"),
        "--to", end.strftime("%Y-%m-%d %H:%M"), "--csv", str(tmp_path / "csv"),
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    with (tmp_path / "csv" / "calltaker_pauses.csv").open(newline="") as stream:
        reasons = {r["reason"] for r in csv.DictReader(stream) if r["calltaker"] == "1001"}
    assert "'" + PAUSE_REASON in reasons, reasons
    found["report CSV pause reason"] = "'" + PAUSE_REASON
