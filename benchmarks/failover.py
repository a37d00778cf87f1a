"""Failover of a clustered callgate (#21): two callgates on the one lab Asterisk, one leading
through three etcd members, under a steady stream of 112 calls; one fault each run.

Run on the lab (as root; ``/work/tools/labrun WT --cmd .venv/bin/python benchmarks/failover.py``
or with ``scripts/lab up`` done)::

    .venv/bin/python benchmarks/failover.py [--only sigkill sigstop ...] [--calls 16 --rate 0.5]

Prints one table; it is not a test. Faults: ``sigkill`` (the leader callgate SIGKILLed),
``sigstop`` (paused until the standby leads, then resumed: it must find itself fenced and exit),
``etcd-member`` (an etcd member neither callgate asks first, stopped), ``leader-etcd`` (the member
the leader asks first, stopped). benchmarks/README.md defines every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

import labetcd  # noqa: E402 - lives in scripts/, not a package
import labpeers  # noqa: E402
from tests.integration.conftest import Daemon, wait_for  # noqa: E402

FAULTS = ("sigkill", "sigstop", "etcd-member", "leader-etcd")
CALLTAKERS = ("1001", "1002")
TTL = 3


@dataclass
class Row:
    fault: str
    placed: int = 0
    by_callgate: int = 0
    by_fallback: int = 0
    lost: int = 0
    waiting_at_fault: int = 0
    readopted: int = 0
    takeover_s: float | None = None
    journal_lost: int = 0
    note: str = ""


def _at(record: dict[str, object]) -> float:
    return datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).timestamp()


def _daemon(base: Path, name: str, urls: list[str], journal: Daemon | None) -> Daemon:
    env = {
        "CALLGATE_CLUSTER__ETCD": json.dumps(urls),
        "CALLGATE_CLUSTER__NODE_NAME": name,
        "CALLGATE_CLUSTER__LEASE_TTL": str(TTL),
        "CALLGATE_CALLTAKERS__WRAP_UP_TIME": "1",
    }
    if journal is not None:
        env["CALLGATE_STORAGE__URL"] = f"sqlite+aiosqlite:///{journal.journal_path}"
        env["CALLGATE_STORAGE__SPOOL_DIR"] = str(journal.state_dir / f"spool-{name}")
    daemon = Daemon(base / f"{name}.log", **env)
    if journal is not None:  # one folder, the journal's, writable by both
        daemon.state_dir, daemon.journal_path = journal.state_dir, journal.journal_path
    return daemon


def run_fault(fault: str, calls: int, rate: float, base: Path) -> Row:
    row = Row(fault)
    etcd = labetcd.EtcdMembers(base / "etcd")
    etcd.start()
    urls = etcd.urls
    # Each callgate asks "its own" member first, as on a host beside it.
    leader = _daemon(base, "a", urls, None)
    standby = _daemon(base, "b", [urls[1], urls[0], urls[2]], leader)
    phones: list[labpeers.Softphone] = []
    carrier: labpeers.CarrierCalls | None = None
    try:
        leader.start()
        wait_for(lambda: bool(leader.records("ready: taking calls")), 30, "leader ready")
        with contextlib.suppress(RuntimeError):
            standby.start(timeout=0)  # a standby never connects ARI's events
        wait_for(lambda: bool(standby.records("standby: waiting to lead")), 30, "standby")
        phones = labpeers.start_phones(CALLTAKERS, base / "phones")
        numbers = [f"0813{i:08d}" for i in range(calls)]
        row.placed = calls
        with labpeers.CallTakersHangUp(2.0, phones):
            carrier = labpeers.CarrierCalls(
                callers=numbers, talk_seconds=60, rate_per_second=rate, workdir=base / "sipp"
            )
            carrier.start()
            time.sleep(calls / rate / 3)  # the fault a third of the way into the stream
            entered = {str(r["call_id"]) for r in leader.records("112 call entered")}
            done = {str(r["call_id"]) for r in leader.records("call connected")}
            done |= {str(r["call_id"]) for r in leader.records("call ended")}
            waiting = entered - done
            row.waiting_at_fault = len(waiting)
            assert leader.process is not None
            at = time.time()
            if fault == "sigkill":
                leader.process.send_signal(signal.SIGKILL)
            elif fault == "sigstop":
                leader.process.send_signal(signal.SIGSTOP)
            elif fault == "etcd-member":
                etcd.stop_member(2)
            else:
                etcd.stop_member(0)
            if fault in ("sigkill", "sigstop"):
                wait_for(lambda: bool(standby.records("leading the centre")), 15, "takeover")
                new = lambda: {  # noqa: E731
                    str(r["call_id"]) for r in standby.records("112 call entered") if _at(r) > at
                }
                wait_for(
                    lambda: any(
                        str(r["call_id"]) in new() for r in standby.records("ringing call-taker")
                    ),
                    30,
                    "a new caller rung",
                )
                first = min(
                    _at(r)
                    for r in standby.records("ringing call-taker")
                    if str(r["call_id"]) in new()
                )
                row.takeover_s = round(first - at, 2)
                if fault == "sigstop":
                    leader.process.send_signal(signal.SIGCONT)
                    code = leader.process.wait(timeout=15)
                    row.note = f"resumed leader exited {code}"
                row.readopted = len(
                    waiting & {str(r["call_id"]) for r in standby.records("call connected")}
                )
            else:
                time.sleep(5)
                fenced = [
                    r for r in leader.records() if str(r["event"]).startswith("ALARM: fenced")
                ]
                row.note = "leader kept leading" if not fenced else "leader fenced"
            carrier.wait(timeout=calls / rate + 150)
        stats = carrier.stats()
        successful = stats.get("successful", 0)
        connected = {
            str(r.get("caller"))
            for d in (leader, standby)
            for r in d.records("112 call entered")
            if str(r["call_id"])
            in {str(c["call_id"]) for x in (leader, standby) for c in x.records("call connected")}
        }
        row.by_callgate = len(connected)
        row.by_fallback = max(successful - row.by_callgate, 0)
        row.lost = calls - successful
        seen = {str(r["call_id"]) for d in (leader, standby) for r in d.records("112 call entered")}
        live = standby if standby.process is not None and standby.process.poll() is None else leader
        with contextlib.suppress(AssertionError):
            wait_for(lambda: all(c.ended_at for c in live.calls()), 30, "journal settled")
        journaled = {c.call_id: c for c in live.calls()}
        row.journal_lost = sum(
            1 for c in seen if c not in journaled or journaled[c].ended_at is None
        )
    finally:
        if carrier is not None:
            carrier.stop()
        for daemon in (leader, standby):
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.process.send_signal(signal.SIGCONT)
            daemon.stop()
        for phone in phones:
            phone.stop()
        etcd.stop()
    return row


def _cell(value: object) -> str:
    return "—" if value is None else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=FAULTS, default=list(FAULTS))
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.5, help="new callers a second")
    args = parser.parse_args()
    rows = []
    for fault in args.only:
        base = Path(tempfile.mkdtemp(prefix=f"callgate-failover-{fault}-"))
        rows.append(run_fault(fault, args.calls, args.rate, base))
        print(f"{fault}: {rows[-1]}", file=sys.stderr)
    print(
        "| Fault | Callers placed | Answered by callgate | By fallback queue | Lost"
        " | Waiting at the fault | Re-adopted | Takeover (s) | Journal rows lost | Note |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = (
            r.fault, r.placed, r.by_callgate, r.by_fallback, r.lost, r.waiting_at_fault,
            r.readopted, r.takeover_s, r.journal_lost, r.note,
        )  # fmt: skip
        print("| " + " | ".join(_cell(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
