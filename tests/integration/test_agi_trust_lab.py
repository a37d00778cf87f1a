"""FastAGI trusts only Asterisk, against the lab daemon: a raw TCP client on the daemon's FastAGI
port forges call-taker 1005's login (a) without the shared secret, (b) with the lab's secret but
a channel Asterisk does not have; neither changes 1005's state. Then (c) 1005's real softphone
dials *11 through the lab dialplan, which sends the secret from the file scripts/lab writes
(/etc/asterisk/callgate-agi-secret.conf in the Asterisk root), and is logged in: the secret and
the ARI channel check let the real thing through. (d) A request naming a real channel of 1005, by
its true name and id, but one on the echo test (600) rather than at the feature codes'
``agent-code``, is refused too: the check asks where in the dialplan the channel is.

Uses only extension 1005 (the daemon is given it as its one call-taker).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import labpeers
import pytest

from .conftest import Daemon, run_cli, wait_for

AGI = ("127.0.0.1", 4573)
CHANNEL = "PJSIP/1005-00000001"
#: 1005 alone, logged out at start: a forged login would show as AVAILABLE.
ONLY_1005 = {
    "CALLGATE_CALLTAKERS__ENDPOINTS": '["PJSIP/1005"]',
    "CALLGATE_CALLTAKERS__LOGGED_IN_AT_START": "false",
}


def header(path: str, uniqueid: str, channel: str = CHANNEL) -> bytes:
    """A whole header block as the lab Asterisk sends it for ``agi://127.0.0.1:4573/<path>``."""
    lines = {
        "agi_network": "yes",
        "agi_network_script": path,
        "agi_request": f"agi://127.0.0.1:4573/{path}",
        "agi_channel": channel,
        "agi_language": "id",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.0.0",
        "agi_callerid": "1005",
        "agi_calleridname": "1005",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "*11",
        "agi_rdnis": "unknown",
        "agi_context": "callgate-agents",
        "agi_extension": "agent-code",
        "agi_priority": "3",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140000000000000",
        "agi_arg_1": "",
    }
    return "".join(f"{key}: {value}\n" for key, value in lines.items()).encode() + b"\n"


def forge(block: bytes, within: float = 15.0) -> tuple[list[str], bool]:
    """Send ``block`` to the daemon's FastAGI port and answer every command with success, as a
    live channel would; return the commands received and whether the daemon closed the
    connection (EOF or reset) before ``within`` ran out."""
    commands: list[str] = []
    buffered = b""
    with socket.create_connection(AGI, timeout=5) as conn:
        conn.sendall(block)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data = conn.recv(4096)
            except ConnectionResetError:
                return commands, True
            except TimeoutError:
                break
            if not data:
                return commands, True
            buffered += data
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                command = line.decode(errors="replace")
                commands.append(command)
                answer = b"200 result=0 endpos=8000\n" if command.startswith("STREAM") else None
                conn.sendall(answer or b"200 result=1\n")
    return commands, False


def state_of_1005() -> str:
    listing = run_cli("agents", "--json")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    agents = {a["agent_id"]: a for a in json.loads(listing.stdout)["agents"]}
    return str(agents["1005"]["state"])


def agi_port_open() -> bool:
    try:
        with socket.create_connection(AGI, timeout=1):
            return True
    except OSError:
        return False


def events(daemon: Daemon, starting: str) -> list[dict[str, object]]:
    return [r for r in daemon.records() if str(r.get("event", "")).startswith(starting)]


@pytest.mark.daemon_env(**ONLY_1005)
def test_given_forged_logins_without_the_secret_or_with_a_made_up_channel_then_1005_stays_out(
    daemon: Daemon,
) -> None:
    # The FastAGI port is bound in the background at start (ARI does not wait for it).
    wait_for(agi_port_open, 20, "the daemon's FastAGI port")
    assert state_of_1005() == "LOGGED_OUT"

    # (a) No secret: the path as the dialplan of before sent it. Closed before any command.
    commands, closed = forge(header("agent/login", uniqueid="1700000000.1"))
    assert (commands, closed) == ([], True)
    wait_for(lambda: bool(events(daemon, "AGI request refused")), 10, "the refusal's warning")
    assert state_of_1005() == "LOGGED_OUT"

    # (b) The lab's secret, but a unique id Asterisk has no channel under: the daemon asks
    # Asterisk over ARI, answers ERROR (the error prompt) and changes nothing.
    path = f"{labpeers.LAB_AGI_SECRET}/agent/login"
    commands, closed = forge(header(path, uniqueid="1700000000.999999"))
    assert closed
    assert commands == [
        'SET VARIABLE CALLGATE_AGENT_RESULT "ERROR"',
        'STREAM FILE custom/callgate/agent-error ""',
    ]
    [refused] = events(daemon, "agent code refused")
    assert (
        refused["event"] == "agent code refused: no such channel in Asterisk at the feature codes"
    )
    assert refused["channel"] == CHANNEL
    assert state_of_1005() == "LOGGED_OUT"
    assert not events(daemon, "call-taker logged in")

    # Neither the secret nor a path holding it is in the daemon's log.
    assert labpeers.LAB_AGI_SECRET not in daemon.log_text()


@pytest.mark.daemon_env(**ONLY_1005)
def test_given_the_lab_dialplan_when_1005_dials_star_11_then_the_real_login_passes_both_checks(
    daemon: Daemon, phones: Callable[..., list[labpeers.Softphone]]
) -> None:
    wait_for(agi_port_open, 20, "the daemon's FastAGI port")
    [phone] = phones("1005")
    assert state_of_1005() == "LOGGED_OUT"
    response = phone.command("dial", "*11")
    assert response.get("ok"), response
    # If this times out with "AGI request refused" in the log, Asterisk sent no or another
    # secret: scripts/lab must write /etc/asterisk/callgate-agi-secret.conf in the root.
    wait_for(lambda: state_of_1005() != "LOGGED_OUT", 20, "1005's *11 to log it in")
    assert state_of_1005() == "AVAILABLE"
    assert not events(daemon, "AGI request refused"), daemon.log_text()[-2000:]
    assert not events(daemon, "agent code refused"), daemon.log_text()[-2000:]
    assert labpeers.LAB_AGI_SECRET not in daemon.log_text()


def _echo_channel() -> dict[str, object] | None:
    """1005's channel on the echo test (extension 600 of [callgate-agents]), as ARI lists it."""
    channels = labpeers.ari_get("/channels")
    for channel in channels if isinstance(channels, list) else []:
        dialplan = channel.get("dialplan") or {}
        if str(channel["name"]).startswith("PJSIP/1005-") and dialplan.get("exten") == "600":
            return dict(channel)
    return None


@pytest.mark.daemon_env(**ONLY_1005)
def test_given_1005_on_the_echo_test_when_a_request_names_that_real_channel_then_refused(
    daemon: Daemon, phones: Callable[..., list[labpeers.Softphone]]
) -> None:
    wait_for(agi_port_open, 20, "the daemon's FastAGI port")
    [phone] = phones("1005")
    assert state_of_1005() == "LOGGED_OUT"
    response = phone.command("dial", "600")
    assert response.get("ok"), response
    wait_for(lambda: _echo_channel() is not None, 15, "1005's echo-test channel in ARI")
    channel = _echo_channel()
    assert channel is not None
    # The secret, the channel's real id and name: only its place in the dialplan is wrong.
    path = f"{labpeers.LAB_AGI_SECRET}/agent/login"
    commands, closed = forge(header(path, str(channel["id"]), str(channel["name"])))
    assert closed
    assert commands == [
        'SET VARIABLE CALLGATE_AGENT_RESULT "ERROR"',
        'STREAM FILE custom/callgate/agent-error ""',
    ]
    assert [r["event"] for r in events(daemon, "agent code refused")] == [
        "agent code refused: no such channel in Asterisk at the feature codes"
    ]
    assert state_of_1005() == "LOGGED_OUT"
    phone.command("hangup")
