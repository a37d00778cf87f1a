"""Failover of a clustered callgate (#21): two callgates on the one lab Asterisk, one leading
through three etcd members, under a steady stream of 112 calls; one fault each run.

Run on the lab (as root; ``/work/tools/labrun WT --cmd python benchmarks/failover.py``
or with ``scripts/lab up`` done)::

    python benchmarks/failover.py [--only sigkill sigstop ...] [--calls 16 --rate 0.5]

Prints one table; it is not a test. Faults: ``sigkill`` (the leader callgate SIGKILLed),
``sigstop`` (paused until the standby leads, then resumed: it must find itself fenced and exit),
``etcd-member`` (an etcd member neither callgate asks first, stopped), ``leader-etcd`` (the member
the leader asks first, stopped), ``journal-failover`` (the journal on a Patroni pair, its
primary's host SIGKILLed), ``node`` (the multi-node lab, ``scripts/lab nodes up``: both
callgates name both Asterisk nodes in ``[nodes]``, the carrier calls the dispatcher, and node1's
Asterisk and the leader callgate, which plays the callgate on node1's host, are SIGKILLed at
once). A CAD client on the lab's Mosquitto reads every call's events for the whole run of each
fault. benchmarks/README.md defines every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

import labetcd  # noqa: E402 - lives in scripts/, not a package
import labpeers  # noqa: E402
from tests.integration.conftest import Daemon, wait_for  # noqa: E402
from tests.integration.patroni_pair import PatroniPair  # noqa: E402
from tests.integration.test_faults_lab import CadStream  # noqa: E402
from tests.integration.test_nodes_lab import (  # noqa: E402
    DISPATCHER,
    NODES,
    NODES_RUN,
    _count,
    _endpoint_state,
    _lab_nodes,
)

from callgate.storage.journal import Journal  # noqa: E402
from callgate.storage.records import CallRecord  # noqa: E402

FAULTS = ("sigkill", "sigstop", "etcd-member", "leader-etcd", "journal-failover", "node")
CALLTAKERS = ("1001", "1002")
#: The node row's call-takers, each registered with both nodes: callers talk 5 s there (the
#: carrier hangs up), so about five talk at once at ``--rate 1`` (SIPp paces a rate below 1 a
#: second one call after another: at 0.5, a call every talk + 2 s).
NODE_CALLTAKERS = tuple(str(1001 + n) for n in range(8))
NODE_TALK = 5
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
    new_rung_s: float | None = None
    journal_lost: int | None = None
    writes_again_s: float | None = None
    cad_broken: int | None = None
    cad_missing: int | None = None
    cad_duplicates: str | None = None
    note: str = ""


def _at(record: dict[str, object]) -> float:
    return datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).timestamp()


def _daemon(
    base: Path,
    name: str,
    urls: list[str],
    site: str,
    journal_url: str | None,
    shared: Daemon | None,
    extra: dict[str, str] | None = None,
) -> Daemon:
    env = {
        **(extra or {}),
        "CALLGATE_CLUSTER__ETCD": json.dumps(urls),
        "CALLGATE_CLUSTER__NODE_NAME": name,
        "CALLGATE_CLUSTER__LEASE_TTL": str(TTL),
        "CALLGATE_CALLTAKERS__WRAP_UP_TIME": "1",
        # One centre, one CAD stream: both callgates publish on the same site's topics.
        "CALLGATE_MQTT__SITE": site,
        # As the fault suite (faults.py): at most 2 s between attempts at a database that is
        # back, not up to 30 s, so "writes again" measures the failover, not the backoff.
        "CALLGATE_STORAGE__RETRY_MAX_SECONDS": "2",
    }
    if journal_url is not None:
        env["CALLGATE_STORAGE__URL"] = journal_url
    elif shared is not None:
        env["CALLGATE_STORAGE__URL"] = f"sqlite+aiosqlite:///{shared.journal_path}"
        env["CALLGATE_STORAGE__SPOOL_DIR"] = str(shared.state_dir / f"spool-{name}")
    daemon = Daemon(base / f"{name}.log", **env)
    if journal_url is None and shared is not None:  # one folder, the journal's, for both
        daemon.state_dir, daemon.journal_path = shared.state_dir, shared.journal_path
    return daemon


def _journal(url: str) -> dict[str, CallRecord]:
    async def read() -> dict[str, CallRecord]:
        journal = await Journal.open(url)
        try:
            return {r.call_id: r for r in await journal.recent_calls(limit=1000)}
        finally:
            await journal.close()

    return asyncio.run(read())


def _ids(daemons: tuple[Daemon, ...], event: str, after: float = 0.0) -> set[str]:
    return {str(r["call_id"]) for d in daemons for r in d.records(event) if _at(r) > after}


def journal_lost(daemons: tuple[Daemon, ...], url: str) -> int:
    """Calls whose journal lacks a row callgate reported in its log: entered without a start
    row, connected without the answer, ended (or entered at all) without the end."""
    return len(journal_lost_ids(daemons, url))


def journal_lost_ids(daemons: tuple[Daemon, ...], url: str) -> set[str]:
    try:
        rows = _journal(url)
    except Exception:  # an unreadable journal: every call counts as lost
        return _ids(daemons, "112 call entered")
    connected = _ids(daemons, "call connected")
    lost = set()
    for call_id in _ids(daemons, "112 call entered"):
        row = rows.get(call_id)
        unanswered = row is not None and call_id in connected and row.answered_at is None
        if row is None or row.ended_at is None or row.outcome is None or unanswered:
            lost.add(call_id)
    return lost


def cad_figures(cad: CadStream, call_ids: set[str]) -> tuple[int, int, str]:
    """Streams broken (reconnects the CAD client needed), calls whose lifecycle is incomplete
    (no ``received``, no ``ended``, or a ``seq`` gap) and duplicates: ``n+m``, n the same
    ``event_id`` again (at least once: CAD drops it), m an event CAD cannot drop (one call's
    ``seq`` twice under two ids, or a second ``received`` or ``ended``)."""
    events = [e for e in cad.events if "seq" in e]  # not the client's own stop message
    by_id = Counter(str(e.get("event_id")) for e in events)
    again = sum(n - 1 for n in by_id.values())
    unique = {str(e.get("event_id")): e for e in events}.values()
    seqs: dict[str, list[int]] = {}
    types: dict[str, Counter[str]] = {}
    conflicting = 0
    for event in unique:
        call_id, seq, kind = str(event.get("call_id")), int(str(event["seq"])), str(event["type"])
        kinds = types.setdefault(call_id, Counter())
        if seq in seqs.get(call_id, ()) or (kind in ("received", "ended") and kinds[kind]):
            conflicting += 1
        seqs.setdefault(call_id, []).append(seq)
        kinds[kind] += 1
    missing = 0
    for call_id in call_ids:
        numbers = sorted(set(seqs.get(call_id, [])))
        kinds = types.get(call_id, Counter())
        gap = not numbers or numbers != list(range(1, numbers[-1] + 1))
        if gap or not kinds["received"] or not kinds["ended"]:
            missing += 1
    return max(cad.connects - 1, 0), missing, f"{again}+{conflicting}"


def _settle(done: Callable[[], bool], timeout: float) -> None:
    """Wait (polling each second: a check opens the journal) until ``done`` or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(1.0)


def _fault_etcd_or_kill(fault: str, leader: Daemon, etcd: labetcd.EtcdMembers) -> None:
    assert leader.process is not None
    if fault == "node":  # node1's host lost: its Asterisk and its callgate at the same moment
        os.kill(int((NODES_RUN / "asterisk1.pid").read_text()), signal.SIGKILL)
        leader.process.send_signal(signal.SIGKILL)
    elif fault == "sigkill":
        leader.process.send_signal(signal.SIGKILL)
    elif fault == "sigstop":
        leader.process.send_signal(signal.SIGSTOP)
    elif fault == "etcd-member":
        etcd.stop_member(2)
    else:
        etcd.stop_member(0)


def _takeover(row: Row, fault: str, leader: Daemon, standby: Daemon, at: float) -> None:
    """From the fault to the new leader's first ring (any caller: one it re-adopted too), and
    to its first ring for a caller who arrived after the fault (the old leader never saw)."""
    wait_for(lambda: bool(standby.records("leading the centre")), 15, "takeover")

    def rings(new_only: bool) -> list[float]:
        old = _ids((leader,), "112 call entered") if new_only else set()
        fresh = _ids((standby,), "112 call entered", at) - old
        return [_at(r) for r in standby.records("ringing call-taker") if r["call_id"] in fresh]

    wait_for(lambda: bool(rings(new_only=True)), 30, "a new caller rung")
    row.takeover_s = round(min(rings(new_only=False)) - at, 2)
    row.new_rung_s = round(min(rings(new_only=True)) - at, 2)
    if fault == "sigstop":
        assert leader.process is not None
        leader.process.send_signal(signal.SIGCONT)
        row.note = f"resumed leader exited {leader.process.wait(timeout=15)}"


def _fail_journal_over(row: Row, pair: PatroniPair, leader: Daemon) -> str:
    """Kill the primary's host; wait for Patroni to promote the standby and for callgate's
    journal to be written again; returns the new primary's name."""
    old = pair.primary()
    assert old is not None
    at = time.time()
    pair.kill_host(old)
    wait_for(lambda: pair.primary() not in (None, old), 60, "Patroni to promote")
    new = pair.primary()
    assert new is not None
    promoted = time.time() - at

    def since(prefix: str) -> list[float]:  # the lines go on past the prefix (what is kept...)
        return [_at(r) for r in leader.records() if str(r["event"]).startswith(prefix)]

    back = "journal database is back"
    wait_for(lambda: any(t > at for t in since(back)), 90, "journal written again")
    row.writes_again_s = round(min(t for t in since(back) if t > at) - at, 2)
    fell = any(t > at for t in since("ALARM: journal database unavailable"))
    row.note = f"{new} promoted after {promoted:.1f} s" + ("" if fell else "; no write fell")
    return new


def _node_env() -> dict[str, str]:
    """``[nodes]`` naming both lab nodes, and the call-takers who register with both."""
    nodes = {f"node{n}": {"ari_url": f"http://{a}:8088", "ami_host": a} for n, a in NODES.items()}
    endpoints = [f"PJSIP/{t}" for t in NODE_CALLTAKERS]
    return {
        "CALLGATE_NODES": json.dumps(nodes),
        "CALLGATE_CALLTAKERS__ENDPOINTS": json.dumps(endpoints),
    }


def _node_phones(base: Path) -> list[labpeers.Softphone]:
    """Each call-taker's softphone with an account on each node (auto-answer)."""
    servers = [(address, 5060) for address in NODES.values()]
    phones = [labpeers.Softphone(t, base / f"phone-{t}", servers=servers) for t in NODE_CALLTAKERS]
    try:
        for phone in phones:
            phone.start()
        for phone in phones:
            for node in NODES:
                wait_for(
                    lambda p=phone, n=node: _endpoint_state(n, p.extension) == "online",  # type: ignore[misc]
                    20,
                    f"{phone.extension} registered with node{node}",
                )
    except BaseException:
        for phone in phones:
            phone.stop()
        raise
    return phones


def _talking(daemon: Daemon, prefix: str) -> set[str]:
    """Calls connected and not ended whose id starts with ``prefix`` (a node's systemname)."""
    talking = _ids((daemon,), "call connected") - _ids((daemon,), "call ended")
    return {call_id for call_id in talking if call_id.startswith(prefix)}


def run_fault(fault: str, calls: int, rate: float, base: Path) -> Row:
    row = Row(fault)
    site = f"fo{uuid.uuid4().hex[:8]}"
    etcd = labetcd.EtcdMembers(base / "etcd")
    pair: PatroniPair | None = None
    phones: list[labpeers.Softphone] = []
    carrier: labpeers.CarrierCalls | None = None
    daemons: tuple[Daemon, ...] = ()
    node = fault == "node"
    try:
        journal_url: str | None = None
        if node:
            _lab_nodes("up")
        if fault == "journal-failover":
            pair = PatroniPair()
            pair.start()
            journal_url = pair.url()
        etcd.start()
        urls = etcd.urls
        # Each callgate asks "its own" member first, as on a host beside it.
        extra = _node_env() if node else None
        leader = _daemon(base, "a", urls, site, journal_url, None, extra)
        standby = _daemon(base, "b", [urls[1], urls[0], urls[2]], site, journal_url, leader, extra)
        daemons = (leader, standby)
        with CadStream(site) as cad:
            leader.start()
            wait_for(lambda: bool(leader.records("ready: taking calls")), 30, "leader ready")
            with contextlib.suppress(RuntimeError):
                standby.start(timeout=0)  # a standby never connects ARI's events
            wait_for(lambda: bool(standby.records("standby: waiting to lead")), 30, "standby")
            if node:
                phones = _node_phones(base / "phones")
            else:
                phones = labpeers.start_phones(CALLTAKERS, base / "phones")
            numbers = [f"0813{i:08d}" for i in range(calls)]
            row.placed = calls
            started = time.time()
            # On the nodes the carrier hangs up (the hang-up helper watches the one lab Asterisk).
            hang_up = contextlib.nullcontext() if node else labpeers.CallTakersHangUp(2.0, phones)
            with hang_up:
                if node:
                    carrier = labpeers.CarrierCalls(
                        callers=numbers,
                        talk_seconds=NODE_TALK,
                        rate_per_second=rate,
                        scenario="carrier-112-routed.xml",
                        target=DISPATCHER,
                        workdir=base / "sipp",
                    )
                else:
                    carrier = labpeers.CarrierCalls(
                        callers=numbers,
                        talk_seconds=60,
                        rate_per_second=rate,
                        workdir=base / "sipp",
                    )
                carrier.start()
                time.sleep(calls / rate / 3)  # the fault a third of the way into the stream
                if node:  # the row is about node1's calls in progress: one at least
                    wait_for(lambda: bool(_talking(leader, "node1-")), 30, "a caller on node1")
                    on_node1 = _talking(leader, "node1-")
                waiting = (
                    _ids((leader,), "112 call entered")
                    - _ids((leader,), "call connected")
                    - _ids((leader,), "call ended")
                )
                row.waiting_at_fault = len(waiting)
                at = time.time()  # (the journal failover takes its own, at the kill)
                if pair is not None:
                    new = _fail_journal_over(row, pair, leader)
                    journal_url = pair.primary_url(new)  # read on the new primary alone
                else:
                    _fault_etcd_or_kill(fault, leader, etcd)
                if fault in ("sigkill", "sigstop", "node"):
                    _takeover(row, fault, leader, standby, at)
                else:
                    time.sleep(5)
                    fenced = [
                        r for r in leader.records() if str(r["event"]).startswith("ALARM: fenced")
                    ]
                    kept = "leader kept leading" if not fenced else "leader fenced"
                    row.note = f"{row.note}; {kept}" if row.note else kept
                carrier.wait(timeout=calls / rate + 150)
            stats = carrier.stats()
            # Counted once every caller is done: a re-adopted caller may be connected well
            # after the new leader's first ring (counted at once, it was missed before).
            row.readopted = len(waiting & _ids((standby,), "call connected", at))
            successful = stats.get("successful", 0)
            connected = _ids(daemons, "call connected")
            row.by_callgate = len(
                {
                    str(r.get("caller"))
                    for d in daemons
                    for r in d.records("112 call entered")
                    if str(r["call_id"]) in connected
                }
            )
            residual = successful - row.by_callgate
            row.by_fallback = max(residual, 0)
            row.lost = calls - successful
            if residual < 0 and not node:
                # Said, not hidden: callers callgate connected whom SIPp counts as failed.
                odd = f"{-residual} connected by callgate but failed at the carrier"
                row.note = f"{row.note}; {odd}" if row.note else odd
            if node:
                # A caller talking on node1 when it died counts as answered and as lost by
                # SIPp (its BYE finds no node): the fallback queues' own count is CONNECT.
                row.by_fallback = _count(1, "CONNECT", started) + _count(2, "CONNECT", started)
                waiting_node1 = {c for c in waiting if c.startswith("node1-")}
                late = _ids((standby,), "112 call entered", at) - _ids(
                    (leader,), "112 call entered"
                )
                late_served = late & _ids((standby,), "call connected")
                row.note = (
                    f"node1 at the fault: {len(on_node1)} talking (ended), {len(waiting_node1)}"
                    f" waiting; after it {len(late)} new callers, {len(late_served)} served,"
                    f" {len([c for c in late if c.startswith('node1-')])} on node1"
                )
            seen = _ids(daemons, "112 call entered")
            live = standby if standby.process and standby.process.poll() is None else leader
            url = journal_url or f"sqlite+aiosqlite:///{live.journal_path}"
            _settle(lambda: journal_lost(daemons, url) == 0, 30)
            row.journal_lost = journal_lost(daemons, url)
            if node:
                rows = _journal(url)
                ended = sum(1 for c in on_node1 if c in rows and rows[c].ended_at is not None)
                row.note = row.note.replace("talking (ended)", f"talking ({ended} ended)")
                if row.journal_lost:  # which, for the report
                    row.note += f"; journal rows lost: {sorted(journal_lost_ids(daemons, url))}"
            # The last events (``ended``) follow the journal's end rows: a little more time.
            _settle(lambda: cad_figures(cad, seen)[1] == 0, 10)
            row.cad_broken, row.cad_missing, row.cad_duplicates = cad_figures(cad, seen)
    finally:
        if carrier is not None:
            carrier.stop()
        for daemon in daemons:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.process.send_signal(signal.SIGCONT)
            daemon.stop()
        for phone in phones:
            phone.stop()
        etcd.stop()
        if pair is not None:
            pair.remove()
        if node:
            _lab_nodes("down", timeout=60)
    return row


def _cell(value: object) -> str:
    return "—" if value is None else str(value)


HEADER = (
    "Fault", "Callers placed", "Answered by callgate", "By fallback queue", "Lost",
    "Waiting at the fault", "Re-adopted", "Takeover (s)", "New caller rung (s)",
    "Journal rows lost",
    "Journal writes again (s)", "CAD streams broken", "CAD calls with events missing",
    "CAD duplicates", "Note",
)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # ``node`` is run alone (--only node --calls 20 --rate 1): at the default 0.5 a second SIPp
    # places one call after another, and it brings the multi-node lab up.
    default = [fault for fault in FAULTS if fault != "node"]
    parser.add_argument("--only", nargs="*", choices=FAULTS, default=default)
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.5, help="new callers a second")
    args = parser.parse_args()
    rows = []
    started = time.monotonic()
    for fault in args.only:
        base = Path(tempfile.mkdtemp(prefix=f"callgate-failover-{fault}-"))
        row, failure = None, ""
        for attempt in (1, 2):
            (base / str(attempt)).mkdir()
            try:
                row = run_fault(fault, args.calls, args.rate, base / str(attempt))
            except Exception as exc:  # one fault's failure must not hide the others
                failure = str(exc).splitlines()[0][:120]
                print(f"{fault}: attempt {attempt} failed: {exc}", file=sys.stderr)
                # What it left in Asterisk would take the next run's call-takers.
                labpeers.hang_up_every_channel()
                continue
            if attempt > 1:  # said, not hidden: the first attempt's failure is a finding too
                row.note = f"{row.note}; 2nd attempt, the 1st failed: {failure}".lstrip("; ")
            break
        rows.append(row or Row(fault, note=f"run failed twice: {failure}"))
        print(f"{fault}: {rows[-1]} (logs in {base})", file=sys.stderr)
    print(f"# {len(rows)} faults in {time.monotonic() - started:.0f} s", file=sys.stderr)
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for r in rows:
        cells = (
            r.fault, r.placed, r.by_callgate, r.by_fallback, r.lost, r.waiting_at_fault,
            r.readopted, r.takeover_s, r.new_rung_s, r.journal_lost, r.writes_again_s,
            r.cad_broken, r.cad_missing, r.cad_duplicates, r.note,
        )  # fmt: skip
        print("| " + " | ".join(_cell(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
