"""Callback attempts' outbound calls: dialled once a call-taker has taken the attempt.

The core runs the callback worklist; this module carries out its commands. An attempt is laid
out with no caller channel (``PrepareCallback``: :meth:`CallbackLegs.expect`); the core offers
it like a 112 call. When a call-taker answers (``DialCallback``), they wait in the call's bridge
hearing a ringing tone while the trunk dials the number (into the dialplan, which records it and
hands it to Stasis once answered); an attempt that does not reach the number is the core's
``CallbackFailed`` (:mod:`.translate` reads how it ended from the hang-up cause). An attempt the
core withdraws (``CancelCallback``) is forgotten here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import AriError
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.ending import Endings
from callgate.asterisk.ari.layout import (
    BRIDGE_PREFIX,
    CALLBACK,
    RECORDING_VAR,
    CallbackLeg,
    CallLayout,
    Move,
)
from callgate.asterisk.ari.translate import Events
from callgate.core.callbacks import CALLBACK_CATEGORY, AttemptOutcome
from callgate.core.events import AgentHungUp, CallbackFailed, Event
from callgate.core.screening import e164
from callgate.ports import AgentConnected, CallStarted

log = logging.getLogger(__name__)

#: The dialplan context a callback is originated into (records it, then Stasis).
CALLBACK_CONTEXT = "callgate-callback"
#: Seconds the number called back may ring before the attempt counts as no answer.
CALLBACK_RING_SECONDS = 45
#: Caller-ID shown to the person called back.
CALLBACK_CALLER_ID = '"112" <112>'


class CallbackLegs:
    """Lays out callback attempts, dials them, and forgets the ones the core withdraws."""

    def __init__(self, shared: Shared, channels: Channels, endings: Endings) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        self.endings = endings

    async def expect(self, call_id: str, number: str, priority: int) -> None:
        """A callback attempt is about to be offered to call-takers: lay it out with no caller
        channel yet (the number is dialled once a call-taker answers, with ``call_id`` as the
        outbound channel's id) and journal it like a 112 call."""
        dial = self.shared.settings.callbacks.dial.format(number=number)
        self.book.calls[call_id] = CallLayout(
            call_id=call_id, caller=number, callback=CallbackLeg(dial)
        )
        await self.shared.feed(
            CallStarted(
                call_id,
                e164(number),
                number,
                CALLBACK,
                priority,
                self.shared.clock(),
                CALLBACK_CATEGORY,
            )
        )

    async def cancel(self, call_id: str) -> None:
        """The core withdrew the attempt (nobody took it, or the number got through by
        itself): it has ended the attempt already; its outbound call, if any, goes."""
        layout = self.book.calls.get(call_id)
        if layout is None or layout.callback is None:
            return
        log.info("callback withdrawn", extra={"call_id": call_id})
        layout.move(Move.END)
        if layout.callback.dialled:
            await self.channels.hang_up(call_id)
        await self.endings.forget_call(layout)

    async def dial(self, layout: CallLayout, agent_id: str, leg_id: str) -> Sequence[Event]:
        """A call-taker took a callback: they wait in the call's bridge hearing a ringing tone
        while the trunk dials the number; the bridge is completed when it answers."""
        callback = layout.callback
        assert callback is not None
        ari = self.shared.ari
        call_id = layout.call_id
        bridge_id = f"{BRIDGE_PREFIX}{call_id}"
        try:
            await ari.create_bridge(bridge_id, near=leg_id)  # the call-taker's node
            layout.bridge_id = bridge_id
            layout.move(Move.BRIDGE)
            await ari.add_to_bridge(bridge_id, leg_id)
        except AriError as exc:
            log.warning(
                "call-taker left before the callback was dialled",
                extra={"call_id": call_id, "agent_id": agent_id, "error": str(exc)},
            )
            if layout.bridge_id is not None:
                with contextlib.suppress(AriError):
                    await ari.destroy_bridge(layout.bridge_id)
                layout.bridge_id = None
                layout.move(Move.UNBRIDGE)
            return (AgentHungUp(call_id, agent_id),)
        callback.agent_id = agent_id
        tone = f"ring-{call_id}"
        with contextlib.suppress(AriError):
            await ari.request(
                "POST", f"/channels/{leg_id}/play/{tone}", params={"media": "tone:ring"}
            )
            callback.tone = tone
        log.info(
            "dialling callback",
            extra={"call_id": call_id, "agent_id": agent_id, "number": layout.caller},
        )
        try:
            await ari.originate(
                callback.dial,
                app_args="",
                caller_id=CALLBACK_CALLER_ID,
                ring_timeout=CALLBACK_RING_SECONDS,
                channel_id=call_id,
                near=leg_id,  # the node of the call-taker's leg and the bridge
                # The dialplan records it and hands it to Stasis once answered.
                dialplan=(CALLBACK_CONTEXT, "s", 1),
            )
            callback.dialled = True
            # Not in Stasis while it rings: follow it to hear how it ends unanswered.
            await self.channels.subscribe(call_id)
        except AriError as exc:
            return await self._failed(layout, str(exc))
        return ()

    async def _failed(self, layout: CallLayout, note: str) -> Sequence[Event]:
        log.info(
            "callback not reached",
            extra={
                "call_id": layout.call_id,
                "outcome": AttemptOutcome.FAILED.value,
                "cause": note,
            },
        )
        layout.move(Move.END)
        if layout.callback is not None and layout.callback.dialled:
            await self.channels.hang_up(layout.call_id)
        await self.endings.forget_call(layout)
        return (CallbackFailed(layout.call_id, AttemptOutcome.FAILED, note),)

    async def answered(self, call_id: str, bridged: Events) -> None:
        """The number called back answered (it runs Stasis from [callgate-callback]);
        ``bridged`` is what the core hears once it is in the call-taker's bridge."""
        layout = self.book.calls.get(call_id)
        callback = layout.callback if layout is not None else None
        if layout is None or callback is None or layout.ended or layout.bridge_id is None:
            log.info("unexpected callback answered; hanging it up", extra={"call_id": call_id})
            await self.channels.hang_up(call_id)
            return
        callback.answered = True
        if callback.tone is not None:
            with contextlib.suppress(AriError):
                await self.shared.ari.request("DELETE", f"/playbacks/{callback.tone}")
            callback.tone = None
        layout.recording = await self.channels.get_var(call_id, RECORDING_VAR) or None
        if layout.recording is None:
            self.endings.recording_alarm(
                call_id, "no MixMonitor on the callback (see the dialplan)"
            )
        try:
            await self.shared.ari.add_to_bridge(layout.bridge_id, call_id)
        except AriError as exc:
            # Gone already: its end arrives as a hang-up and ends the attempt.
            log.warning(
                "callback left before the bridge", extra={"call_id": call_id, "error": str(exc)}
            )
            return
        log.info(
            "callback connected",
            extra={"call_id": call_id, "agent_id": callback.agent_id, "number": layout.caller},
        )
        await self.shared.feed(*bridged)
        await self.shared.feed(AgentConnected(call_id, callback.agent_id, self.shared.clock()))

    def gone(self, gone: Events) -> None:
        """The outbound call ended; unanswered, ``gone`` says how (``CallbackFailed``)."""
        for failed in gone:
            if isinstance(failed, CallbackFailed):
                log.info(
                    "callback not reached",
                    extra={
                        "call_id": failed.call_id,
                        "outcome": failed.outcome.value,
                        "cause": failed.note,
                    },
                )

    async def taker_gone(self, layout: CallLayout, gone: Events) -> None:
        """The call-taker hung up while the number still rang: the attempt ends (``gone``:
        ``CallbackFailed``)."""
        self.gone(gone)
        layout.move(Move.END)
        await self.shared.feed(*gone)
        await self.channels.hang_up(layout.call_id)
        await self.endings.forget_call(layout)
