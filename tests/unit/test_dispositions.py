"""The disposition service with a real journal (SQLite): every source, the last-call lookup,
automatic blocks, CAD's commands through it, and the *15<digit> feature code."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from callgate.asterisk.agent_codes import (
    CALL_VARIABLE,
    DISPOSITION_VARIABLE,
    RESULT_VARIABLE,
    agent_code_handlers,
)
from callgate.asterisk.agi.protocol import AgiRequest, AgiSession
from callgate.core.screening import BlockingPolicy, ScreeningPolicy
from callgate.daemon.dispositions import Blocks, DispositionOutcome, Dispositions
from callgate.mqtt.inbox import CommandHandler as _Handler
from callgate.mqtt.schema import Reply
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.blocks import JournalBlocks
from callgate.storage.journal import Journal
from tests.unit.auth_users import cad_clients

#: CAD commands come from the broker-named client "cad-all" (granted every command).
CommandHandler = functools.partial(_Handler, clients=cad_clients)

NOW = 1_800_000_000.0
CALLER = "+6281155500"
KEY = "081155500"


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Events:
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def disposition_set(self, call_id: str, disposition: str, by: str, at: datetime) -> None:
        self.sent.append((call_id, disposition, by))

    def callback_requested(self, call_id: str, by: str, at: datetime) -> None:
        self.sent.append((call_id, "callback", by))

    def incident_attached(self, call_id: str, incident_id: str, at: datetime) -> None:
        self.sent.append((call_id, "incident", incident_id))


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


async def _call(
    journal: Journal,
    call_id: str,
    at: float,
    *,
    caller: str = CALLER,
    identity: str | None = None,
    answered_by: str | None = None,
    ended: bool = True,
) -> None:
    await journal.call_started(
        call_id, caller=caller, caller_sent=caller, dialed="112", priority=1, category="",
        at=_at(at), identity=identity,
    )  # fmt: skip
    if answered_by is not None:
        await journal.agent_assigned(call_id, agent_id=answered_by, at=_at(at + 5))
    if ended:
        await journal.call_ended(
            call_id,
            at=_at(at + 60),
            outcome="COMPLETED",
            answered_at=None if answered_by is None else _at(at + 5),
            answered_by=answered_by,
        )


def _service(
    journal: Journal, events: Events | None = None, *, threshold: float | None = None
) -> Dispositions:
    blocking = None if threshold is None else BlockingPolicy(score_threshold=threshold)
    return Dispositions(journal, events, ScreeningPolicy(blocking=blocking), clock=Clock())


async def test_given_a_known_call_then_stored_published_and_logged_with_who_and_source(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    await _call(journal, "c1", NOW - 600, answered_by="1001")
    events = Events()
    service = _service(journal, events)
    with caplog.at_level(logging.INFO, logger="callgate.daemon.dispositions"):
        result = await service.set("c1", "prank", by="op7", source="mqtt")
    assert (result.ok, result.outcome, result.call_id, result.block) == (
        True,
        DispositionOutcome.OK,
        "c1",
        None,
    )
    stored = await JournalAnnotations(journal).get("c1")
    assert stored is not None
    assert (stored.disposition, stored.disposition_by) == ("prank", "op7")
    assert stored.disposition_at == _at(NOW)
    assert events.sent == [("c1", "prank", "op7")]
    [line] = [r for r in caplog.records if r.name == "callgate.daemon.dispositions"]
    assert line.getMessage() == "disposition set"
    assert {k: getattr(line, k) for k in ("call_id", "disposition", "by", "source")} == {
        "call_id": "c1",
        "disposition": "prank",
        "by": "op7",
        "source": "mqtt",
    }


async def test_given_an_unknown_call_or_a_bad_value_then_nothing_stored_or_published(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    await _call(journal, "c1", NOW - 600, answered_by="1001")
    events = Events()
    service = _service(journal, events)
    with caplog.at_level(logging.INFO, logger="callgate.daemon.dispositions"):
        unknown = await service.set("nope", "prank", by="op", source="admin")
        invalid = await service.set("c1", "Prank", by="op", source="admin")
    assert (unknown.outcome, unknown.call_id) == (DispositionOutcome.UNKNOWN_CALL, "nope")
    assert (invalid.outcome, invalid.call_id) == (DispositionOutcome.INVALID_DISPOSITION, "c1")
    assert await JournalAnnotations(journal).get("c1") is None
    assert events.sent == []
    lines = [r for r in caplog.records if r.name == "callgate.daemon.dispositions"]
    assert [r.getMessage() for r in lines] == ["disposition not set"] * 2
    assert [r.__dict__["result"] for r in lines] == ["unknown-call", "invalid-disposition"]


def test_digits_map_to_dispositions_from_the_config() -> None:
    service = Dispositions(
        cast(Journal, None), None, ScreeningPolicy(), codes={"0": "test", "9": "genuine"}
    )
    assert [service.for_digit(d) for d in "0913"] == ["test", "genuine", None, None]
    default = Dispositions(cast(Journal, None), None, ScreeningPolicy())
    assert [default.for_digit(d) for d in "1234567"] == [
        "genuine",
        "information",
        "prank",
        "ghost",
        "test",
        "wrong-number",
        None,
    ]


async def test_the_last_call_is_the_one_most_recently_answered_by_that_call_taker(
    journal: Journal,
) -> None:
    await _call(journal, "old", NOW - 1800, answered_by="1003")
    await _call(journal, "other", NOW - 300, answered_by="1004")
    await _call(journal, "latest", NOW - 900, answered_by="1003")
    service = _service(journal)
    result = await service.set_for_last_call("1003", "ghost", source="feature-code")
    assert (result.outcome, result.call_id) == (DispositionOutcome.OK, "latest")
    stored = await JournalAnnotations(journal).get("latest")
    assert stored is not None
    assert (stored.disposition, stored.disposition_by) == ("ghost", "1003")


async def test_a_call_still_in_progress_counts_as_the_last_call(journal: Journal) -> None:
    await _call(journal, "ended", NOW - 1200, answered_by="1003")
    await _call(journal, "ongoing", NOW - 120, answered_by="1003", ended=False)
    result = await _service(journal).set_for_last_call("1003", "genuine", source="dtmf")
    assert result.call_id == "ongoing"


async def test_no_answered_call_within_the_hour_sets_nothing(journal: Journal) -> None:
    await _call(journal, "stale", NOW - 3 * 3600, answered_by="1003")
    await _call(journal, "abandoned", NOW - 60)
    service = _service(journal)
    result = await service.set_for_last_call("1003", "prank", source="feature-code")
    assert (result.outcome, result.call_id) == (DispositionOutcome.NO_RECENT_CALL, None)
    bad = await service.set_for_last_call("1003", "joke", source="feature-code")
    assert bad.outcome is DispositionOutcome.INVALID_DISPOSITION
    assert await JournalAnnotations(journal).get("stale") is None


async def test_with_blocking_a_prank_reaching_the_threshold_places_one_automatic_block(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(3):
        await _call(journal, f"c{n}", NOW - 3000 + n * 600, answered_by="1001")
    await _call(journal, "x", NOW - 100, caller="+6289999", answered_by="1001")
    service = _service(journal, threshold=2.5)
    first = await service.set("c0", "prank", by="1001", source="dtmf")
    # Re-setting the same call does not count it twice.
    again = await service.set("c0", "prank", by="1001", source="dtmf")
    other = await service.set("x", "prank", by="1001", source="dtmf")
    assert (first.block, again.block, other.block) == (None, None, None)
    second = await service.set("c1", "prank", by="1001", source="dtmf")
    assert second.block is None
    with caplog.at_level(logging.WARNING, logger="callgate.daemon.dispositions"):
        third = await service.set("c2", "prank", by="cad-op", source="mqtt")
    block = third.block
    assert block is not None
    assert (block.key, block.by, block.at, block.until) == (KEY, "auto", _at(NOW), _at(NOW + 86400))
    assert "call c2, cad-op" in block.reason
    assert [b.id for b in await JournalBlocks(journal).of(KEY)] == [block.id]
    assert "caller blocked automatically" in caplog.messages
    # Already blocked: a fourth prank adds no second block.
    await _call(journal, "c3", NOW - 50, answered_by="1001")
    assert (await service.set("c3", "prank", by="1001", source="dtmf")).block is None
    assert len(await JournalBlocks(journal).of(KEY)) == 1


async def test_without_blocking_or_with_manual_blocking_only_pranks_never_block(
    journal: Journal,
) -> None:
    for n in range(5):
        await _call(journal, f"c{n}", NOW - 3000 + n * 60, answered_by="1001")
    manual_only = Dispositions(
        journal,
        None,
        ScreeningPolicy(blocking=BlockingPolicy(score_threshold=None)),
        clock=Clock(),
    )
    for n in range(3):
        assert (await _service(journal).set(f"c{n}", "prank", by="1", source="dtmf")).ok
    for n in range(3, 5):
        assert (await manual_only.set(f"c{n}", "prank", by="1", source="dtmf")).ok
    assert await JournalBlocks(journal).of(KEY) == []


async def test_a_sim_less_caller_is_blocked_by_identity_not_as_anonymous(journal: Journal) -> None:
    await _call(journal, "a1", NOW - 900, caller="anonymous", identity="3569", answered_by="1")
    await _call(journal, "a2", NOW - 600, caller="anonymous", identity="3569", answered_by="1")
    await _call(journal, "b1", NOW - 300, caller="anonymous", answered_by="1")
    service = _service(journal, threshold=1.5)
    assert (await service.set("b1", "prank", by="1", source="dtmf")).block is None
    assert (await service.set("a1", "prank", by="1", source="dtmf")).block is None
    block = (await service.set("a2", "prank", by="1", source="dtmf")).block
    assert block is not None
    assert block.key == "imei:3569"


# -- CAD's commands through the service --------------------------------------------------------


async def _send(handler: CommandHandler, payload: dict[str, Any]) -> Reply:
    return await handler.handle("cad-all/r1", json.dumps(payload).encode())


async def test_cad_set_disposition_goes_through_the_service_and_feeds_blocking(
    journal: Journal,
) -> None:
    for n in range(2):
        await _call(journal, f"c{n}", NOW - 600 + n, answered_by="1001")
    events = Events()
    service = _service(journal, events, threshold=2.0)
    handler = CommandHandler(JournalAnnotations(journal), events, dispositions=service)
    command = {"command": "set-disposition", "disposition": "prank"}
    assert (await _send(handler, {**command, "call_id": "c0"})).ok
    assert (await _send(handler, {**command, "call_id": "c1"})).ok
    missing = await _send(handler, {**command, "call_id": "zz"})
    assert (missing.ok, missing.error) == (False, "unknown-call")
    assert events.sent == [("c0", "prank", "cad-all"), ("c1", "prank", "cad-all")]
    [block] = await JournalBlocks(journal).of(KEY)
    assert block.by == "auto"


async def test_cad_block_and_unblock_commands_are_answered_and_kept_in_the_trail(
    journal: Journal,
) -> None:
    clock = Clock()
    on = Blocks(journal, ScreeningPolicy(blocking=BlockingPolicy()), clock=clock)
    handler = CommandHandler(JournalAnnotations(journal), Events(), blocks=on)
    block = {"command": "block", "number": "+62 811-555-00", "hours": 2, "reason": "x"}
    placed = await _send(handler, block)
    assert placed.ok, placed
    assert placed.detail == f"{KEY} blocked until {_at(NOW + 7200).isoformat()}"
    bad = await _send(handler, {**block, "number": "call me"})
    assert (bad.ok, bad.error) == (False, "invalid-number")
    too_long = await _send(handler, {**block, "hours": 9999})
    assert (too_long.ok, too_long.error) == (False, "invalid-command")
    unblock = {"command": "unblock", "number": KEY, "reason": "called back, ok"}
    lifted = await _send(handler, unblock)
    assert (lifted.ok, lifted.detail) == (True, f"{KEY}: 1 block(s) lifted")
    nothing = await _send(handler, unblock)
    assert (nothing.ok, nothing.error) == (False, "not-blocked")
    [stored] = await JournalBlocks(journal).of(KEY)
    assert (stored.by, stored.lifted_by, stored.lift_reason) == (
        "cad-all",
        "cad-all",
        "called back, ok",
    )

    off = Blocks(journal, ScreeningPolicy(), clock=clock)
    refused = await _send(CommandHandler(JournalAnnotations(journal), Events(), blocks=off), block)
    assert (refused.ok, refused.error) == (False, "blocking-disabled")
    absent = await _send(CommandHandler(JournalAnnotations(journal), Events()), block)
    assert (absent.ok, absent.error, absent.detail) == (
        False,
        "internal-error",
        "blocking not available",
    )


# -- *15<digit> on the call-taker's phone ----------------------------------------------------


@dataclass
class FakeSession:
    """What a disposition handler uses of an AGI session."""

    request: AgiRequest
    keyed: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    played: list[str] = field(default_factory=list)

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def stream_file(self, name: str) -> None:
        self.played.append(name)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str:
        self.played.append(prompt)
        return self.keyed


def _session(channel: str, *args: str, keyed: str = "") -> FakeSession:
    request = AgiRequest(
        script="agent/disposition", query={}, channel=channel, uniqueid="1.1", callerid="1003",
        calleridname="", extension="*15", context="callgate-agents", args=args, variables={},
    )  # fmt: skip
    return FakeSession(request, keyed)


class NoAgents:
    async def login(self, endpoint: str) -> Any:
        raise AssertionError("not a login")

    logout = pause = unpause = login


class AsteriskHasIt:
    """The channel check, saying yes to every channel (tests/unit/daemon/test_agi_trust.py
    tests what a no does)."""

    async def channel_exists(self, channel_id: str, name: str) -> bool | None:
        return True


YES = AsteriskHasIt()


async def test_star_15_digit_sets_the_last_call_and_confirms_or_says_why_not(
    journal: Journal,
) -> None:
    await _call(journal, "c1", NOW - 600, answered_by="1003")
    handlers = agent_code_handlers(NoAgents(), channels=YES, dispositions=_service(journal))  # type: ignore[arg-type]
    handle = handlers["agent/disposition"]

    ok = _session("PJSIP/1003-0000002a", "3")
    await handle(cast(AgiSession, ok))
    assert ok.variables == {
        DISPOSITION_VARIABLE: "prank",
        CALL_VARIABLE: "c1",
        RESULT_VARIABLE: "OK",
    }
    assert ok.played == ["custom/callgate/agent-disposition-ok"]
    stored = await JournalAnnotations(journal).get("c1")
    assert stored is not None
    assert (stored.disposition, stored.disposition_by) == ("prank", "1003")

    keyed = _session("PJSIP/1003-0000002b", keyed="4")  # *15, then 4 when asked
    await handle(cast(AgiSession, keyed))
    assert (keyed.variables[RESULT_VARIABLE], keyed.played) == (
        "OK",
        ["custom/callgate/agent-ask-digit", "custom/callgate/agent-disposition-ok"],
    )

    idle = _session("PJSIP/1004-0000002c", "1")
    await handle(cast(AgiSession, idle))
    assert (idle.variables[RESULT_VARIABLE], idle.played) == (
        "NO_RECENT_CALL",
        ["custom/callgate/agent-disposition-failed"],
    )

    unknown_digit = _session("PJSIP/1003-0000002d", "9")
    await handle(cast(AgiSession, unknown_digit))
    assert unknown_digit.variables == {RESULT_VARIABLE: "INVALID_DISPOSITION"}
    nothing_keyed = _session("PJSIP/1003-0000002e")
    await handle(cast(AgiSession, nothing_keyed))
    assert nothing_keyed.variables == {RESULT_VARIABLE: "INVALID_DISPOSITION"}

    not_a_phone = _session("Local/x@y-00000001;1", "1")
    await handle(cast(AgiSession, not_a_phone))
    assert not_a_phone.variables == {RESULT_VARIABLE: "ERROR"}


async def test_star_15_when_the_daemon_fails_plays_the_error(journal: Journal) -> None:
    class Broken:
        def for_digit(self, digit: str) -> str | None:
            return "prank"

        async def set_for_last_call(self, agent_id: str, disposition: str, *, source: str) -> Any:
            raise RuntimeError("journal gone")

    handle = agent_code_handlers(NoAgents(), channels=YES, dispositions=Broken())[
        "agent/disposition"
    ]  # type: ignore[arg-type]
    session = _session("PJSIP/1003-0000002f", "3")
    await handle(cast(AgiSession, session))
    assert session.variables[RESULT_VARIABLE] == "ERROR"
    assert session.played == ["custom/callgate/agent-error"]


def test_without_the_service_there_is_no_disposition_route() -> None:
    assert "agent/disposition" not in agent_code_handlers(NoAgents(), channels=YES)  # type: ignore[arg-type]


async def test_a_flood_of_feature_codes_from_made_up_channels_logs_one_warning(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by the lab fault suite: one warning line per bad FastAGI connection.
    handle = agent_code_handlers(NoAgents(), channels=YES, dispositions=_service(journal))[
        "agent/disposition"
    ]  # type: ignore[arg-type]
    for n in range(100):
        session = _session(f"PJSIP/x{n}", "3")
        await handle(cast(AgiSession, session))
        assert session.variables == {RESULT_VARIABLE: "ERROR"}
    warnings = [r for r in caplog.records if "no softphone" in r.getMessage()]
    assert len(warnings) == 1
