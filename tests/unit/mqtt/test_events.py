"""Event models, seq and ids, notification -> event mapping, command validation, generated docs:
no broker (the publisher is never started, so nothing connects; events land in a real SQLite
outbox)."""

from __future__ import annotations

import functools
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from callgate.core.agents import AgentState
from callgate.core.calls import CallState
from callgate.core.commands import (
    AgentStateChanged,
    CallBlocked,
    CallEnded,
    CallScreened,
    CallStateChanged,
)
from callgate.mqtt import docs as event_docs
from callgate.mqtt.inbox import CommandHandler as _Handler
from callgate.mqtt.publisher import EventPublisher
from callgate.mqtt.schema import EVENT_ADAPTER, CallReceived, Reply
from callgate.mqtt.settings import MqttSettings
from callgate.mqtt.subscriber import format_message
from callgate.mqtt.topics import Topics
from callgate.ports import AgentConnected, CallRecorded, CallStarted, RecordingFailed, RecordingInfo
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.journal import Journal
from callgate.storage.outbox import Outbox
from tests.unit.auth_users import cad_clients

#: CAD commands come from the broker-named client "cad-all" (granted every command).
CommandHandler = functools.partial(_Handler, clients=cad_clients)

T0 = 1_800_000_000.0
S = CallState


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


def rows(tmp_path: Path) -> list[tuple[str, str, int, bool, dict[str, object]]]:
    with closing(sqlite3.connect(tmp_path / "journal.db")) as db:
        return [
            (topic, stream, seq, bool(retain), json.loads(payload))
            for topic, stream, seq, retain, payload in db.execute(
                "SELECT topic, stream, seq, retain, payload FROM event_outbox ORDER BY id"
            )
        ]


def publisher(journal: Journal) -> EventPublisher:
    # Never started: notifications queue up; flush() is run by hand through the writer below.
    return EventPublisher(MqttSettings(site="kendari"), Outbox(journal))


async def store(p: EventPublisher) -> None:
    """What the writer task does, once: move queued events into the outbox."""
    batch = []
    while not p._pending.empty():
        batch.append(p._pending.get_nowait())
        p._pending.task_done()
    await p._store(batch)


def test_given_a_naive_time_or_bad_caller_then_the_event_model_refuses_it() -> None:
    base = {"event_id": str(uuid.uuid4()), "seq": 1, "site": "s", "call_id": "c"}
    fields = {"caller_sent": "0812", "dialed": "112"}
    with pytest.raises(ValidationError, match="timezone"):
        CallReceived(**base, **fields, at=datetime(2026, 1, 1), caller="+62812")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="pattern"):
        CallReceived(**base, **fields, at=datetime.now(UTC), caller="0812")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="greater than or equal"):
        CallReceived(**{**base, "seq": 0}, **fields, at=datetime.now(UTC), caller="anonymous")  # type: ignore[arg-type]


def test_given_a_time_in_another_zone_then_the_event_says_it_in_utc_with_z() -> None:
    wib = timezone(timedelta(hours=7))
    event = CallReceived(
        event_id=str(uuid.uuid4()),
        seq=1,
        site="s",
        call_id="c",
        at=datetime(2026, 1, 1, 7, 0, tzinfo=wib),
        caller="+62812",
        caller_sent="0812",
        dialed="112",
    )
    assert json.loads(event.model_dump_json())["at"] == "2026-01-01T00:00:00Z"
    assert EVENT_ADAPTER.validate_json(event.model_dump_json()) == event


async def test_given_a_call_lifecycle_then_events_map_in_order_with_seq_from_1(
    journal: Journal, tmp_path: Path
) -> None:
    p = publisher(journal)
    await p.notification(CallStarted("c1", "+6281234567890", "081234567890", "112", 2, T0))
    await p.notification(CallStateChanged("c1", S.ARRIVED, S.QUEUED, "CallArrived", T0))
    await p.notification(CallStateChanged("c1", S.QUEUED, S.OFFERED, "Offer", T0 + 1))
    await p.notification(CallStateChanged("c1", S.OFFERED, S.QUEUED, "RingTimedOut", T0 + 9))
    await p.notification(AgentConnected("c1", "1002", T0 + 12))
    await p.notification(CallStateChanged("c1", S.OFFERED, S.CONNECTING, "AgentAnswered", T0))
    await p.notification(CallStateChanged("c1", S.CONNECTING, S.CONNECTED, "Bridged", T0 + 12))
    await p.notification(
        CallEnded("c1", S.COMPLETED, "+62812", "", 2, T0, T0 + 12, T0 + 60, "1002", None)
    )
    info = RecordingInfo("c1", Path("/rec/c1.wav"), "ab" * 32, 1000, 48.0)
    await p.notification(CallRecorded(info, T0 + 61))
    await store(p)
    got = rows(tmp_path)
    assert [r[4]["type"] for r in got] == [
        "received",
        "screened",
        "queued",
        "offered",
        "queued",
        "answered",
        "ended",
        "recording-ready",
    ]
    assert [r[2] for r in got] == list(range(1, 9))
    assert {r[0] for r in got} == {"callgate/v1/kendari/calls/c1/events"}
    assert len({r[4]["event_id"] for r in got}) == 8
    assert (got[2][4]["requeued"], got[4][4]["requeued"]) == (False, True)
    assert got[5][4]["agent_id"] == "1002"
    assert (got[6][4]["outcome"], got[6][4]["wait_s"]) == ("COMPLETED", 12.0)


async def test_a_screened_call_s_start_comes_from_the_core_s_notification_with_its_facts(
    journal: Journal, tmp_path: Path
) -> None:
    p = publisher(journal)
    screened = CallScreened(
        "c1", "+6281234567890", 2, "repeat-nuisance", "PRANK x3", "PRANK x3", True, False, False,
        3.0, T0, caller_sent="081234567890", dialed="0112",
    )  # fmt: skip
    await p.notification(screened)
    await store(p)
    got = [r[4] for r in rows(tmp_path)]
    assert [(e["type"], e["seq"]) for e in got] == [("received", 1), ("screened", 2)]
    assert (got[0]["caller"], got[0]["caller_sent"], got[0]["dialed"]) == (
        "+6281234567890",
        "081234567890",
        "0112",
    )
    assert (got[1]["priority"], got[1]["category"]) == (2, "repeat-nuisance")


async def test_given_withheld_number_abandon_and_fallback_then_mapped(
    journal: Journal, tmp_path: Path
) -> None:
    p = publisher(journal)
    await p.notification(CallStarted("c2", "anonymous", "", "112", 1, T0))
    await p.notification(CallStarted("c3", "0812 not e164", "0812", "112", 1, T0))
    await p.notification(CallStateChanged("c2", S.QUEUED, S.ABANDONED, "CallerHungUp", T0))
    await p.notification(CallStateChanged("c3", S.OVERFLOWING, S.FALLBACK, "MaxWait", T0))
    # Moves that are not events for CAD produce nothing.
    await p.notification(CallStateChanged("c3", S.QUEUED, S.OVERFLOWING, "MaxWait", T0))
    await store(p)
    got = [(r[1], r[4]["type"], r[4].get("caller"), r[4].get("fallback")) for r in rows(tmp_path)]
    assert got == [
        ("c2", "received", "anonymous", None),
        ("c2", "screened", None, None),
        ("c3", "received", "anonymous", None),
        ("c3", "screened", None, None),
        ("c2", "abandoned", None, None),
        ("c3", "overflowed", None, True),
    ]


async def test_given_agent_state_changes_then_retained_on_the_agents_topic_with_own_seq(
    journal: Journal, tmp_path: Path
) -> None:
    p = publisher(journal)
    a = AgentState
    await p.notification(AgentStateChanged("1001", a.LOGGED_OUT, a.AVAILABLE, "LoggedIn", T0))
    await p.notification(AgentStateChanged("1001", a.AVAILABLE, a.PAUSED, "Paused", T0, "break"))
    await store(p)
    got = rows(tmp_path)
    assert [(r[0], r[1], r[2], r[3]) for r in got] == [
        ("callgate/v1/kendari/agents/1001/state", "agent:1001", 1, True),
        ("callgate/v1/kendari/agents/1001/state", "agent:1001", 2, True),
    ]
    assert (got[1][4]["state"], got[1][4]["reason"]) == ("PAUSED", "break")


async def test_given_a_restart_then_seq_continues_from_the_outbox(journal: Journal) -> None:
    first = publisher(journal)
    await first.notification(CallStarted("c1", "+62812", "0812", "112", 1, T0))
    await store(first)
    second = publisher(journal)
    await second.notification(RecordingFailed("c1", "disk full", T0 + 5))
    await store(second)
    assert second._seqs == {"c1": 3}


async def test_given_a_call_forgotten_by_the_writer_when_a_late_event_comes_then_seq_continues(
    journal: Journal, tmp_path: Path
) -> None:
    p = EventPublisher(MqttSettings(site="kendari"), Outbox(journal), seq_memory=2)
    for n in range(1, 6):
        await p.notification(CallStarted(f"c{n}", "+62812", "0812", "112", 1, T0 + n))
        await store(p)
    assert list(p._seqs) == ["c4", "c5"]  # bounded: c1..c3 forgotten
    await p.notification(RecordingFailed("c1", "disk full", T0 + 60))
    await store(p)
    got = [(r[1], r[2], r[4]["seq"], r[4]["type"]) for r in rows(tmp_path) if r[1] == "c1"]
    assert got == [
        ("c1", 1, 1, "received"),
        ("c1", 2, 2, "screened"),
        ("c1", 3, 3, "recording-failed"),
    ]


async def test_given_old_published_events_then_pruned_in_batches_and_unsent_ones_kept(
    journal: Journal, tmp_path: Path
) -> None:
    p = EventPublisher(MqttSettings(site="kendari", outbox_retention_hours=72), Outbox(journal))
    for n in range(1, 4):
        await p.notification(CallStarted(f"c{n}", "+62812", "0812", "112", 1, T0 + n))
    await store(p)
    unsent = await p.outbox.unsent()
    now = datetime.now(UTC)
    # c1 and c2 published 73 hours ago, c3 an hour ago; one more event of c1 never published.
    await p.outbox.mark_sent([e.id for e in unsent[:4] if e.id], now - timedelta(hours=73))
    await p.outbox.mark_sent([e.id for e in unsent[4:] if e.id], now - timedelta(hours=1))
    await p.notification(RecordingFailed("c1", "disk full", T0 + 60))
    await store(p)
    assert await p.outbox.prune(now - timedelta(hours=72), limit=3) == 3
    assert await p.prune_outbox(now) == 1
    left = [(r[1], r[2], r[4]["type"]) for r in rows(tmp_path)]
    # Every published row of c1 and c2 is gone, the last one too: nothing kept per call forever.
    assert left == [("c3", 1, "received"), ("c3", 2, "screened"), ("c1", 3, "recording-failed")]


def test_given_the_old_retention_key_in_days_then_taken_as_hours() -> None:
    assert MqttSettings(outbox_retention_days=2).outbox_retention_hours == 48  # type: ignore[call-arg]
    assert MqttSettings().outbox_retention_hours == 72


def test_given_ids_with_mqtt_wildcards_then_topics_stay_one_level() -> None:
    topics = Topics(MqttSettings(site="s1", topic_prefix="x/y"))
    assert topics.call_events("a/b+#") == "x/y/s1/calls/a_b__/events"
    assert topics.request_id("x/y/s1/commands/cad/r-1") == "cad/r-1"
    assert topics.reply("cad/r-1") == "x/y/s1/replies/cad/r-1"
    # The old topic without a client, or extra levels, are no commands.
    assert topics.request_id("x/y/s1/commands/r-1") is None
    assert topics.request_id("x/y/s1/commands/cad/r/1") is None
    assert topics.request_id("x/y/s1/commands//r-1") is None
    assert topics.request_id("x/y/s1/calls/c/events") is None


async def test_given_commands_then_only_valid_ones_for_known_calls_change_anything(
    journal: Journal, tmp_path: Path
) -> None:
    await journal.call_started(
        "c1", caller="+62812", caller_sent="0812", dialed="112", priority=1, category="",
        at=datetime.now(UTC),
    )  # fmt: skip
    p = publisher(journal)
    annotations = JournalAnnotations(journal)
    handler = CommandHandler(annotations, p, clock=lambda: T0)

    async def send(payload: object) -> Reply:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await handler.handle("cad-all/r", raw)

    disp = {"command": "set-disposition", "call_id": "c1", "disposition": "prank"}
    assert (await send(b"\xff\xfe")).error == "bad-json"
    assert (await send({**disp, "extra": 1})).error == "invalid-command"
    assert (await send({**disp, "by": ["op"]})).error == "invalid-command"
    assert (await send({**disp, "disposition": "Prank"})).error == "invalid-command"
    assert (await send({**disp, "call_id": "c9"})).error == "unknown-call"
    assert (await send("set-disposition")).error == "invalid-command"
    assert (await send(b"x" * 20_000)).error == "invalid-command"
    assert await annotations.get("c1") is None
    await store(p)
    assert rows(tmp_path) == []

    assert (await send(disp)).ok
    ok = await send({"command": "attach-incident", "call_id": "c1", "incident_id": "INC-7"})
    assert (ok.ok, ok.at) == (True, datetime.fromtimestamp(T0, UTC))
    assert (await send({"command": "request-callback", "call_id": "c1"})).ok
    stored = await annotations.get("c1")
    assert stored is not None
    assert (stored.disposition, stored.incident_id, stored.callback_by) == (
        "prank",
        "INC-7",
        "cad-all",
    )
    await store(p)
    assert [r[4]["type"] for r in rows(tmp_path)] == [
        "disposition-set",
        "incident-attached",
        "callback-requested",
    ]


async def test_given_annotations_that_fail_then_internal_error_and_no_crash(
    journal: Journal,
) -> None:
    class Broken:
        async def set_disposition(self, *args: object) -> bool:
            raise RuntimeError("db gone")

        async def request_callback(self, *args: object) -> bool:
            raise RuntimeError("db gone")

        async def attach_incident(self, *args: object) -> bool:
            raise RuntimeError("db gone")

    handler = CommandHandler(Broken(), publisher(journal))
    reply = await handler.handle("cad-all/r", b'{"command":"request-callback","call_id":"c1"}')
    assert (reply.ok, reply.error, reply.detail) == (False, "internal-error", "RuntimeError")


def test_given_the_committed_docs_then_they_match_the_models() -> None:
    assert event_docs.main(["--check"]) == 0


def test_given_a_changed_model_then_the_docs_check_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert event_docs.main(["--out", str(tmp_path)]) == 0
    assert event_docs.main(["--check", "--out", str(tmp_path)]) == 0
    schema = tmp_path / "schemas" / "CallReceived.json"
    schema.write_text(schema.read_text().replace('"dialed"', '"dialled"'))
    assert event_docs.main(["--check", "--out", str(tmp_path)]) == 1
    assert "schemas/CallReceived.json" in capsys.readouterr().err


def test_given_an_event_message_then_the_subscriber_prints_one_readable_line() -> None:
    line = format_message(
        "callgate/v1/s/calls/c1/events",
        b'{"schema_version":1,"event_id":"x","seq":3,"at":"2026-01-01T00:00:00Z","site":"s",'
        b'"call_id":"c1","type":"queued","requeued":false,"cause":"CallArrived"}',
    )
    assert line == "2026-01-01T00:00:00Z  c1  #3  queued  requeued=False cause=CallArrived"
    assert "not JSON" in format_message("callgate/v1/s/status", b"\x00")


def test_given_mqtt_settings_then_unknown_keys_are_refused_and_the_password_hidden() -> None:
    with pytest.raises(ValidationError, match="extra"):
        MqttSettings(hostname="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="pattern"):
        MqttSettings(site="a/b")
    s = MqttSettings.model_validate(
        {"password": "s3cret", "tls": {"insecure": True}, "topic_prefix": "cg/v1"}
    )
    assert "s3cret" not in repr(s)
    assert s.base == "cg/v1/site1"
    assert s.tls is not None
    assert s.tls.context().check_hostname is False


async def test_given_a_blocked_caller_then_the_stream_ends_the_call_blocked(
    journal: Journal, tmp_path: Path
) -> None:
    p = publisher(journal)
    await p.notification(CallStarted("b1", "+6281234567890", "081234567890", "112", 2, T0))
    await p.notification(CallBlocked("b1", "+6281234567890", T0 + 6))
    await store(p)
    got = [(r[4]["type"], r[4].get("outcome")) for r in rows(tmp_path)]
    assert got == [("received", None), ("screened", None), ("ended", "BLOCKED")]


async def test_given_an_answer_the_adapter_did_not_report_then_the_core_names_the_call_taker(
    journal: Journal, tmp_path: Path
) -> None:
    # The core's notification carries the call-taker: no read of the core's live calls.
    p = publisher(journal)
    await p.notification(
        CallStateChanged("c1", S.CONNECTING, S.CONNECTED, "CallBridged", T0, call_taker="1003")
    )
    await store(p)
    [(_, _, _, _, answered)] = rows(tmp_path)
    assert (answered["type"], answered["agent_id"]) == ("answered", "1003")


async def test_given_a_restored_call_the_killed_process_never_stored_then_cad_gets_its_received(
    journal: Journal, tmp_path: Path
) -> None:
    # Killed before its writer stored the call's first events: the process after the restart
    # finds the call with an empty stream, and CAD must still get received and screened.
    p = publisher(journal)
    await p.notification(CallStarted("c1", "+62812", "0812", "112", 1, T0, restored=True))
    await p.notification(CallStateChanged("c1", S.QUEUED, S.OFFERED, "CallArrived", T0 + 1))
    await store(p)
    got = [(r[2], r[4]["type"]) for r in rows(tmp_path)]
    assert got[:2] == [(1, "received"), (2, "screened")]
    assert [seq for seq, _ in got] == list(range(1, len(got) + 1))


async def test_given_a_restored_call_whose_events_were_stored_then_none_repeated_later(
    journal: Journal, tmp_path: Path
) -> None:
    # The process before stored them (another batch, another publisher): nothing again.
    before = publisher(journal)
    await before.notification(CallStarted("c1", "+62812", "0812", "112", 1, T0))
    await store(before)
    after = publisher(journal)
    await after.notification(CallStarted("c1", "+62812", "0812", "112", 1, T0, restored=True))
    await store(after)
    assert [(r[2], r[4]["type"]) for r in rows(tmp_path)] == [(1, "received"), (2, "screened")]


async def test_given_a_call_restored_after_a_restart_then_no_second_received(
    journal: Journal, tmp_path: Path
) -> None:
    # The journal gets a restored call's start (in case the killed process never wrote it);
    # CAD already had received/screened from the process before.
    p = publisher(journal)
    await p.notification(CallStarted("c1", "+62812", "0812", "112", 1, T0))
    await p.notification(CallStarted("c1", "+62812", "0812", "112", 1, T0, restored=True))
    await store(p)
    assert [(r[1], r[2], r[4]["type"]) for r in rows(tmp_path)] == [
        ("c1", 1, "received"),
        ("c1", 2, "screened"),
    ]
