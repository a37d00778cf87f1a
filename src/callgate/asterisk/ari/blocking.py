"""A blocked caller: the announcement, then the hang-up (``[screening.blocking]`` only).

Only :mod:`.arrival` reaches this module, for a caller whose screening says blocked: when the
core decides blocking itself (announcement and hang-up as commands), it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import AriError
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.ending import Endings
from callgate.asterisk.ari.layout import CallLayout, Move

log = logging.getLogger(__name__)

#: Longest a blocked caller's announcement may play before the hang-up.
BLOCKED_ANNOUNCEMENT_LIMIT = 30.0


class Blocking:
    """Rejects blocked callers; the core never hears of them."""

    def __init__(self, shared: Shared, channels: Channels, endings: Endings) -> None:
        self.shared = shared
        self.channels = channels
        self.endings = endings

    async def reject(self, layout: CallLayout) -> None:
        """A caller under a block the centre configured: announce, hang up, journal it.

        Only reachable with ``[screening.blocking] enabled``; the core's safety valve has already
        put through a blocked number that keeps calling."""
        channel_id = layout.call_id
        ari = self.shared.ari
        log.warning(
            "blocked caller rejected", extra={"call_id": channel_id, "caller": layout.caller}
        )
        announcement = self.shared.settings.screening.blocking.announcement
        if announcement:
            playback_id = f"blocked-{channel_id}"
            done = self.channels.playback_done(playback_id)
            try:
                await ari.request(
                    "POST",
                    f"/channels/{channel_id}/play/{playback_id}",
                    params={"media": announcement},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done, BLOCKED_ANNOUNCEMENT_LIMIT)
            except AriError as exc:
                log.warning(
                    "block announcement failed", extra={"call_id": channel_id, "error": str(exc)}
                )
            finally:
                self.channels.forget_playback(playback_id)
        await self.shared.observer.call_ended_outside_core(
            channel_id, "BLOCKED", self.shared.clock()
        )
        layout.move(Move.END)
        try:
            await ari.hangup(channel_id)
        except AriError as exc:
            if exc.status != 404:  # 404: the caller hung up first
                # Never leave the caller alone in Stasis: the fallback queue answers. Forgotten
                # first: from here only the hand-back itself reads the layout.
                self.shared.book.calls.pop(channel_id, None)
                await self.endings.hand_back(layout, f"block hang-up failed: {exc}")
