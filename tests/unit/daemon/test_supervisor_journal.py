"""A supervisor's steps on a call (#24) in its journal and its timeline: who gave the caller to
whom, who asked to listen, whisper or barge, and when they joined and left; a refused request
or a phone never rung leaves no step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callgate.core.supervision import SupervisorAnswered
from callgate.daemon.journaling import CallJournal
from callgate.daemon.timeline import Clock, summary_text, timeline_json
from callgate.ports import CallStarted, SupervisorMonitoring
from callgate.storage import inquiries as store
from callgate.storage.journal import Journal

T0 = datetime(2026, 12, 7, 5, 0, tzinfo=UTC).timestamp()  # 12:00 WIB


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield journal
    await journal.close()


async def test_the_supervisors_steps_are_journaled_and_told_in_the_timeline(
    journal: Journal,
) -> None:
    writer = CallJournal(journal)
    writer.start()
    for note in (
        CallStarted("c1", "+6281234560001", "081234560001", "112", 1, T0),
        SupervisorAnswered("assign", "not-free", "c1", "1001", "sari", "r1", T0 + 5),
        SupervisorAnswered("assign", "ok", "c1", "1002", "sari", "r2", T0 + 6),
        SupervisorAnswered("listen", "ok", "c1", "1002", "budi", "r3", T0 + 20),
        SupervisorMonitoring("c1", "1002", "budi", "listen", "joined", T0 + 25),
        SupervisorAnswered("barge", "ok", "c1", "1002", "sari", "r4", T0 + 30),
        SupervisorMonitoring("c1", "1002", "sari", "barge", "failed", T0 + 30, "phone-failed"),
        SupervisorMonitoring("c1", "1002", "budi", "listen", "left", T0 + 40),
    ):
        await writer.notification(note)
    await writer.close()

    record = await journal.get_call("c1")
    assert record is not None
    steps = [(a.agent_id, a.role, a.at.timestamp() - T0) for a in record.agents]
    assert sorted(steps, key=lambda s: s[2]) == [
        ("sari", "supervisor:assign:1002", 6),
        ("budi", "supervisor:listen", 20),
        ("budi", "supervisor:listen:joined", 25),
        ("sari", "supervisor:barge", 30),
        ("budi", "supervisor:listen:left", 40),
    ]

    f = await store.call_file(journal, "c1")
    assert f is not None
    timeline = timeline_json(f, Clock(ZoneInfo("Asia/Jakarta")), 90)
    told = [(e["kind"], e["text"], e["by"]) for e in timeline["events"] if e["by"]]
    assert told == [
        ("supervisor-assigned", "Supervisor sari memberikan penelepon ke petugas 1002", "sari"),
        ("supervisor-requested", "Supervisor budi meminta dengar: teleponnya berdering", "budi"),
        ("supervisor-joined", "Supervisor budi masuk ke percakapan (dengar)", "budi"),
        ("supervisor-requested", "Supervisor sari meminta gabung: teleponnya berdering", "sari"),
        ("supervisor-left", "Supervisor budi keluar dari percakapan (dengar)", "budi"),
    ]
    text = summary_text(timeline, exported_by="sari", exported_at="-", reason="uji")
    assert "12:00:25+07:00  Supervisor budi masuk ke percakapan (dengar) [budi]" in text


async def test_a_long_call_taker_id_still_fits_the_journals_role(journal: Journal) -> None:
    writer = CallJournal(journal)
    writer.start()
    await writer.notification(CallStarted("c1", "+6281234560001", "0812", "112", 1, T0))
    await writer.notification(SupervisorAnswered("assign", "ok", "c1", "x" * 32, "sari", "", T0))
    await writer.close()
    record = await journal.get_call("c1")
    assert record is not None
    assert [(a.agent_id, a.role) for a in record.agents] == [("sari", "supervisor:assign")]
    f = await store.call_file(journal, "c1")
    assert f is not None
    [event] = [e for e in timeline_json(f, Clock(UTC), 90)["events"] if e["by"]]
    assert event["text"] == "Supervisor sari memberikan penelepon"
