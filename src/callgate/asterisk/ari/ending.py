"""How a call leaves callgate: forgotten, or handed back to the dialplan.

Forgetting a call hangs up the legs callgate made for it, destroys its bridge and seals its
recording once MixMonitor has closed the file (:mod:`callgate.asterisk.recordings`). A caller
handed back goes on, still recorded, in the dialplan's fallback queue (which always answers):
the recording is sealed when they hang up. No path here hangs up a waiting caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import AriError
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.layout import CallLayout, Move
from callgate.asterisk.recordings import RecordingFailure, recording_in, seal, seal_when_stable
from callgate.ports import CallEndedOutsideCore, CallRecorded, RecordingFailed

log = logging.getLogger(__name__)


def adopted_end(call_id: str, layout: CallLayout | None, at: float) -> CallEndedOutsideCore:
    """An adopted conversation ended (``layout``: the call, if still held): completed, with
    who answered it and when as its adoption found them."""
    answered_by = layout.answered_by if layout is not None else None
    answered_at = layout.answered_at if layout is not None else None
    return CallEndedOutsideCore(call_id, "COMPLETED", at, answered_by, answered_at)


class Endings:
    """Forgets calls, hands callers back, seals recordings."""

    def __init__(self, shared: Shared, channels: Channels) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        #: Callers handed back to the dialplan, whose recording is sealed when they hang up.
        self._awaiting_hangup: dict[str, CallLayout] = {}

    async def forget_call(self, layout: CallLayout) -> None:
        book, channels = self.book, self.channels
        book.calls.pop(layout.call_id, None)
        if layout.adopted and any(leg.call_id == layout.call_id for leg in book.legs.values()):
            # The caller of an adopted conversation hung up first.
            await self.shared.feed(adopted_end(layout.call_id, layout, self.shared.clock()))
        for leg_id in list(layout.agent_legs.values()):
            book.legs.pop(leg_id, None)
            await channels.hang_up(leg_id)
        for leg_id, leg in list(book.legs.items()):
            if leg.call_id == layout.call_id:
                del book.legs[leg_id]
                await channels.hang_up(leg_id)
        if layout.bridge_id is not None:
            with contextlib.suppress(AriError):
                await self.shared.ari.destroy_bridge(layout.bridge_id)
        if layout.handed_back:
            # The caller goes on (still recorded) in the fallback queue: seal when they hang up.
            self._awaiting_hangup[layout.call_id] = layout
        else:
            self.shared.tasks.spawn(self.seal_when_closed(layout))

    def awaits_hangup(self, channel_id: str) -> bool:
        """A caller handed back whose hang-up (``ChannelDestroyed``) seals the recording."""
        return channel_id in self._awaiting_hangup

    def hung_up_after_hand_back(self, channel_id: str) -> None:
        layout = self._awaiting_hangup.pop(channel_id)
        self.shared.tasks.spawn(self.seal_when_closed(layout))

    async def hand_back(self, layout: CallLayout, reason: str) -> None:
        """Send a waiting caller to the dialplan's fallback queue (which always answers)."""
        log.warning(
            "handing the call to the fallback queue",
            extra={"call_id": layout.call_id, "reason": reason},
        )
        layout.move(Move.HAND_BACK)
        await self.channels.stop_waiting_media(layout)
        await self._follow_after_stasis(layout.call_id)
        try:
            await self.shared.ari.continue_in_dialplan(layout.call_id)
        except AriError as exc:
            log.warning(
                "caller left before the hand-back",
                extra={"call_id": layout.call_id, "error": str(exc)},
            )

    async def _follow_after_stasis(self, channel_id: str) -> None:
        """Keep hearing of a caller who leaves Stasis, to seal their recording at hang-up."""
        with contextlib.suppress(AriError):
            await self.channels.subscribe(channel_id)

    async def hand_back_waiting(self) -> None:
        """On shutdown: callers still waiting go to the fallback queue; conversations go on."""
        for layout in list(self.book.calls.values()):
            connected = any(c in self.book.answered for c in layout.agent_legs.values())
            if layout.ended or layout.handed_back or connected:
                continue
            if layout.callback is not None and not layout.callback.dialled:
                continue  # no caller channel yet: the task stays open for the next run
            for agent_id in list(layout.agent_legs):
                await self.drop_agent_leg(layout.call_id, agent_id)
            await self.hand_back(layout, "callgate is stopping")

    async def drop_agent_leg(self, call_id: str, agent_id: str) -> None:
        layout = self.book.calls.get(call_id)
        leg_id = layout.agent_legs.pop(agent_id, None) if layout else None
        if leg_id is None:
            return
        # Forget the leg first: its hang-up must not come back as a fresh no-answer for a
        # later offer of the same call to the same call-taker.
        self.book.legs.pop(leg_id, None)
        self.book.answered.discard(leg_id)
        await self.channels.hang_up(leg_id)

    # ---------------------------------------------------------------- recordings

    def recording_alarm(self, call_id: str, reason: str, path: str | None = None) -> None:
        extra = {"call_id": call_id, "reason": reason}
        if path is not None:
            extra["path"] = path
        log.error("ALARM: call recording failed", extra=extra)
        self.shared.tasks.spawn(
            self.shared.feed(RecordingFailed(call_id, reason, self.shared.clock()))
        )

    async def seal_when_closed(self, layout: CallLayout, *, closed: bool = False) -> None:
        """After the caller is gone: wait for MixMonitor to close the file, then seal it.
        ``closed``: the call ended long ago (found gone after a restart): seal at once, and a
        missing file is said at once."""
        if layout.recording is None:
            return
        folder = Path(self.shared.settings.recording.asterisk_dir)
        # The name is a channel variable: checked to stay in the folder before anything is hashed.
        path = await asyncio.to_thread(recording_in, layout.call_id, folder, layout.recording)
        if isinstance(path, RecordingFailure):
            self.recording_alarm(layout.call_id, path.reason, layout.recording)
            return
        sealer = seal if closed else seal_when_stable
        info = await asyncio.to_thread(sealer, layout.call_id, path)
        if isinstance(info, RecordingFailure):
            self.recording_alarm(layout.call_id, info.reason)
            return
        if info.unsealed is not None:
            # Hashed and journaled all the same: the evidence is kept, but others can alter it.
            log.error(
                "ALARM: call recording not sealed",
                extra={"call_id": info.call_id, "path": str(path), "reason": info.unsealed},
            )
        log.info(
            "recording ready",
            extra={
                "call_id": info.call_id,
                "path": str(path),
                "sha256": info.sha256,
                "duration_s": info.duration_s,
            },
        )
        await self.shared.feed(CallRecorded(info, self.shared.clock()))
