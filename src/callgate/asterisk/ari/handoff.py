"""Hand-off to agencies and a call-taker's keys during a call.

``*<digit>`` calls an agency into the conversation (three-way), ``#<digit>`` hands the call off
(the call-taker leaves once the agency answers), ``**<digit>`` sets the call's disposition.
The caller's MixMonitor goes on recording across the hand-off, in the same file. The
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
from callgate.ports import AgencyConnected, DispositionSink

log = logging.getLogger(__name__)

#: Seconds between * or # and the agency digit a call-taker presses.
DTMF_SEQUENCE_TIMEOUT = 3.0


class HandOff:
    """Agencies called from a call, and dispositions keyed by its call-taker."""

    def __init__(self, shared: Shared, channels: Channels) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        self._dtmf: dict[str, tuple[str, float]] = {}  # call-taker leg -> (* or #, when)
        #: Where call-takers' dispositions go (``**<digit>`` during a call), if anywhere.
        self.dispositions: DispositionSink | None = None

    async def calltaker_key(self, channel_id: str, digit: str) -> None:
        """A key from a call-taker during a call: ``*<digit>``/``#<digit>`` call an agency,
        ``**<digit>`` sets the disposition."""
        leg = self.book.legs.get(channel_id)
        if leg is None or leg.role != CALLTAKER or channel_id not in self.book.answered:
            return
        now = self.shared.clock()
        if digit in "*#":
            prefix, when = self._dtmf.get(channel_id, ("", 0.0))
            if digit == "*" and prefix == "*" and now - when <= DTMF_SEQUENCE_TIMEOUT:
                digit = "**"
            self._dtmf[channel_id] = (digit, now)
            return
        prefix, when = self._dtmf.pop(channel_id, ("", 0.0))
        if not prefix or now - when > DTMF_SEQUENCE_TIMEOUT:
            return
        if prefix == "**":
            # In the background: the journal's round trips must not hold up the event pump.
            self.shared.tasks.spawn(self._set_disposition(leg, channel_id, digit))
            return
        for name, agency in self.shared.settings.agencies.items():
            if agency.digit == digit:
                await self._call_agency(leg, name, agency.dial, hand_off=prefix == "#")
                return
        log.info(
            "no agency on that key",
            extra={"call_id": leg.call_id, "agent_id": leg.agent_id, "digit": digit},
        )

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
        called = await self._call_agency(leg, agency, settings.dial, hand_off=mode == "hand-off")
        return "ok" if called else "failed"

    def forget_keys(self, channel_id: str) -> None:
        """A leg ended: a key sequence it started ends with it."""
        self._dtmf.pop(channel_id, None)

    async def _set_disposition(self, leg: Leg, channel_id: str, digit: str) -> None:
        """``**<digit>``: the call-taker classes the call they are on (genuine, prank...)."""
        sink = self.dispositions
        tones = self.shared.settings.calltakers.prompts
        disposition = sink.for_digit(digit) if sink is not None else None
        if sink is None or disposition is None:
            log.info(
                "no disposition on that key",
                extra={"call_id": leg.call_id, "agent_id": leg.agent_id, "digit": digit},
            )
            await self.channels.beep(channel_id, tones.in_call_disposition_failed)
            return
        try:
            ok = (await sink.set(leg.call_id, disposition, by=leg.agent_id, source="dtmf")).ok
        except Exception:
            log.exception("disposition failed", extra={"call_id": leg.call_id})
            ok = False
        # A short confirmation to the call-taker only (the caller does not hear it).
        await self.channels.beep(
            channel_id, tones.in_call_disposition_ok if ok else tones.in_call_disposition_failed
        )

    async def _call_agency(self, asker: Leg, name: str, dial: str, *, hand_off: bool) -> bool:
        layout = self.book.calls.get(asker.call_id)
        if layout is None:
            return False
        leg_id = f"agency-{uuid.uuid4()}"
        self.book.legs[leg_id] = Leg(
            asker.call_id, AGENCY, agent_id=asker.agent_id, agency=name, hand_off=hand_off
        )
        log.info(
            "calling an agency",
            extra={
                "call_id": asker.call_id,
                "agent_id": asker.agent_id,
                "agency": name,
                "mode": "hand-off" if hand_off else "three-way",
            },
        )
        try:
            await self.shared.ari.originate(
                dial,
                app_args=f"{AGENCY},{asker.call_id},{name}",
                caller_id=f'"{quote("112 " + layout.caller)}" <{layout.caller}>',
                ring_timeout=60,
                channel_id=leg_id,
            )
        except AriError as exc:
            self.book.legs.pop(leg_id, None)
            log.warning(
                "agency could not be called",
                extra={"call_id": asker.call_id, "agency": name, "error": str(exc)},
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
