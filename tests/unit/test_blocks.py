"""Blocks: the store and its audit trail, supervisors' blocks, the core applying them to the
history the daemon loads (with the safety valve and SIM-less identities), the ARI adapter
carrying out a rejection (announcement, hang-up, journaled BLOCKED; handed back if the hang-up
fails), and the admin CLI over a real admin HTTP port."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callgate.core.acd import Acd
from callgate.core.commands import CallBlocked, CallScreened
from callgate.core.config import AcdConfig
from callgate.core.events import CallArrived, Priority
from callgate.core.screening import BlockingPolicy, ScreeningPolicy
from callgate.daemon.caller_history import HistoryLoader
from callgate.daemon.dispositions import BlockOutcome, Blocks, Dispositions, caller_key
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.journaling import CallJournal
from callgate.daemon.metrics import Metrics
from callgate.daemon.view import LiveDaemonView
from callgate.http.server import OpsHttp
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.blocks import JournalBlocks
from callgate.storage.journal import Journal
from callgate.tools.admin import main
from tests.unit.auth_users import authenticator, bearer, token
from tests.unit.daemon.conftest import Clock, NoPhones, control_of, projected
from tests.unit.phone_system import Daemon

NOW = 1_800_000_000.0
BLOCKING = ScreeningPolicy(blocking=BlockingPolicy(valve_calls=3, valve_window=600.0))


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


async def _call(
    journal: Journal, call_id: str, at: float, caller: str, identity: str | None = None
) -> None:
    await journal.call_started(
        call_id, caller=caller, caller_sent=caller, dialed="112", priority=1, category="",
        at=_at(at), identity=identity,
    )  # fmt: skip


# -- the store -------------------------------------------------------------------------------


async def test_blocks_are_kept_after_they_end_or_are_lifted(journal: Journal) -> None:
    store = JournalBlocks(journal)
    old = await store.place("0811", at=_at(NOW - 7200), until=_at(NOW - 3600), by="a", reason="r")
    live = await store.place("0811", at=_at(NOW - 60), until=_at(NOW + 60), by="b", reason="s")
    other = await store.place("imei:1", at=_at(NOW - 60), until=_at(NOW + 600), by="c", reason="t")
    assert [b.id for b in await store.active(_at(NOW))] == [live.id, other.id]
    assert not old.active(_at(NOW))
    assert live.active(_at(NOW))

    [lifted] = await store.lift("0811", at=_at(NOW), by="sup", reason="genuine after all")
    assert (lifted.id, lifted.lifted_by, lifted.lift_reason) == (
        live.id,
        "sup",
        "genuine after all",
    )
    assert not lifted.active(_at(NOW))
    assert await store.lift("0811", at=_at(NOW + 1), by="sup", reason="again") == []
    assert [b.id for b in await store.active(_at(NOW))] == [other.id]
    assert [b.id for b in await store.of("0811")] == [old.id, live.id]
    assert [b.id for b in await store.trail()] == [other.id, live.id, old.id]
    with pytest.raises(ValueError, match="end after its start"):
        await store.place("0811", at=_at(NOW), until=_at(NOW), by="a", reason="r")


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("+62 811-555-00", "081155500"),
        ("6281155500", "081155500"),
        ("081155500", "081155500"),
        ("imei:35693803", "imei:35693803"),
        ("IMEI: 35693803 ", "imei:35693803"),
        ("imei:", None),
        ("anonymous", None),
        ("0811; drop", None),
        ("", None),
    ],
)
def test_numbers_are_keyed_like_screening_history(typed: str, key: str | None) -> None:
    assert caller_key(typed) == key


async def test_supervisor_blocks_need_blocking_on_a_number_hours_and_a_reason(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    blocks = Blocks(journal, BLOCKING, clock=lambda: NOW)
    with caplog.at_level(logging.WARNING, logger="callgate.daemon.dispositions"):
        done = await blocks.block(
            "+6281100770011", hours=24, reason=" prank x5 ", by="sup", source="cli"
        )
    assert done.outcome is BlockOutcome.OK
    [placed] = done.blocks
    assert (placed.key, placed.until, placed.reason) == (
        "081100770011",
        _at(NOW + 86400),
        "prank x5",
    )
    assert "caller blocked" in caplog.messages
    for number, hours, reason, by in [
        ("nobody", 1.0, "r", "sup"),
        ("0811", 0.0, "r", "sup"),
        ("0811", 721.0, "r", "sup"),
        ("0811", 1.0, "  ", "sup"),
        ("0811", 1.0, "r", ""),
        ("0811", 1.0, "r" * 501, "sup"),
    ]:
        bad = await blocks.block(number, hours=hours, reason=reason, by=by, source="cli")
        assert (bad.outcome, bad.blocks) == (BlockOutcome.INVALID, []), (number, hours)
        assert bad.detail
    off = Blocks(journal, ScreeningPolicy(), clock=lambda: NOW)
    refused = await off.block("0811", hours=1, reason="r", by="sup", source="cli")
    assert refused.outcome is BlockOutcome.BLOCKING_DISABLED
    assert [b.key for b in await off.list(include_all=True)] == ["081100770011"]
    # Unblocking works even with blocking off (nothing applies, but the trail is completed).
    assert (await off.unblock("081100770011", reason="ok", by="s", source="cli")).ok
    assert (await off.unblock("nobody", reason="ok", by="s", source="cli")).outcome == "invalid"
    assert await off.list() == []


# -- the core applies them to the history the daemon loads --------------------------------------


async def _screened(
    journal: Journal,
    policy: ScreeningPolicy,
    caller: str,
    *,
    identity: str | None = None,
    lookup_timeout: float = 0.5,
) -> CallScreened:
    """The daemon's path: the loader reads the caller's history, the core screens the call."""
    loader = HistoryLoader(journal, policy, lookup_timeout=lookup_timeout)
    history = await loader(caller, NOW, identity)
    arrived = CallArrived("c", caller=caller, caller_name=f"112 {caller}", history=history)
    out = Acd(AcdConfig(screening=policy)).handle(arrived, NOW)
    [note] = [c for c in out if isinstance(c, CallScreened)]
    return note


async def test_a_blocked_caller_is_blocked_until_the_valve_opens(journal: Journal) -> None:
    caller = "+628117700177"
    await JournalBlocks(journal).place(
        "08117700177", at=_at(NOW - 3600), until=_at(NOW + 3600), by="sup", reason="pranks"
    )
    first = await _screened(journal, BLOCKING, caller)
    assert (first.blocked, first.valve, first.category) == (True, False, "blocked")
    assert first.tag.startswith("BLOCKED")
    # Two earlier calls within the valve window: this third one goes through, flagged.
    await _call(journal, "b1", NOW - 300, caller)
    await _call(journal, "b2", NOW - 200, caller)
    await _call(journal, "later", NOW + 5, caller)  # after "now": not counted
    through = await _screened(journal, BLOCKING, caller)
    assert (through.blocked, through.valve, through.priority) == (False, True, Priority.NORMAL)
    assert through.tag.startswith("VALVE")
    # The same history with blocking off: blocks are ignored, the call is a normal one.
    plain = await _screened(journal, ScreeningPolicy(), caller)
    assert (plain.blocked, plain.valve, plain.tag) == (False, False, "")


async def test_a_lifted_or_expired_block_no_longer_applies(journal: Journal) -> None:
    store = JournalBlocks(journal)
    await store.place("08116600166", at=_at(NOW - 90000), until=_at(NOW - 3600), by="a", reason="r")
    await store.place("08116600166", at=_at(NOW - 60), until=_at(NOW + 3600), by="a", reason="r")
    await store.lift("08116600166", at=_at(NOW - 30), by="sup", reason="mistake")
    decision = await _screened(journal, BLOCKING, "+628116600166")
    assert (decision.blocked, decision.valve, decision.tag) == (False, False, "")


async def test_sim_less_callers_are_keyed_by_identity_and_never_merged(journal: Journal) -> None:
    notes = JournalAnnotations(journal)
    for n in range(3):
        await _call(journal, f"s{n}", NOW - 3600 + n, "anonymous", identity="35693803")
        await notes.set_disposition(f"s{n}", "prank", "1001", _at(NOW - 3000 + n))
    await JournalBlocks(journal).place(
        "imei:35693803", at=_at(NOW - 60), until=_at(NOW + 60), by="sup", reason="r"
    )
    known = await _screened(journal, BLOCKING, "anonymous", identity="35693803")
    assert known.blocked
    assert "PRANK x3" in known.tag
    assert "ANON" in known.tag
    stranger = await _screened(journal, BLOCKING, "anonymous", identity="11112222")
    nobody = await _screened(journal, BLOCKING, "anonymous")
    for decision in (stranger, nobody):
        assert (decision.blocked, decision.tag, decision.category) == (False, "ANON", "anonymous")
        assert decision.priority == Priority.NORMAL


async def test_a_journal_that_fails_never_blocks(journal: Journal) -> None:
    await JournalBlocks(journal).place(
        "08115500155", at=_at(NOW - 60), until=_at(NOW + 60), by="sup", reason="r"
    )
    decision = await _screened(journal, BLOCKING, "+628115500155", lookup_timeout=0.0)
    assert not decision.blocked


# -- the ARI adapter carries a rejection out -----------------------------------------------------

ANNOUNCED = ScreeningPolicy(
    blocking=BlockingPolicy(valve_calls=3, valve_window=600.0, announcement="sound:diblokir")
)
BLOCKED = "+628117700188"


async def _blocked_caller_rig(journal: Journal) -> tuple[Daemon, CallJournal]:
    await JournalBlocks(journal).place(
        "08117700188", at=_at(NOW - 60), until=_at(NOW + 3600), by="sup", reason="pranks"
    )
    writer = CallJournal(journal)
    writer.start()
    daemon = Daemon(
        AcdConfig(screening=ANNOUNCED),
        history=HistoryLoader(journal, ANNOUNCED),
        observers=[writer.notification],
        now=NOW,
    )
    await daemon.login("1001")
    return daemon, writer


async def test_a_blocked_caller_hears_the_announcement_is_hung_up_and_journaled_blocked(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    daemon, writer = await _blocked_caller_rig(journal)
    with caplog.at_level(logging.INFO):
        await daemon.caller("b1", BLOCKED, CALLGATE_RECORDING="")  # nothing to seal at the end
    # Announced, never queued nor rung; no greeting, no class kept on the channel.
    posted = [r for r in daemon.asterisk.on("b1") if r[0] == "POST"]
    assert [r[1:] for r in posted] == [
        ("/channels/b1/play/blocked-b1", {"media": "sound:diblokir"})
    ]
    assert "blocked caller rejected" in caplog.messages
    assert "112 call entered" not in caplog.messages
    assert not daemon.engine.acd.calls
    await daemon.event(daemon.asterisk.frame("PlaybackFinished", playback={"id": "blocked-b1"}))
    assert daemon.asterisk.on("b1")[-1][:2] == ("DELETE", "/channels/b1")
    await daemon.event(
        daemon.asterisk.frame("ChannelDestroyed", channel={"id": "b1"}, cause_txt="")
    )
    assert daemon.engine.acd.next_deadline() is None  # the core forgot it
    daemon.close()
    await writer.close()
    record = await journal.get_call("b1")
    assert record is not None
    assert (record.category, record.outcome, record.caller) == ("blocked", "BLOCKED", BLOCKED)
    assert len(daemon.notes(CallBlocked)) == 1


async def test_an_announcement_that_never_ends_is_cut_after_thirty_seconds(
    journal: Journal,
) -> None:
    daemon, writer = await _blocked_caller_rig(journal)
    await daemon.caller("b1", BLOCKED)
    await daemon.advance(29.0)
    assert ("DELETE", "/channels/b1") not in [r[:2] for r in daemon.asterisk.log]
    await daemon.advance(1.0)
    assert daemon.asterisk.on("b1")[-1][:2] == ("DELETE", "/channels/b1")
    daemon.close()
    await writer.close()


async def test_a_blocked_caller_whose_hang_up_fails_is_handed_to_the_fallback_queue(
    journal: Journal,
) -> None:
    daemon, writer = await _blocked_caller_rig(journal)
    daemon.asterisk.fail("DELETE", "/channels/b1")
    await daemon.caller("b1", BLOCKED)
    await daemon.event(daemon.asterisk.frame("PlaybackFinished", playback={"id": "blocked-b1"}))
    # Never left alone: the dialplan's fallback queue answers.
    assert ("POST", "/channels/b1/continue") in [r[:2] for r in daemon.asterisk.log]
    daemon.close()
    await writer.close()
    record = await journal.get_call("b1")
    assert record is not None
    assert record.outcome == "BLOCKED"


async def test_a_blocked_caller_who_hangs_up_first_is_journaled_blocked(journal: Journal) -> None:
    daemon, writer = await _blocked_caller_rig(journal)
    daemon.asterisk.fail("POST", "/channels/b1/play/blocked-b1", status=404)
    # The announcement cannot start: gone already (and nothing to seal when the channel goes).
    await daemon.caller("b1", BLOCKED, CALLGATE_RECORDING="")
    assert daemon.asterisk.on("b1")[-1][:2] == ("DELETE", "/channels/b1")
    await daemon.event(daemon.asterisk.frame("StasisEnd", channel={"id": "b1"}))
    daemon.close()
    await writer.close()
    record = await journal.get_call("b1")
    assert record is not None
    assert record.outcome == "BLOCKED"


async def test_the_valve_puts_a_blocked_number_that_keeps_calling_through(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    daemon, writer = await _blocked_caller_rig(journal)
    await _call(journal, "e1", NOW - 300, BLOCKED)
    await _call(journal, "e2", NOW - 200, BLOCKED)
    with caplog.at_level(logging.INFO):
        await daemon.caller("b3", BLOCKED)
    assert "blocked caller put through by the safety valve" in caplog.messages
    assert "112 call entered" in caplog.messages
    [ring] = [r for r in daemon.asterisk.log if r[:2] == ("POST", "/channels")]
    assert ring[2]["callerId"].startswith('"VALVE')
    daemon.close()
    await writer.close()


# -- the admin CLI over the admin HTTP port --------------------------------------------------


class Admin:
    def __init__(self, http: OpsHttp, journal: Journal, env: pytest.MonkeyPatch) -> None:
        self.http = http
        self.journal = journal
        self.env = env

    async def cli(self, *argv: str, user: str = "sup") -> int:
        """The CLI as ``user`` runs it, with their token in ``CALLGATE_TOKEN``."""
        self.env.setenv("CALLGATE_TOKEN", token(user))
        return await asyncio.to_thread(main, [*argv, "--url", self.http.url])


async def _admin(
    journal: Journal, policy: ScreeningPolicy, env: pytest.MonkeyPatch
) -> AsyncIterator[Admin]:
    clock = Clock(NOW)
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    health = Health(clock=clock)
    view = LiveDaemonView(
        engine,
        control_of(engine, ["PJSIP/1003"]),
        health,
        journal,
        set_log_level=lambda level: None,
        clock=clock,
        dispositions=Dispositions(journal, None, policy, clock=clock),
        blocks=Blocks(journal, policy, clock=clock),
    )
    http = OpsHttp(
        view,
        health,
        Metrics(projected(engine), health, clock=clock).registry,
        authenticator=authenticator(),
        port=0,
    )
    await http.start()
    yield Admin(http, journal, env)
    await http.stop()
    engine.close()


@pytest.fixture
async def admin(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Admin]:
    async for a in _admin(journal, BLOCKING, monkeypatch):
        yield a


@pytest.fixture
async def admin_blocking_off(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Admin]:
    async for a in _admin(journal, ScreeningPolicy(), monkeypatch):
        yield a


async def test_cli_block_blocks_lists_and_unblocks_with_the_audit_trail(
    admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await admin.cli("block", "+62812340012", "--hours", "24", "--reason", "prank x4")
    assert code == 0
    assert "0812340012 blocked until" in capsys.readouterr().out
    assert await admin.cli("blocks") == 0
    out = capsys.readouterr().out
    assert "blocks in force: 1" in out
    assert "0812340012" in out
    assert "prank x4" in out
    assert "sup" in out

    assert await admin.cli("unblock", "0812340012", "--reason", "real emergency", user="root") == 0
    assert "0812340012: 1 block(s) lifted" in capsys.readouterr().out
    assert await admin.cli("unblock", "0812340012", "--reason", "again", user="root") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert await admin.cli("blocks") == 0
    assert "blocks in force: 0" in capsys.readouterr().out
    assert await admin.cli("blocks", "--all", "--json") == 0
    [row] = json.loads(capsys.readouterr().out)["blocks"]
    # The audit trail names the users the tokens belong to, not anything the client wrote.
    assert (row["by"], row["lifted_by"], row["lift_reason"]) == ("sup", "root", "real emergency")

    assert await admin.cli("block", "hello", "--hours", "1", "--reason", "r") == 2
    assert "not a caller number" in capsys.readouterr().err


async def test_cli_block_while_blocking_is_off_is_refused(
    admin_blocking_off: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await admin_blocking_off.cli("block", "0812", "--hours", "1", "--reason", "r")
    assert code == 3
    assert "blocking is off" in capsys.readouterr().err
    assert await admin_blocking_off.cli("blocks") == 0
    assert "blocking is OFF" in capsys.readouterr().out


async def test_cli_calls_disposition_sets_it_by_name(
    admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    await _call(admin.journal, "c1", NOW - 60, "+62812")
    code = await admin.cli("calls", "disposition", "c1", "wrong-number")
    assert code == 0
    assert "call c1: wrong-number" in capsys.readouterr().out
    stored = await JournalAnnotations(admin.journal).get("c1")
    assert stored is not None
    assert (stored.disposition, stored.disposition_by) == ("wrong-number", "sup")
    assert await admin.cli("calls", "disposition", "c9", "prank") == 3
    assert "c9 is not in the journal" in capsys.readouterr().err
    assert await admin.cli("calls", "disposition", "c1", "joke") == 2
    assert "'joke' is not a disposition" in capsys.readouterr().err
    assert await admin.cli("calls", "disposition", "c1") == 2
    with pytest.raises(SystemExit) as usage:  # argparse: --by is no option any more
        await admin.cli("calls", "disposition", "c1", "prank", "--by", "someone-else")
    assert usage.value.code == 2


async def test_admin_api_refuses_malformed_bodies(admin: Admin) -> None:
    import aiohttp

    async with aiohttp.ClientSession(headers=bearer("sup")) as session:
        for path, body in [
            ("/api/blocks", {"number": "0812", "hours": "1", "reason": "r"}),
            ("/api/blocks", {"number": "0812", "hours": True, "reason": "r"}),
            ("/api/blocks", {"number": "0812", "hours": 1}),
            ("/api/unblock", {"number": "0812"}),
            ("/api/calls/c1/disposition", {}),
            # A client-written "by" is refused: the audit trail takes the authenticated user.
            ("/api/calls/c1/disposition", {"disposition": "prank", "by": "someone-else"}),
            ("/api/blocks", {"number": "0812", "hours": 1, "reason": "r", "by": "x"}),
            ("/api/unblock", {"number": "0812", "reason": "r", "by": "x"}),
        ]:
            async with session.post(admin.http.url + path, json=body) as reply:
                assert reply.status == 400, (path, body, await reply.text())


async def test_without_the_services_the_api_says_unavailable(journal: Journal) -> None:
    clock = Clock(NOW)
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    view = LiveDaemonView(
        engine,
        control_of(engine, []),
        Health(clock=clock),
        None,
        set_log_level=print,
    )
    assert (await view.set_disposition("c1", "prank", "x"))["result"] == "unavailable"
    assert (await view.blocks(True))["result"] == "unavailable"
    assert (await view.block("0812", 1, "r", "x"))["result"] == "unavailable"
    assert (await view.unblock("0812", "r", "x"))["result"] == "unavailable"
    engine.close()
