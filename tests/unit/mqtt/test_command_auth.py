"""Who may send each CAD command: the command topic's client (named by the broker's ACL) must be
a ``cad`` user of [auth] granted that command; the audit trail records that client, never a
name in the payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest

from callgate.mqtt.inbox import CommandHandler
from callgate.mqtt.schema import Command
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.journal import Journal
from tests.unit.auth_users import cad_clients

T0 = 1_800_000_000.0
#: One valid payload of each command; the table must cover every command of the schema.
COMMANDS = {
    "set-disposition": {"command": "set-disposition", "call_id": "c1", "disposition": "prank"},
    "request-callback": {"command": "request-callback", "call_id": "c1"},
    "attach-incident": {"command": "attach-incident", "call_id": "c1", "incident_id": "INC-1"},
    "block": {"command": "block", "number": "0811555001", "hours": 2, "reason": "pranks"},
    "unblock": {"command": "unblock", "number": "0811555001", "reason": "real emergency"},
}
#: cad-a may send set-disposition and request-callback; cad-all every command; the others are
#: not CAD clients (unknown, or users of the admin API).
GRANTED = {
    "cad-a": {"set-disposition", "request-callback"},
    "cad-all": set(COMMANDS),
    "nobody": set(),
    "sup": set(),
    "root": set(),
}


class Events:
    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    def disposition_set(self, call_id: str, disposition: str, by: str, at: datetime) -> None:
        self.sent.append(("disposition", call_id, by))

    def callback_requested(self, call_id: str, by: str, at: datetime) -> None:
        self.sent.append(("callback", call_id, by))

    def incident_attached(self, call_id: str, incident_id: str, at: datetime) -> None:
        self.sent.append(("incident", call_id, incident_id))


class Blocks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def block(self, number: str, *, hours: float, reason: str, by: str, source: str):  # type: ignore[no-untyped-def]
        self.calls.append(("block", by))
        return _Result()

    async def unblock(self, number: str, *, reason: str, by: str, source: str):  # type: ignore[no-untyped-def]
        self.calls.append(("unblock", by))
        return _Result()


class _Block:
    until = datetime.fromtimestamp(T0, UTC)


class _Result:
    ok = True
    outcome = "ok"
    key = "0811555001"
    blocks = (_Block(),)
    detail = ""


@pytest.fixture
async def journal(tmp_path: Path) -> Journal:  # type: ignore[misc]
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    await opened.call_started(
        "c1", caller="+62812", caller_sent="0812", dialed="112", priority=1, category="",
        at=datetime.fromtimestamp(T0 - 60, UTC),
    )  # fmt: skip
    yield opened
    await opened.close()


def test_the_table_covers_every_command() -> None:
    union = get_args(get_args(Command)[0])
    names = {get_args(m.model_fields["command"].annotation)[0] for m in union}
    assert names == set(COMMANDS)


@pytest.mark.parametrize("client", sorted(GRANTED))
@pytest.mark.parametrize("command", sorted(COMMANDS))
async def test_given_each_client_and_command_then_only_granted_ones_apply(
    journal: Journal, client: str, command: str
) -> None:
    events, blocks = Events(), Blocks()
    handler = CommandHandler(
        JournalAnnotations(journal), events, clock=lambda: T0, blocks=blocks, clients=cad_clients
    )
    reply = await handler.handle(f"{client}/req-1", json.dumps(COMMANDS[command]).encode())
    assert reply.request_id == "req-1"
    if command in GRANTED[client]:
        assert reply.ok, reply
        # Whatever changed names the broker's client.
        assert all(by == client for _, by in blocks.calls)
        assert all(e[2] == client for e in events.sent if e[0] != "incident")
        assert events.sent or blocks.calls
    else:
        assert (reply.ok, reply.error) == (False, "forbidden")
        assert events.sent == []
        assert blocks.calls == []
        note = await JournalAnnotations(journal).get("c1")
        assert note is None or (note.disposition, note.callback_by) == (None, None)


async def test_given_a_by_in_the_payload_then_refused_not_recorded(journal: Journal) -> None:
    events = Events()
    handler = CommandHandler(JournalAnnotations(journal), events, clients=cad_clients)
    forged = {**COMMANDS["set-disposition"], "by": "supervisor-ani"}
    reply = await handler.handle("cad-a/req-2", json.dumps(forged).encode())
    assert (reply.ok, reply.error) == (False, "invalid-command")
    assert events.sent == []


async def test_without_any_cad_user_every_command_is_forbidden(journal: Journal) -> None:
    handler = CommandHandler(JournalAnnotations(journal), Events())
    reply = await handler.handle("cad/req-3", json.dumps(COMMANDS["request-callback"]).encode())
    assert (reply.ok, reply.error) == (False, "forbidden")
