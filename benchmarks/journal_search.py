"""An inquiry's search on a year of a large centre's journal (#23, item 8).

Run: ``.venv/bin/python benchmarks/journal_search.py [--calls 1000000] [--url URL | --postgres]``
(prints a table; not a test). Without ``--url`` a SQLite file in a temporary folder; with a
``postgresql+asyncpg://`` URL an empty database there (the tables are created by the
migrations and filled; drop it afterwards); ``--postgres``: a throwaway PostgreSQL 15 cluster
on a free loopback port, as tests/integration/test_journal_postgres.py starts it (as root:
run as the ``postgres`` user), stopped by its PID at the end.

The journal is filled with ``--calls`` calls spread over 2024 (Jakarta's 112 took about 640,000
that year), each with its events as the daemon writes them: four state changes, the call-taker
of an answered call with its ``call-answered`` and ``call-ended`` rows, its recording, and a
disposition for half of them. Callers repeat (a pool of a third as many numbers), 60
call-takers. Then each search runs ``--runs`` times through the code the admin API runs
(:func:`callgate.storage.inquiries.search_calls`, with its total): by a caller's number (every
spelling), a day's first page (50 calls, newest first), a call-taker's first page over the
year; and the export of one call's bundle (a 2-minute WAV) through the daemon's service.
Target (#23): p95 under 100 ms by number, under 300 ms for a day's page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import pwd
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from callgate.daemon.inquiry_service import InquiryService, caller_prefixes
from callgate.storage import inquiries
from callgate.storage.journal import Journal
from callgate.storage.tables import metadata

YEAR = datetime(2024, 1, 1, tzinfo=UTC)
WIB = ZoneInfo("Asia/Jakarta")
CALLTAKERS = [str(1001 + n) for n in range(60)]
BATCH = 20_000
SHA = "ab" * 32


def _rows(n: int, count: int, rng: random.Random, callers: list[str]) -> dict[str, list[Any]]:
    """The rows of calls ``n`` .. ``n + count - 1``."""
    tables: dict[str, list[Any]] = {
        "calls": [], "call_transitions": [], "call_agents": [], "recordings": [],
        "call_annotations": [], "agent_events": [],
    }  # fmt: skip
    seconds = 366 * 86400 / TOTAL[0]
    for k in range(n, n + count):
        call_id = f"{1704067200 + k}.{k}"
        start = YEAR + timedelta(seconds=k * seconds + rng.random() * seconds)
        caller = rng.choice(callers)
        roll = rng.random()
        outcome = (
            "COMPLETED" if roll < 0.6 else "ABANDONED" if roll < 0.9
            else "OVERFLOWED" if roll < 0.95 else "FALLBACK"
        )  # fmt: skip
        answered = outcome == "COMPLETED"
        agent = rng.choice(CALLTAKERS) if answered else None
        answer = start + timedelta(seconds=rng.uniform(2, 30))
        end = answer + timedelta(seconds=rng.uniform(20, 300))
        tables["calls"].append({
            "call_id": call_id, "caller": caller, "caller_sent": "0" + caller[3:], "dialed": "112",
            "priority": 1, "category": "none", "started_at": start, "state": outcome,
            "ended_at": end, "outcome": outcome, "answered_at": answer if answered else None,
            "answered_by": agent, "identity": None,
            "destination": "fallback-queue" if outcome == "FALLBACK" else None,
        })  # fmt: skip
        steps = [(None, "ARRIVED"), ("ARRIVED", "QUEUED"), ("QUEUED", "OFFERED"),
                 ("OFFERED", "CONNECTED" if answered else outcome)]  # fmt: skip
        for i, (before, after) in enumerate(steps):
            tables["call_transitions"].append({
                "call_id": call_id, "at": start + timedelta(seconds=i), "from_state": before,
                "to_state": after, "trigger": "T",
            })  # fmt: skip
        if agent is not None:
            tables["call_agents"].append(
                {"call_id": call_id, "agent_id": agent, "role": "call-taker", "at": answer}
            )
            tables["recordings"].append({
                "call_id": call_id, "status": "READY", "at": end,
                "path": f"/var/spool/asterisk/monitor/callgate/{call_id}.wav", "sha256": SHA,
                "size_bytes": 1000, "duration_s": 60.0, "reason": None, "deleted_at": None,
            })  # fmt: skip
            for event, at in (("call-answered", answer), ("call-ended", end)):
                tables["agent_events"].append({
                    "at": at, "agent_id": agent, "event": event, "reason": None,
                    "call_id": call_id, "cause": "bench", "by": None,
                })  # fmt: skip
            if rng.random() < 0.5:
                tables["call_annotations"].append({
                    "call_id": call_id, "disposition": "genuine", "disposition_by": agent,
                    "disposition_at": end,
                })  # fmt: skip
    return tables


TOTAL = [0]


async def fill(url: str, calls: int, seed: int) -> list[str]:
    """Fill the journal; the callers' pool."""
    TOTAL[0] = calls
    rng = random.Random(seed)
    callers = [f"+628{rng.randrange(10**9, 10**10)}" for _ in range(max(1, calls // 3))]
    engine = create_async_engine(url)
    tables = metadata.tables
    try:
        for n in range(0, calls, BATCH):
            rows = _rows(n, min(BATCH, calls - n), rng, callers)
            async with engine.begin() as connection:
                for name, values in rows.items():
                    if values:
                        await connection.execute(insert(tables[name]), values)
            print(f"\r  filled {min(n + BATCH, calls):,} calls", end="", file=sys.stderr)
        print(file=sys.stderr)
    finally:
        await engine.dispose()
    return callers


async def timed(runs: int, one: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for k in range(runs):
        began = time.perf_counter()
        await one(k)
        out.append((time.perf_counter() - began) * 1000)
    return out


async def measure(url: str, calls: int, runs: int, seed: int, folder: Path) -> list[list[str]]:
    began = time.perf_counter()
    journal = await Journal.open(url)
    callers = await fill(url, calls, seed)
    filled = time.perf_counter() - began
    rng = random.Random(seed + 1)
    query = inquiries.CallQuery

    async def by_number(_: int) -> object:
        national = "0" + rng.choice(callers)[3:]
        return await inquiries.search_calls(journal, query(callers=caller_prefixes(national)))

    async def by_day(_: int) -> object:
        day = datetime.combine(
            (YEAR + timedelta(days=rng.randrange(365))).date(), datetime.min.time(), WIB
        )
        return await inquiries.search_calls(
            journal, query(since=day, until=day + timedelta(days=1)), per_page=50
        )

    async def by_calltaker(_: int) -> object:
        return await inquiries.search_calls(journal, query(calltaker=rng.choice(CALLTAKERS)))

    audio = bytes(rng.getrandbits(8) for _ in range(120 * 16000))  # 2 min, 8 kHz 16-bit
    wav = folder / "callgate" / "bench.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    wav.write_bytes(audio)
    service = InquiryService(journal, folder, zone=WIB, retention_days=90)
    [answered], _ = await inquiries.search_calls(
        journal, query(calltaker=CALLTAKERS[0]), per_page=1
    )
    await journal.recording_ready(
        answered.call_id, path=str(wav), sha256=hashlib.sha256(audio).hexdigest(),
        size_bytes=len(audio), duration_s=120.0, at=answered.started_at,
    )  # fmt: skip

    async def export(_: int) -> object:
        bundle = await service.export(answered.call_id, "benchmark", "bench")
        assert isinstance(bundle, bytes)
        return bundle

    table = []
    try:
        for name, one, target in (
            ("by number (every spelling)", by_number, "100"),
            ("a day's first page (50)", by_day, "300"),
            ("a call-taker's first page, a year", by_calltaker, "-"),
            ("export a bundle (2-min WAV)", export, "-"),
        ):
            await one(0)  # warm the cache once
            times = await timed(runs, one)
            p50 = statistics.median(times)
            p95 = statistics.quantiles(times, n=20)[18] if len(times) > 1 else times[0]
            table.append([name, f"{p50:.1f}", f"{p95:.1f}", target])
    finally:
        await journal.close()
    table.append([f"fill {calls:,} calls with their events (s)", f"{filled:.0f}", "", ""])
    return table


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster's URL (durability off: a benchmark's data)."""
    base = Path(tempfile.mkdtemp(prefix="callgate-pg-bench-"))
    as_user = "postgres" if os.geteuid() == 0 else None
    if as_user is not None:
        owner = pwd.getpwnam(as_user)
        os.chown(base, owner.pw_uid, owner.pw_gid)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [PG_BIN / "initdb", "-D", str(base / "data"), "-U", "bench", "--auth=trust",
             "--no-sync", "--no-instructions", "--encoding=UTF8", "--locale=C"],
            check=True, capture_output=True, timeout=120, user=as_user, cwd=base,
        )  # fmt: skip
        server = subprocess.Popen(
            [PG_BIN / "postgres", "-D", str(base / "data"), "-h", "127.0.0.1", "-p", str(port),
             "-k", str(base), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=as_user, cwd=base,
        )  # fmt: skip
        for _ in range(200):
            ready = [PG_BIN / "pg_isready", "-h", "127.0.0.1", "-p", str(port), "-t", "1"]
            if subprocess.run(ready, capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.1)
        create = [PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "bench", "bench"]
        subprocess.run(create, check=True, capture_output=True, timeout=30)
        yield f"postgresql+asyncpg://bench@127.0.0.1:{port}/bench"
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # a fast shutdown, by its PID
            server.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--url", help="a database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL 15")
    parser.add_argument("--runs", type=int, default=200, help="runs of each search")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callgate-bench-") as tmp, contextlib.ExitStack() as s:
        url = args.url or f"sqlite+aiosqlite:///{tmp}/journal.db"
        if args.postgres:
            url = s.enter_context(postgres())
        table = asyncio.run(measure(url, args.calls, args.runs, args.seed, Path(tmp)))
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"\n{database}, {args.calls:,} calls, {args.runs} runs each\n")
    print("| Search | p50 (ms) | p95 (ms) | target p95 (ms) |")
    print("|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
