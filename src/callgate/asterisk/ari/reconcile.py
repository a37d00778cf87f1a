"""Restart safety: after every (re)connection, adopt what Asterisk still holds.

Asterisk forgets a disconnected application, so each connection starts by subscribing to the
call-takers' phones again, reading their states, and reconciling the calls: waiting callers are
re-queued in their original order and priority; connected calls stay connected (the call-taker
is busy until one side hangs up); legs that were ringing for the old process are hung up so
their callers are offered afresh; calls callgate still has but Asterisk no longer does are ended
as hung up. Calls the journal holds open that are neither among Asterisk's channels nor
callgate's are ended as ``ENDED_UNSEEN``: they ended while callgate was dead or away (killed
mid-call, or their end lost with the process), and nothing else would ever end them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from callgate.asterisk.ari.arrival import Arrivals
from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import AriError, AriUnavailable, JsonObject
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.ending import Endings
from callgate.asterisk.ari.layout import (
    ADOPTED,
    CALLTAKER,
    DESTINATION,
    RECORDING_VAR,
    CallLayout,
    Leg,
    Move,
    Phase,
)
from callgate.asterisk.ari.monitors import MONITOR_PREFIXES
from callgate.asterisk.ari.translate import adopted_answer, caller_number, in_app
from callgate.core.agents import DeviceState
from callgate.core.events import AgentLoggedIn, CallerHungUp, DeviceStateChanged, Event
from callgate.ports import ENDED_UNSEEN, CallEndedOutsideCore

log = logging.getLogger(__name__)

#: Seconds the journal may take to list its open calls at a (re)connection: the set-up waits
#: for it (its answer must be compared with the channels read just before).
OPEN_CALLS_TIMEOUT = 3.0

#: How a channel that vanished while callgate was away is told to the adapter (an ARI event).
ChannelGone = Callable[[JsonObject], Awaitable[None]]


class Reconciler:
    """Sets up each ARI connection and reconciles callgate's calls with Asterisk's channels."""

    def __init__(
        self,
        shared: Shared,
        channels: Channels,
        endings: Endings,
        arrivals: Arrivals,
        channel_gone: ChannelGone,
    ) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        self.endings = endings
        self.arrivals = arrivals
        self.channel_gone = channel_gone
        self._started_agents = False

    async def on_connected(self) -> None:
        """(Re)connected to ARI: subscribe, log call-takers in once, reconcile calls.

        Raises (TimeoutError, AriError, AriUnavailable) when it could not finish; the caller
        retries it, so every step may be repeated: the subscription is idempotent, the phones'
        states are read again, and the reconciliation skips callers it already holds.
        """
        ari, settings, endpoints = self.shared.ari, self.shared.settings, self.book.endpoints
        sources = ",".join(f"deviceState:{e}" for e in endpoints.values())
        phones: dict[str, DeviceState] = {}
        # Bounded as a whole: N slow replies must not add up to N request timeouts. The
        # reconciliation below is not: cancelling it halfway could strand a caller it was
        # taking; each of its requests has the client's own timeout, and a caller it cannot
        # set up is handed back to the dialplan.
        async with asyncio.timeout(settings.ari.setup_timeout):
            if sources:
                await ari.request(
                    "POST",
                    f"/applications/{ari.app}/subscription",
                    params={"eventSource": sources},
                )
            for agent_id, endpoint in endpoints.items():
                phones[agent_id] = await self._device_state(endpoint)
        events: list[Event] = []
        for agent_id, endpoint in endpoints.items():
            device = phones[agent_id]
            if not self._started_agents and settings.calltakers.logged_in_at_start:
                # On their behalf: the core logs in only those the roster has on now.
                events.append(
                    AgentLoggedIn(
                        agent_id, endpoint, device=device, name=endpoint, rostered_only=True
                    )
                )
            else:
                events.append(DeviceStateChanged(agent_id, device))
        self._started_agents = True
        await self.shared.feed(*events)
        await self._reconcile()

    async def follow(self, endpoints: Mapping[str, str]) -> dict[str, DeviceState]:
        """The call-takers changed (a reloaded configuration): follow the phones of
        ``endpoints`` (call-taker id -> endpoint) from now on; return the state of each phone
        not followed before, for the core.

        Nothing is restarted: the new phones' device states are subscribed to (and the removed
        ones' dropped) on the connection that runs. If ARI does not answer, the new phones count
        as unavailable (never rung) until their next state, and every (re)connection subscribes
        to all of them anyway."""
        book, ari = self.book, self.shared.ari
        added = {a: e for a, e in endpoints.items() if book.endpoints.get(a) != e}
        removed = [e for a, e in book.endpoints.items() if endpoints.get(a) != e]
        book.endpoints.clear()
        book.endpoints.update(endpoints)
        states: dict[str, DeviceState] = dict.fromkeys(added, DeviceState.UNAVAILABLE)
        path = f"/applications/{ari.app}/subscription"
        try:
            async with asyncio.timeout(self.shared.settings.ari.setup_timeout):
                if added:
                    sources = ",".join(f"deviceState:{e}" for e in added.values())
                    await ari.request("POST", path, params={"eventSource": sources})
                for agent_id, endpoint in added.items():
                    states[agent_id] = await self._device_state(endpoint)
                if removed:
                    sources = ",".join(f"deviceState:{e}" for e in removed)
                    await ari.request("DELETE", path, params={"eventSource": sources})
        except (TimeoutError, AriError, AriUnavailable) as exc:
            log.warning(
                "could not follow the call-takers' phones over ARI now; every reconnection does",
                extra={"error": str(exc) or type(exc).__name__},
            )
        return states

    async def _reconcile(self) -> None:
        """Adopt what Asterisk still holds after a restart of callgate (or of Asterisk)."""
        ari, book = self.shared.ari, self.book
        channels = await ari.list_channels()
        # Over several nodes, the list may leave out a node (in its grace, not yet connected):
        # its calls are not judged gone here; its own connection's set-up judges them.
        listed = ari.absence_judge()
        bridges: list[JsonObject] = await ari.request("GET", "/bridges")
        live_ids = {c["id"] for c in channels}
        by_id = {str(c["id"]): c for c in channels}
        in_bridge = {ch: b for b in bridges for ch in b.get("channels", [])}
        # What this process held before this reconciliation: the re-queued callers below are
        # offered at once, and the rings they start are not in ``channels`` (listed before
        # them). Judging those as "gone" would withdraw live rings as misses and, three in a
        # row, pause every call-taker while callers wait (the lab's SIGKILL-while-ringing run).
        held_calls = set(book.calls)
        held_legs = set(book.legs)
        for channel in channels:
            # A call-taker's phone still ringing (or answered, alone) for the old process: hung
            # up first, so that the phone is free before a re-queued caller is offered to it.
            channel_id = str(channel["id"])
            stale = channel_id.startswith(CALLTAKER) and channel_id not in book.legs
            if stale and channel_id not in in_bridge:
                await self.channels.hang_up(channel_id)
            elif channel_id.startswith(MONITOR_PREFIXES):
                # A supervisor listening (or their snoop) does not outlive a reconnection: they
                # ask again. Never a caller, nor a side of an adopted conversation, whose end
                # would hang up the caller.
                await self.channels.hang_up(channel_id)
        ours = [c for c in channels if in_app(c, ari.app) and not _monitor(c)]
        callers = sorted(
            (c for c in ours if not str(c["id"]).startswith((CALLTAKER, DESTINATION))),
            key=lambda c: str(c.get("creationtime", "")),
        )
        for channel in callers:
            if channel["id"] in book.calls:
                continue
            bridge = in_bridge.get(channel["id"])
            others = [
                ch
                for ch in (bridge or {}).get("channels", [])
                if ch != channel["id"] and not str(ch).startswith(MONITOR_PREFIXES)
            ]
            if bridge is not None and others:
                legs = [by_id[str(ch)] for ch in others if str(ch) in by_id]
                await self._adopt_connected(channel, bridge, others, legs)
                continue
            if bridge is not None:
                # Left alone in its bridge (the other side hung up while callgate was away).
                with contextlib.suppress(AriError):
                    await ari.destroy_bridge(str(bridge["id"]))
            log.warning(
                "re-queueing a caller found after restart", extra={"call_id": channel["id"]}
            )
            await self.arrivals.new_call(channel, reconnected=True)
        # Asterisk restarted (or channels vanished while we were away): end what is gone.
        for call_id, layout in list(book.calls.items()):
            gone = call_id not in live_ids and listed.judged(call_id)
            if call_id in held_calls and gone and not layout.ended:
                layout.move(Move.END)
                await self.shared.feed(CallerHungUp(call_id))
                await self.endings.forget_call(layout)
        missing = [c for c in book.legs if c in held_legs and c not in live_ids]
        for channel_id in [c for c in missing if listed.judged(c)]:
            await self.channel_gone(
                {
                    "type": "ChannelDestroyed",
                    "channel": {"id": channel_id},
                    "cause_txt": "gone after reconnect",
                }
            )
        if listed.every:  # a node not listed may hold some of the journal's open calls
            await self.end_unseen(live_ids)

    async def end_unseen(self, live_ids: set[str]) -> list[str]:
        """End the journal's open calls that nobody holds any more; returns their ids.

        A call whose start was journaled and whose end was not: callgate was killed while it
        was set up, rang, talked or had just ended (its end still queued), and the call ended
        before this (re)connection. Asterisk no longer has its channel and callgate's book does
        not hold it (a caller re-queued or a conversation adopted just now is held, and ends as
        any call does), so nothing would ever end it. It is ended now as ``ENDED_UNSEEN`` at
        this moment (it ended between its last journaled step and now), in the journal and on
        CAD's stream, and its recording is sealed (unless the journal has it already). The
        journal closes only a call still open: an end queued ahead of this one (replayed from
        the spool) is kept. Runs inside the set-up, while events are held:
        the book and the channels read just before are the same moment. A journal that cannot
        answer now is asked again at the next (re)connection.
        """
        if self.shared.open_calls is None:
            return []
        try:
            async with asyncio.timeout(OPEN_CALLS_TIMEOUT):
                open_calls = await self.shared.open_calls()
        except Exception as exc:  # the journal away or slow: never a reason to fail a set-up
            log.warning(
                "could not read the journal's open calls; looked for again at the next "
                "reconnection",
                extra={"error": str(exc) or type(exc).__name__},
            )
            return []
        now = self.shared.clock()
        ended = []
        for call in open_calls:
            if call.call_id in live_ids or call.call_id in self.book.calls:
                continue
            log.warning(
                "call ended",
                extra={
                    "call_id": call.call_id,
                    "outcome": ENDED_UNSEEN,
                    "inferred": "gone when callgate (re)connected; nobody saw it end",
                    "last_seen": call.last_seen.isoformat(),
                },
            )
            await self.shared.feed(CallEndedOutsideCore(call.call_id, ENDED_UNSEEN, now))
            if not call.recorded:
                # Its recording, finished with the call: sealed and journaled as any call's
                # (or its absence said), the dialplan's file name for the call.
                unseen = CallLayout(call.call_id, "", recording=f"callgate/{call.call_id}.wav")
                self.shared.tasks.spawn(self.endings.seal_when_closed(unseen, closed=True))
            ended.append(call.call_id)
        return ended

    async def _adopt_connected(
        self, channel: JsonObject, bridge: JsonObject, others: list[str], legs: list[JsonObject]
    ) -> None:
        """A conversation that outlived callgate: keep it, and journal it when it ends.

        ``legs``: the channels of ``others`` (the other sides) as listed. Its end names who
        answered and when, from the bridge: the answer may never have reached the journal (still
        queued when the old process or leader died); one it did reach is kept instead."""
        call_id = str(channel["id"])
        answered_by, answered_at = adopted_answer(bridge, legs, self.book.endpoints)
        # The core never sees it; only the bridge is ours to clean up.
        layout = CallLayout(
            call_id=call_id,
            caller=caller_number(channel),
            phase=Phase.ADOPTED,
            bridge_id=str(bridge["id"]),
            answered_by=answered_by,
            answered_at=answered_at,
        )
        layout.recording = await self.channels.get_var(call_id, RECORDING_VAR) or None
        self.book.calls[call_id] = layout
        await self.arrivals.report_restored(channel, layout.caller)
        if layout.recording is None:
            # As for a new caller: said once its start is on its way to the journal.
            self.endings.recording_alarm(call_id, "no MixMonitor on the call (see the dialplan)")
        for other in others:
            self.book.legs[other] = Leg(call_id, ADOPTED)
            self.book.answered.add(other)
        log.warning(
            "adopted a connected call after restart",
            extra={"call_id": call_id, "legs": ",".join(others), "agent_id": answered_by},
        )

    async def _device_state(self, endpoint: str) -> DeviceState:
        """A phone's state now, from its PJSIP endpoint (ARI's deviceStates covers only custom
        device states, so a phone registered before callgate started would look absent)."""
        tech, _, resource = endpoint.partition("/")
        try:
            state = await self.shared.ari.get_endpoint(tech, resource)
        except AriError:
            return DeviceState.UNAVAILABLE
        if state.get("state") != "online":
            return DeviceState.UNAVAILABLE
        return DeviceState.IN_USE if state.get("channel_ids") else DeviceState.NOT_INUSE


def _monitor(channel: JsonObject) -> bool:
    """A supervisor's leg or its snoop (:mod:`.monitors`), by the id callgate gave it."""
    return str(channel["id"]).startswith(MONITOR_PREFIXES)
