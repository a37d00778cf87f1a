"""The journal survives its PostgreSQL host dying (#21 item 7): callgate on the lab Asterisk with
its journal on a Patroni pair (:mod:`.patroni_pair`, synchronous replication), and its
``[storage] url`` naming both hosts with ``target_session_attrs=read-write``.

During a steady stream of lab 112 calls the primary's host dies (its Patroni and its PostgreSQL
SIGKILLed, by PID); Patroni promotes the synchronous standby once the dead leader's key expires;
callgate's database-outage path keeps what it cannot write and writes it to the new primary once
a connection reaches it. At the end every call placed has its rows (entered, answered, ended) on
the new primary, read there by its own address: 0 rows lost; every caller talked to a call-taker
through callgate. Prints (and writes to the fault table, see test_faults_lab) the seconds until
the standby took writes and until callgate's journal was written again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import labpeers

from .conftest import wait_for
from .patroni_pair import PASSWORD, PatroniPair
from .test_faults_lab import _before, _count, fault_run


def _writable(port: int) -> bool:
    """The server on ``port`` takes writes (a primary, out of recovery)."""

    async def probe() -> bool:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=port, user="callgate", password=PASSWORD,
            database="callgate", timeout=2,
        )  # fmt: skip
        try:
            return not await connection.fetchval("SELECT pg_is_in_recovery()")
        finally:
            await connection.close()

    try:
        return asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False


def test_journal_survives_the_primary_host_dying(
    tmp_path: Path, phones: Callable[..., list[labpeers.Softphone]]
) -> None:
    pair = PatroniPair()
    try:
        pair.start()
        old = pair.primary()
        assert old is not None
        with fault_run("journal failover", 7, tmp_path, phones, journal_url=pair.url()) as run:
            _before(run, 3)
            # The stream goes on through the failover: calls in flight when the host dies,
            # and calls arriving while no server takes writes.
            run.traffic.place(2, rate=1.0)
            time.sleep(1.0)
            killed = time.monotonic()
            pair.kill_host(old)
            run.traffic.place(2, rate=1.0)
            new = old
            while new == old:
                wait_for(lambda: pair.primary() not in (None, old), 60, "Patroni to promote")
                new = pair.primary() or old
            wait_for(lambda: _writable(pair.port(new)), 30, f"{new} to take writes")
            promoted_s = round(time.monotonic() - killed, 1)
            run.traffic.place(2, rate=1.0)
            assert _count(run.daemon, "ALARM: journal database unavailable") >= 1, (
                "no journal write fell in the failover: the test proved nothing"
            )
            wait_for(
                lambda: _count(run.daemon, "journal database is back") >= 1,
                60,
                "callgate's journal to be written again",
            )
            unwritable_s = round(time.monotonic() - killed, 1)
            run.traffic.place(2, rate=1.0)
            run.figures.outage_s = promoted_s
            run.figures.recover_s = unwritable_s
            run.figures.notes.append(f"primary {old} killed; {new} promoted in {promoted_s} s")
            print(
                f"\njournal failover: {new} took writes {promoted_s} s after {old}'s host died;"
                f" callgate's journal unwritable for at most {unwritable_s} s"
            )
            # Read the journal on the new primary alone: every row must be there.
            run.journal_url = pair.primary_url(new)
            run.settle_and_check()
            assert run.figures.records_lost == 0
            # Not one record of any writer (calls, CAD outbox, callbacks) taken for a bad one.
            assert _count(run.daemon, "database refused a record; dropped") == 0
    finally:
        pair.remove()
