"""Silent callers while they wait: UK "press 55" practice, on asyncio timers.

Only :mod:`.arrival` (listen, then watch a new caller), the facade (a waiting caller's speech or
key) and :class:`~callgate.asterisk.ari.layout.SilenceWatch` on the layout reach this module:
when the core runs the silent-caller timers itself, these go with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.layout import PRIORITY_VAR, CallLayout
from callgate.core.events import CallReprioritised
from callgate.core.screening import ScreeningPolicy, after_silence

if TYPE_CHECKING:
    from callgate.screening import Screener

log = logging.getLogger(__name__)


class Silence:
    """Listens for a waiting caller's speech; a silent one is asked for a key, then reclassed."""

    def __init__(self, shared: Shared, channels: Channels, screener: Screener | None) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        self.screener = screener

    @property
    def detecting(self) -> bool:
        screening = self.shared.settings.screening
        return screening.enabled and screening.silence_detection

    async def listen_for_speech(self, layout: CallLayout) -> None:
        """Ask Asterisk to report the caller's speech (ChannelTalkingStarted)."""
        if not self.detecting:
            return
        watch = layout.silence
        watch.listening = await self.channels.set_var(layout.call_id, "TALK_DETECT(set)", "")
        if not watch.listening:
            # Without it every caller would look silent and be lowered as a ghost.
            log.error(
                "ALARM: no talk detection on the call (is func_talkdetect loaded?); "
                "its silence is not judged",
                extra={"call_id": layout.call_id},
            )

    def caller_sign(self, channel_id: str, *, spoke: bool = False, key: bool = False) -> None:
        """The waiting caller spoke or pressed a key: not a silent call (or a silent one that
        cannot speak, for a key)."""
        layout = self.book.calls.get(channel_id)
        if layout is None:
            return
        watch = layout.silence
        watch.spoke = watch.spoke or spoke
        # Only the answer to the prompt counts: a key pressed by a caller who can talk (or
        # before being asked) must not lift a call above everyone else.
        watch.key_pressed = watch.key_pressed or (key and watch.prompted)
        watch.wake.set()

    async def watch(self, layout: CallLayout) -> None:
        """A caller silent while waiting is asked to press a key.

        A key lifts the call to the top class (the caller may be unable to speak: an intruder
        in the house, a stroke); silence through the prompt classes it ghost, in the lower
        class. Either way it stays in the queue and reaches a call-taker."""
        try:
            if layout.silence.listening and await self._stays_silent(layout):
                await self._reclass_silent(layout)
        finally:
            # Talk events for the rest of the call would only load the event pump.
            if not layout.ended:
                await self.channels.set_var(layout.call_id, "TALK_DETECT(remove)", "")

    async def _stays_silent(self, layout: CallLayout) -> bool:
        """Wait out the silence window, then the prompt; True if the call is to be reclassed."""
        settings = self.shared.settings.screening
        watch = layout.silence
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.wake.wait(), settings.silence_seconds)
        if not self.book.still_waiting(layout) or watch.spoke:
            return False
        watch.wake.clear()
        watch.prompted = True
        log.info("caller silent; asking for a key press", extra={"call_id": layout.call_id})
        await self.channels.play_waiting_prompt(layout, settings.silent_prompt, "silence")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.wake.wait(), settings.key_seconds)
        return self.book.still_waiting(layout) and (watch.key_pressed or not watch.spoke)

    async def _reclass_silent(self, layout: CallLayout) -> None:
        policy = self.screener.policy if self.screener is not None else ScreeningPolicy()
        key_pressed = layout.silence.key_pressed
        outcome = after_silence(key_pressed, policy)
        shown = f"{outcome.tag} {layout.shown}"
        log.info(
            "silent caller pressed a key; raised" if key_pressed else "silent caller: ghost",
            extra={
                "call_id": layout.call_id,
                "category": outcome.category,
                "priority": outcome.priority,
            },
        )
        await self.channels.set_var(layout.call_id, PRIORITY_VAR, str(outcome.priority))
        await self.shared.feed(
            CallReprioritised(layout.call_id, outcome.priority, outcome.category, shown)
        )
