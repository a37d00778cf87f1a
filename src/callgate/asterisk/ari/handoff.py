"""Hand-off to agencies and a call-taker's keys during a call.

``*<digit>`` calls an agency into the conversation (three-way), ``#<digit>`` hands the call off
(the call-taker leaves once the agency answers), ``**<digit>`` sets the call's disposition.
Each key of a connected call-taker goes to the core (``CallTakerKeyPressed``), which reads the
sequences and their timeout and answers with ``CallAgency`` or ``SetDispositionByKey``, carried
out here. The caller's MixMonitor goes on recording across the hand-off, in the same file. The
call-taker's screen asks for the same through :meth:`HandOff.hand_off`.
"""

from __future__ import annotations

import logging
import uuid

from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import AriError
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.layout import AGENCY, CALLTAKER, CallLayout, Leg
from callgate.asterisk.ari.translate import Events, quote
from callgate.core.commands import CallAgency, SetDispositionByKey
from callgate.ports import AgencyConnected, DispositionSink

log = logging.getLogger(__name__)


class HandOff:
    """Agencies called from a call, and dispositions keyed by its call-taker."""

    def __init__(self, shared: Shared, channels: Channels) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        #: Where call-takers' dispositions go (``**<digit>`` during a call), if anywhere.
        self.dispositions: DispositionSink | None = None

    async def call_agency(self, command: CallAgency) -> None:
        """``*<digit>`` / ``#<digit>``, as the core read them: the agency on that digit."""
        for name, agency in self.shared.settings.agencies.items():
            if agency.digit == command.digit:
                await self._call_agency(
                    command.call_id, command.agent_id, name, agency.dial, hand_off=command.hand_off
                )
                return
        log.info(
            "no agency on that key",
            extra={
                "call_id": command.call_id,
                "agent_id": command.agent_id,
                "digit": command.digit,
            },
        )

    def set_disposition(self, command: SetDispositionByKey) -> None:
        """``**<digit>``, as the core read it; in the background: the journal's round trips
        must not hold up the commands behind it."""
        self.shared.tasks.spawn(self._set_disposition(command))

    async def hand_off(self, call_id: str, agency: str, mode: str) -> str:
        """The same as the call-taker's ``*<digit>`` (three-way) or ``#<digit>`` (hand-off) on
        ``call_id``, asked from their screen (:class:`callgate.ports.HandOffs`)."""
        settings = self.shared.settings.agencies.get(agency)
        if settings is None:
            return "unknown-agency"
        layout = self.book.calls.get(call_id)
        connected = [] if layout is None else list(layout.agent_legs.values())
        leg_id = next((c for c in connected if c in self.book.answered), None)
        leg = None if leg_id is None else self.book.legs.get(leg_id)
        if leg is None or leg.role != CALLTAKER:
            return "not-connected"
        called = await self._call_agency(
            leg.call_id, leg.agent_id, agency, settings.dial, hand_off=mode == "hand-off"
        )
        return "ok" if called else "failed"

    async def _set_disposition(self, command: SetDispositionByKey) -> None:
        """``**<digit>``: the call-taker classes the call they are on (genuine, prank...)."""
        call_id, agent_id, digit = command.call_id, command.agent_id, command.digit
        channel_id = self._calltaker_channel(call_id, agent_id)
        sink = self.dispositions
        tones = self.shared.settings.calltakers.prompts
        disposition = sink.for_digit(digit) if sink is not None else None
        if sink is None or disposition is None:
            log.info(
                "no disposition on that key",
                extra={"call_id": call_id, "agent_id": agent_id, "digit": digit},
            )
            await self._beep(channel_id, tones.in_call_disposition_failed)
            return
        try:
            ok = (await sink.set(call_id, disposition, by=agent_id, source="dtmf")).ok
        except Exception:
            log.exception("disposition failed", extra={"call_id": call_id})
            ok = False
        # A short confirmation to the call-taker only (the caller does not hear it).
        await self._beep(
            channel_id, tones.in_call_disposition_ok if ok else tones.in_call_disposition_failed
        )

    def _calltaker_channel(self, call_id: str, agent_id: str) -> str | None:
        """The call-taker's answered channel on the call (the one that keyed), while it is."""
        return next(
            (
                channel_id
                for channel_id, leg in self.book.legs.items()
                if leg.role == CALLTAKER
                and (leg.call_id, leg.agent_id) == (call_id, agent_id)
                and channel_id in self.book.answered
            ),
            None,
        )

    async def _beep(self, channel_id: str | None, tone: str) -> None:
        if channel_id is not None:
            await self.channels.beep(channel_id, tone)

    async def _call_agency(
        self, call_id: str, agent_id: str, name: str, dial: str, *, hand_off: bool
    ) -> bool:
        layout = self.book.calls.get(call_id)
        if layout is None:
            return False
        leg_id = f"agency-{uuid.uuid4()}"
        self.book.legs[leg_id] = Leg(
            call_id, AGENCY, agent_id=agent_id, agency=name, hand_off=hand_off
        )
        log.info(
            "calling an agency",
            extra={
                "call_id": call_id,
                "agent_id": agent_id,
                "agency": name,
                "mode": "hand-off" if hand_off else "three-way",
            },
        )
        try:
            await self.shared.ari.originate(
                dial,
                app_args=f"{AGENCY},{call_id},{name}",
                caller_id=f'"{quote("112 " + layout.caller)}" <{layout.caller}>',
                ring_timeout=60,
                channel_id=leg_id,
                near=call_id,
            )
        except AriError as exc:
            self.book.legs.pop(leg_id, None)
            log.warning(
                "agency could not be called",
                extra={"call_id": call_id, "agency": name, "error": str(exc)},
            )
            return False
        return True

    async def agency_answered(self, leg: Leg, channel_id: str, joined: Events) -> None:
        """The agency picked up: into the call's bridge; ``joined`` is what the core hears."""
        layout = self.book.calls.get(leg.call_id)
        if layout is None or layout.ended:
            await self.channels.hang_up(channel_id)
            return
        # The caller's MixMonitor goes on recording across the hand-off, in the same file.
        await self.channels.join(layout, channel_id)
        log.info("agency joined", extra={"call_id": leg.call_id, "agency": leg.agency})
        await self.shared.feed(*joined)
        await self.shared.feed(
            AgencyConnected(leg.call_id, leg.agency, leg.hand_off, self.shared.clock())
        )
        calltaker_leg = layout.agent_legs.get(leg.agent_id)
        if leg.hand_off and calltaker_leg is not None:
            # The call-taker's leg ends like any hang-up; the core knows the call is handed off.
            await self.channels.hang_up(calltaker_leg)

    async def agency_gone(self, leg: Leg, layout: CallLayout | None, *, answered: bool) -> None:
        if not answered:
            log.warning(
                "agency did not answer", extra={"call_id": leg.call_id, "agency": leg.agency}
            )
            return
        log.info("agency left", extra={"call_id": leg.call_id, "agency": leg.agency})
        if layout is not None and layout.ended:
            # The call-taker had already gone: the caller's conversation is over.
            await self.channels.hang_up(leg.call_id)
