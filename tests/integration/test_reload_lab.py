"""Reloading the configuration on the real lab (#15 item 4): during a burst of calls with one
call-taker, ``callgate reload`` adds a second whose phone is registered; they start taking
calls, no caller is lost or sent to the fallback queue, and the daemon is the same process.
Then a file with a bad key is refused on SIGHUP (the log names the key) and calls still flow.

The daemon runs with a config file in its state folder (``run --config``): a reload reads the
file again, and the environment (which the fixtures use for the journal and the lab's users)
still overrides it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import labpeers

from .conftest import Daemon, run_cli, wait_for
from .test_faults_lab import Traffic

#: Our callers' numbers: 08199<run><n> (Traffic numbers them by this "fault").
FAULT = 9
REFUSED = "configuration reload refused; the running configuration is kept"


def config(*calltakers: str, extra: str = "") -> str:
    endpoints = ", ".join(f'"PJSIP/{c}"' for c in calltakers)
    return (
        "[calltakers]\n"
        f"endpoints = [{endpoints}]\n"
        # Short cycles keep the burst short: a call-taker is free again a second after a call.
        "wrap_up_time = 1\n"
        "[acd]\n"
        # Long enough that no caller of the burst overflows: one lost to the fallback queue
        # would be a failure of the reload, not of the staffing.
        "max_wait = 120\n" + extra
    )


def _connected_by(daemon: Daemon, agent_id: str) -> int:
    return sum(1 for r in daemon.records("call connected") if r.get("agent_id") == agent_id)


def test_given_a_burst_when_a_call_taker_is_added_by_reload_then_no_caller_is_lost(
    tmp_path: Path, phones: Callable[..., list[labpeers.Softphone]]
) -> None:
    daemon = Daemon(tmp_path / "callgate.log", config=config("1001"))
    # Both phones registered before the start: 1002 is a phone, not yet a call-taker.
    takers = phones("1001", "1002")
    traffic = Traffic(FAULT, daemon, tmp_path)
    try:
        with labpeers.CallTakersHangUp(3.0, takers):
            daemon.start()
            assert daemon.process is not None
            pid = daemon.process.pid
            wait_for(lambda: "ready: taking calls" in daemon.log_text(), 30, "callgate ready")
            # 8 callers patient enough (50 s) to wait for one call-taker, 2 a second.
            traffic.place(8, talk_seconds=50.0, rate=2.0)
            wait_for(lambda: _connected_by(daemon, "1001") >= 1, 15, "1001's first call")
            daemon.write_config(config("1001", "1002"))
            reloaded = run_cli("reload")
            assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
            assert "configuration reloaded: [calltakers]" in reloaded.stdout
            wait_for(lambda: _connected_by(daemon, "1002") >= 1, 20, "1002 to take a call")

            # A bad key now: refused on SIGHUP (systemctl reload), the running config kept.
            daemon.write_config(config("1001", "1002", extra='strategy = "nope"\n'))
            daemon.reload()
            wait_for(lambda: bool(daemon.records(REFUSED)), 10, "the bad file to be refused")
            [refused] = daemon.records(REFUSED)
            assert "acd.strategy" in str(refused.get("error"))
            # Calls still flow, by the configuration that runs.
            traffic.place(2, talk_seconds=50.0, rate=2.0)
            failures = traffic.wait_done(timeout=60.0)
            assert not failures, failures
            wait_for(
                lambda: set(traffic.where().values()) == {"callgate"},
                10,
                "every caller to be connected by callgate",
            )
            # The same process all along: a reload is not a restart.
            assert daemon.process.poll() is None
            assert daemon.process.pid == pid
    finally:
        traffic.stop()
        daemon.stop()
    where = traffic.where()
    assert [n for n, w in where.items() if w != "callgate"] == []  # none lost, none in fallback
    assert len(where) == 10
    assert _connected_by(daemon, "1002") >= 1
    assert len(daemon.records("callgate starting")) == 1  # started once
