"""The interim call flow: connect each 112 call to the first free call-taker.

This is the first slice that proves the lab end to end (trunk -> Stasis -> call-taker -> bridge).
The ACD core (priorities, strategies, wrap-up, rosters) replaces the decisions made here; the rule
it already keeps is the one that matters most: a caller callgate cannot connect is handed back to
the dialplan, whose fallback queue still reaches a human. Nothing here hangs up on a waiting caller.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from callgate.asterisk.ari import AriClient, AriError, AriUnavailable, Connected, JsonObject
from callgate.config import Settings

log = logging.getLogger(__name__)

# appArgs marking a call-taker's leg that callgate originated: "calltaker,<caller channel id>".
CALLTAKER_ARG = "calltaker"


@dataclass
class Call:
    """One 112 caller and the call-taker leg offered to them, if any."""

    channel_id: str
    caller: str
    tried: set[str] = field(default_factory=set)
    agent_endpoint: str | None = None
    agent_channel_id: str | None = None
    bridge_id: str | None = None
    connected: bool = False


class DirectConnect:
    """Routes ARI events for the Stasis app; one instance per daemon."""

    def __init__(self, ari: AriClient, settings: Settings) -> None:
        self.ari = ari
        self.settings = settings
        self.calls: dict[str, Call] = {}
        self.agent_legs: dict[str, str] = {}  # call-taker channel id -> caller channel id
        self.busy: set[str] = set()  # endpoints ringing or on a call

    async def handle(self, event: JsonObject | Connected) -> None:
        """Handle one event; a failure is logged and never stops the event loop."""
        try:
            if isinstance(event, Connected):
                await self._reconcile()
                return
            kind = event["type"]
            if kind == "StasisStart":
                await self._on_stasis_start(event)
            elif kind == "StasisEnd":
                await self._on_stasis_end(event["channel"]["id"])
            elif kind == "ChannelDestroyed":
                await self._on_destroyed(event["channel"]["id"])
        except (AriError, AriUnavailable) as exc:
            log.warning("ARI request failed while handling an event", extra={"error": str(exc)})
        except (KeyError, TypeError) as exc:
            log.error(
                "ARI event without the expected fields; skipped",
                extra={"event_type": _type_of(event), "missing": str(exc)},
            )

    async def shutdown(self) -> None:
        """On stop, waiting callers go back to the fallback queue; connected calls stay up."""
        for call in list(self.calls.values()):
            if not call.connected:
                await self._hand_back(call, "callgate is stopping")

    # ------------------------------------------------------------------ events

    async def _on_stasis_start(self, event: JsonObject) -> None:
        channel = event["channel"]
        args = event.get("args") or []
        if args and args[0] == CALLTAKER_ARG:
            await self._on_agent_answered(channel["id"], args[1] if len(args) > 1 else "")
            return
        call = Call(channel_id=channel["id"], caller=channel.get("caller", {}).get("number", ""))
        self.calls[call.channel_id] = call
        log.info("112 call entered", extra={"call_id": call.channel_id, "caller": call.caller})
        await self.ari.answer(call.channel_id)
        await self.ari.start_moh(call.channel_id)
        await self._offer(call)

    async def _on_agent_answered(self, agent_channel_id: str, caller_channel_id: str) -> None:
        call = self.calls.get(caller_channel_id)
        if call is None or call.agent_channel_id != agent_channel_id:
            # The caller left while this phone was ringing: never leave a call-taker on a dead line.
            log.info(
                "call-taker answered a call that has ended", extra={"call_id": caller_channel_id}
            )
            await self._quiet_hangup(agent_channel_id)
            return
        await self.ari.stop_moh(call.channel_id)
        bridge = await self.ari.create_bridge("mixing", name=f"call-{call.channel_id}")
        call.bridge_id = bridge["id"]
        await self.ari.add_to_bridge(bridge["id"], call.channel_id, agent_channel_id)
        call.connected = True
        log.info(
            "call connected",
            extra={"call_id": call.channel_id, "calltaker": call.agent_endpoint},
        )

    async def _on_stasis_end(self, channel_id: str) -> None:
        if channel_id in self.calls:
            call = self.calls.pop(channel_id)
            log.info("caller left", extra={"call_id": channel_id, "connected": call.connected})
            await self._release_agent(call, hang_up=True)
            await self._destroy_bridge(call)
        elif channel_id in self.agent_legs:
            await self._on_agent_gone(channel_id)

    async def _on_destroyed(self, channel_id: str) -> None:
        if channel_id in self.agent_legs:
            await self._on_agent_gone(channel_id)

    async def _on_agent_gone(self, agent_channel_id: str) -> None:
        caller_id = self.agent_legs.pop(agent_channel_id)
        call = self.calls.get(caller_id)
        if call is None:
            return
        if call.agent_endpoint is not None:
            self.busy.discard(call.agent_endpoint)
        call.agent_channel_id = None
        if call.connected:
            # The call-taker ended the conversation: the emergency call is over.
            log.info("call-taker hung up", extra={"call_id": caller_id})
            self.calls.pop(caller_id, None)
            await self._destroy_bridge(call)
            await self._quiet_hangup(caller_id)
            return
        log.info(
            "call-taker did not answer; trying the next",
            extra={"call_id": caller_id, "calltaker": call.agent_endpoint},
        )
        call.agent_endpoint = None
        await self._offer(call)

    # ------------------------------------------------------------------ actions

    async def _offer(self, call: Call) -> None:
        for endpoint in self.settings.calltakers.endpoints:
            if endpoint in self.busy or endpoint in call.tried:
                continue
            if not await self._is_online(endpoint):
                continue
            agent_channel_id = f"calltaker-{uuid.uuid4()}"
            call.tried.add(endpoint)
            call.agent_endpoint = endpoint
            call.agent_channel_id = agent_channel_id
            self.busy.add(endpoint)
            self.agent_legs[agent_channel_id] = call.channel_id
            shown = call.caller or "anonymous"
            try:
                await self.ari.originate(
                    endpoint,
                    app_args=f"{CALLTAKER_ARG},{call.channel_id}",
                    caller_id=f'"112 {shown}" <{shown}>',
                    ring_timeout=self.settings.calltakers.ring_timeout,
                    channel_id=agent_channel_id,
                )
            except AriError as exc:
                log.warning(
                    "could not ring call-taker", extra={"calltaker": endpoint, "error": str(exc)}
                )
                self.agent_legs.pop(agent_channel_id, None)
                self.busy.discard(endpoint)
                call.agent_endpoint = call.agent_channel_id = None
                continue
            log.info(
                "ringing call-taker", extra={"call_id": call.channel_id, "calltaker": endpoint}
            )
            return
        await self._hand_back(call, "no call-taker free")

    async def _hand_back(self, call: Call, reason: str) -> None:
        log.warning(
            "handing the call to the fallback queue",
            extra={"call_id": call.channel_id, "reason": reason},
        )
        self.calls.pop(call.channel_id, None)
        await self._release_agent(call, hang_up=True)
        # MOH may not have started; the hand-back below is what matters.
        with contextlib.suppress(AriError):
            await self.ari.stop_moh(call.channel_id)
        await self.ari.continue_in_dialplan(call.channel_id)

    async def _reconcile(self) -> None:
        """After (re)connecting, hand back any caller callgate does not know to the fallback queue.

        Asterisk keeps no events for a disconnected application, so a caller who entered Stasis
        while callgate was away (or before a restart) would otherwise wait in silence for ever.
        """
        for channel in await self.ari.list_channels():
            dialplan: dict[str, Any] = channel.get("dialplan", {})
            in_our_app = dialplan.get("app_name") == "Stasis" and str(
                dialplan.get("app_data", "")
            ).startswith(self.ari.app)
            if not in_our_app or dialplan.get("context") != "emergency":
                continue
            if channel["id"] in self.calls:
                continue
            log.warning("found a 112 caller nobody serves", extra={"call_id": channel["id"]})
            await self._hand_back(
                Call(channel_id=channel["id"], caller=channel.get("caller", {}).get("number", "")),
                "unowned after reconnect",
            )

    async def _is_online(self, endpoint: str) -> bool:
        tech, _, resource = endpoint.partition("/")
        try:
            state = await self.ari.get_endpoint(tech, resource)
        except AriError:
            return False
        return state.get("state") == "online" and not state.get("channel_ids")

    async def _release_agent(self, call: Call, *, hang_up: bool) -> None:
        if call.agent_endpoint is not None:
            self.busy.discard(call.agent_endpoint)
        if call.agent_channel_id is not None:
            self.agent_legs.pop(call.agent_channel_id, None)
            if hang_up:
                await self._quiet_hangup(call.agent_channel_id)
            call.agent_channel_id = None

    async def _destroy_bridge(self, call: Call) -> None:
        if call.bridge_id is not None:
            with contextlib.suppress(AriError):  # already gone with its last channel
                await self.ari.destroy_bridge(call.bridge_id)
            call.bridge_id = None

    async def _quiet_hangup(self, channel_id: str) -> None:
        try:
            await self.ari.hangup(channel_id)
        except AriError as exc:
            if exc.status != 404:  # 404: it hung up by itself first
                raise


def _type_of(event: object) -> str:
    return str(event.get("type")) if isinstance(event, dict) else type(event).__name__
