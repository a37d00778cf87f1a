"""callgate killed at every step of a call's life, then started again: every call whose start
the journal has gets its end (#25).

Found by the lab's fault suite on Asterisk 16 (SIGKILL mid-burst, 1 run in 3): a call was left
in the journal with its start and no end. The reconciliation after a restart looked only at
Asterisk's live channels, so a call that ended while callgate was dead (its call-taker and its
caller hung up in the gap), or whose end was still queued for the journal at the kill, stayed
open for ever.

Here the first process (the real ARI adapter, engine and core, the journal writer on a real
SQLite journal) takes a call up to a step and is killed there: its writer stops where it is
(``behind``: what it had not written is lost, as with SIGKILL; ``written``: it had caught up),
nothing is spooled. While it is dead the phones go on (nobody hangs up, the call-taker does,
the caller does, or both). A second process on the same journal reconnects to what Asterisk
still has, as the daemon does, and the call's remaining channels end. Then the journal must
have no open call, and an end the first process had written must not be replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from callgate.asterisk.ari.client import JsonObject
from callgate.asterisk.settings import RecordingSettings
from callgate.config import Settings
from callgate.core.agents import DeviceState
from callgate.core.config import AcdConfig
from callgate.core.events import AgentLoggedIn, DeviceStateChanged
from callgate.daemon.journaling import CallJournal
from callgate.ports import ENDED_UNSEEN, CallEndedOutsideCore, OpenCall
from callgate.storage.journal import Journal
from callgate.storage.records import RecordingStatus
from tests.unit.asterisk.recorded_ari import RecordedAri as Asterisk
from tests.unit.phone_system import T0, Daemon

CALL = "1796629749.154"
CALLER = "+6281100000154"
TAKER = "1001"
CONFIG = AcdConfig(max_wait=None)
#: Where the first process is killed: the caller waits (nobody logged in), a call-taker's
#: phone rings, they talk, the call-taker has hung up (the call is over for callgate).
STEPS = ("waiting", "ringing", "talking", "ended")
#: What happens to the call while callgate is dead.
WHILE_DEAD = ("nothing", "taker-hangs-up", "caller-hangs-up", "both-hang-up")
#: The call-taker answers 5 s after the ring; Asterisk's stamp on the bridge made for them then
#: (the adoption's answer time, when the journal never had theirs) is 40 ms later, as in the lab.
ANSWERED = T0 + 5
BRIDGED = "2027-01-15T08:00:05.040+0000"


class World(Asterisk):
    """Asterisk as the second process finds it: the channels and bridges still there."""

    def __init__(self) -> None:
        super().__init__()
        #: The channels and bridges Asterisk has now (answered to ``GET /channels``, ``/bridges``).
        self.live: dict[str, JsonObject] = {}
        self.held: dict[str, list[str]] = {}

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: JsonObject | None = None,
    ) -> Any:
        if (method, path) == ("GET", "/channels"):
            self.log.append((method, path, {}))
            return list(self.live.values())
        if (method, path) == ("GET", "/bridges"):
            self.log.append((method, path, {}))
            return [
                {"id": b, "channels": list(chs), "creationtime": BRIDGED}
                for b, chs in self.held.items()
            ]
        return await super().request(method, path, params, body)

    def hang_up(self, channel_id: str) -> None:
        self.live.pop(channel_id, None)
        for members in self.held.values():
            if channel_id in members:
                members.remove(channel_id)


def _in_stasis(channel_id: str, *args: str) -> JsonObject:
    return {
        "id": channel_id,
        "state": "Up",
        "caller": {"number": CALLER if not args else ""},
        "dialplan": {"app_name": "Stasis", "app_data": ",".join(("callgate", *args))},
        "creationtime": "2027-01-15T08:00:00.000+0000",
    }


async def _process(journal: Journal, asterisk: Asterisk, now: float) -> tuple[Daemon, CallJournal]:
    """One callgate process on ``journal``, wired as the daemon wires it."""
    writer = CallJournal(journal)
    writer.start()
    daemon = Daemon(CONFIG, asterisk=asterisk, observers=[writer.notification], now=now)
    daemon.adapter.shared.open_calls = writer.open_calls
    return daemon, writer


def _leg(asterisk: Asterisk) -> str:
    [leg] = [
        r[2]["channelId"]
        for r in asterisk.log
        if r[:2] == ("POST", "/channels") and r[2].get("appArgs") == f"calltaker,{CALL},{TAKER}"
    ][-1:]
    return str(leg)


def _bridge(asterisk: Asterisk) -> str:
    [bridge] = [
        r[1].split("/")[2]
        for r in asterisk.log
        if r[0] == "POST" and r[1].startswith("/bridges/") and r[1].count("/") == 2
    ][-1:]
    return bridge


async def _gone(daemon: Daemon, channel_id: str) -> None:
    await daemon.event({"type": "StasisEnd", "channel": {"id": channel_id}})
    await daemon.event(
        {"type": "ChannelDestroyed", "channel": {"id": channel_id}, "cause_txt": "Normal"}
    )


async def _first_process_killed_at(step: str, journal: Journal, *, written: bool) -> World:
    """The first process takes the call up to ``step`` and is killed; what Asterisk has then."""
    asterisk = Asterisk()
    daemon, writer = await _process(journal, asterisk, T0)
    world = World()
    # Logged in, phone not yet registered: the caller waits (nobody logged in would send them
    # to the fallback queue at once).
    await daemon.engine.feed(AgentLoggedIn(TAKER, f"PJSIP/{TAKER}", device=DeviceState.UNAVAILABLE))
    await daemon.caller(CALL, CALLER, CALLGATE_RECORDING="")
    world.live[CALL] = _in_stasis(CALL)
    if step != "waiting":
        await daemon.engine.feed(DeviceStateChanged(TAKER, DeviceState.NOT_INUSE))
        await daemon.settle()
        leg = _leg(asterisk)
        world.live[leg] = _in_stasis(leg, "calltaker", CALL, TAKER)
    if step in ("talking", "ended"):
        daemon.clock.now = ANSWERED
        await daemon.answer(CALL, TAKER)
        world.held[_bridge(asterisk)] = [CALL, leg]
    if step == "ended":
        daemon.clock.now += 20
        world.hang_up(leg)
        await _gone(daemon, leg)
        # callgate hangs the caller up once the call-taker has: the call is over.
        assert any(r[:2] == ("DELETE", f"/channels/{CALL}") for r in asterisk.log)
        world.hang_up(CALL)
    if written:
        await asyncio.wait_for(writer._queue.join(), 10)
    # SIGKILL: the writer stops where it is, nothing is spooled, the engine is gone.
    assert writer._task is not None
    writer._task.cancel()
    # (Its database session is rolled back and returned, as the kernel would close the file.)
    with contextlib.suppress(asyncio.CancelledError):
        await writer._task
    daemon.close()
    return world


def _while_dead(world: World, what: str) -> None:
    legs = [c for c in world.live if c != CALL]
    if what in ("taker-hangs-up", "both-hang-up"):
        for leg in legs:
            world.hang_up(leg)
    if what in ("caller-hangs-up", "both-hang-up"):
        world.hang_up(CALL)


async def _restart_and_finish(journal: Journal, world: World) -> list[str]:
    """A new process reconnects to what Asterisk still has; then every channel left ends.
    Returns the calls its reconnection ended as gone."""
    daemon, writer = await _process(journal, world, T0 + 60)
    await daemon.login(TAKER)
    before = [c.call_id for c in await journal.open_calls()]
    await daemon.adapter.reconciler._reconcile()
    await daemon.settle()
    unseen = [c for c in before if c not in daemon.adapter.book.calls]
    # The call goes on as Asterisk has it; its channels (and any leg rung since) end.
    daemon.clock.now += 10
    for channel_id in [c for c in world.live if c != CALL] + [CALL]:
        world.hang_up(channel_id)
        await _gone(daemon, channel_id)
    for leg in [r[2]["channelId"] for r in world.log if r[:2] == ("POST", "/channels")]:
        await _gone(daemon, str(leg))
    await daemon.settle()
    await writer.close()
    daemon.close()
    return unseen


@pytest.mark.parametrize("written", [True, False], ids=["written", "behind"])
@pytest.mark.parametrize(
    ("step", "while_dead"),
    [(s, w) for s in STEPS for w in WHILE_DEAD if s != "ended" or w == "nothing"],
)
async def test_killed_at_any_step_every_started_call_ends(
    tmp_path: Path, step: str, while_dead: str, written: bool
) -> None:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    try:
        world = await _first_process_killed_at(step, journal, written=written)
        first = await journal.get_call(CALL)
        _while_dead(world, while_dead)
        gone = CALL not in world.live
        await journal.close()  # the process is gone; the next one opens the file again
        journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
        await _restart_and_finish(journal, world)
        assert await journal.open_calls() == []
        call = await journal.get_call(CALL)
    finally:
        await journal.close()
    if first is None:
        # Killed before its start was written, and gone before the restart: never journaled.
        assert call is None or call.ended_at is not None
        return
    assert call is not None
    assert call.ended_at is not None
    # The call had no recording (no MixMonitor): the journal says so, whichever process did.
    assert call.recording is not None
    assert call.recording.status == RecordingStatus.FAILED
    assert call.outcome is not None
    if first.ended_at is not None:
        # The first process's end was written: it stays, whatever the restart finds.
        assert (call.outcome, call.ended_at) == (first.outcome, first.ended_at)
    elif gone:
        # Gone by the restart: ended then, as nobody saw it end.
        assert call.outcome == ENDED_UNSEEN
        assert call.ended_at == dt.datetime.fromtimestamp(T0 + 60, dt.UTC)
    else:
        # Still there at the restart: re-queued or adopted, and it ended as calls end.
        assert call.outcome != ENDED_UNSEEN
    answered = (call.answered_by, call.answered_at)
    if step in ("talking", "ended") and written and while_dead != "taker-hangs-up":
        # Answered, and the journal had it: who answered and when stay, however it ended
        # (adopted, or ended unseen), for whoever asks later what became of the call.
        assert answered == (TAKER, dt.datetime.fromtimestamp(ANSWERED, dt.UTC))
    if step == "talking" and while_dead == "nothing":
        # Adopted: when the answer never reached the journal (killed with it queued), the
        # adoption names the call-taker in the bridge, answered when Asterisk made it.
        assert call.answered_by == TAKER
        assert call.answered_at is not None
        assert call.answered_at.timestamp() in (ANSWERED, ANSWERED + 0.04)
        assert TAKER in {a.agent_id for a in call.agents if a.role == "call-taker"}


async def test_a_journal_away_at_the_reconnection_is_asked_again_at_the_next(
    tmp_path: Path,
) -> None:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    try:
        world = await _first_process_killed_at("talking", journal, written=True)
        _while_dead(world, "both-hang-up")
        daemon, writer = await _process(journal, world, T0 + 60)
        real = daemon.adapter.shared.open_calls
        assert real is not None

        async def away() -> list[OpenCall]:
            raise OSError("database is locked")

        daemon.adapter.shared.open_calls = away
        await daemon.adapter.reconciler._reconcile()
        await asyncio.wait_for(writer._queue.join(), 10)
        assert [c.call_id for c in await journal.open_calls()] == [CALL]
        daemon.adapter.shared.open_calls = real
        daemon.clock.now += 30
        await daemon.adapter.reconciler._reconcile()
        await writer.close()
        daemon.close()
        call = await journal.get_call(CALL)
    finally:
        await journal.close()
    assert call is not None
    assert call.outcome == ENDED_UNSEEN
    assert call.ended_at == dt.datetime.fromtimestamp(T0 + 90, dt.UTC)


async def test_the_reconnection_leaves_a_call_asterisk_still_has_outside_callgate(
    tmp_path: Path,
) -> None:
    """A call still open in the journal is not ended while Asterisk has its channel (a caller
    in the fallback queue, outside callgate's app): the queue_log reader journals its end."""
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    try:
        world = await _first_process_killed_at("waiting", journal, written=True)
        elsewhere = dict(world.live[CALL], dialplan={"app_name": "Queue", "app_data": "112"})
        world.live[CALL] = elsewhere
        daemon, writer = await _process(journal, world, T0 + 60)
        await daemon.adapter.reconciler._reconcile()
        await writer.close()
        daemon.close()
        call = await journal.get_call(CALL)
    finally:
        await journal.close()
    assert CALL not in daemon.adapter.book.calls
    assert call is not None
    assert call.ended_at is None


async def test_a_call_whose_end_is_queued_for_the_journal_is_not_open(tmp_path: Path) -> None:
    """At a reconnection while the journal is behind, a call this process ended is not taken
    for one gone unseen (CAD would get a second end)."""
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    try:
        at = dt.datetime.fromtimestamp(T0, dt.UTC)
        await journal.call_started(
            CALL, caller=CALLER, caller_sent="0811", dialed="112", priority=1, category="", at=at
        )
        writer = CallJournal(journal)  # not started: what it is given stays queued
        assert [c.call_id for c in await writer.open_calls()] == [CALL]
        await writer.notification(CallEndedOutsideCore(CALL, "COMPLETED", T0 + 5))
        assert await writer.open_calls() == []
        writer.start()
        await writer.close()
        assert await writer.open_calls() == []
        call = await journal.get_call(CALL)
    finally:
        await journal.close()
    assert call is not None
    assert call.outcome == "COMPLETED"


async def test_a_call_ended_unseen_gets_its_recording_sealed(tmp_path: Path) -> None:
    """The recording of a call that ended while callgate was dead is sealed and journaled as
    any call's: the evidence of a call is never left unhashed."""
    folder = tmp_path / "monitor"
    (folder / "callgate").mkdir(parents=True)
    with wave.open(str(folder / "callgate" / f"{CALL}.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000)
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    try:
        at = dt.datetime.fromtimestamp(T0, dt.UTC)
        await journal.call_started(
            CALL, caller=CALLER, caller_sent="0811", dialed="112", priority=1, category="", at=at
        )
        writer = CallJournal(journal)
        writer.start()
        settings = Settings(recording=RecordingSettings(asterisk_dir=str(folder)))
        daemon = Daemon(
            CONFIG,
            settings=settings,
            asterisk=World(),
            observers=[writer.notification],
            now=T0 + 60,
        )
        daemon.adapter.shared.open_calls = writer.open_calls
        await daemon.adapter.reconciler._reconcile()
        await daemon.settle()
        await writer.close()
        daemon.close()
        call = await journal.get_call(CALL)
    finally:
        await journal.close()
    assert call is not None
    assert call.outcome == ENDED_UNSEEN
    assert call.recording is not None
    assert call.recording.status == RecordingStatus.READY
    assert call.recording.duration_s == 1.0
