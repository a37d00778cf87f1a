"""A waiting caller's channel: what they hear and how they are heard, as the core decides.

The core classes a new caller (``KeepClass``), watches a silent one (``StartListening``,
``PlayPrompt``, ``StopListening``, then ``KeepClass`` again), rejects a blocked one
(``PlayAnnouncement``, then ``HangUpCaller``) and tells one who waits their place in the queue
(``AnnounceQueue``, stopped by ``StopQueueAnnouncement`` when the call is offered); this module
only carries those out on the caller's channel (the observers record the call's start from
the core's ``CallScreened``).

Requests on one caller's channel run in the order the core gave them, in the background
(:meth:`Waiting.in_order`): Asterisk runs a channel's requests one by one, and a playback holds
the channel's later requests until it ends (Asterisk 22), so none of them may hold up the
core's other commands (a call-taker's ring) nor another caller. The first ones of a new caller
are, in this order: its priority class in ``CALLGATE_PRIORITY`` (a restarted daemon re-queues it
in that class), talk detection, then the greeting (with the warning first for a repeat nuisance),
all before anything else on the channel would wait for the whole greeting.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import AriError
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.layout import (
    ANNOUNCEMENT_PREFIX,
    PRIORITY_VAR,
    QUEUE_ANNOUNCEMENT_PREFIX,
    CallLayout,
    Move,
    Phase,
)
from callgate.asterisk.settings import SPOKEN_NUMBERS, AnnouncementPrompts
from callgate.core.commands import AnnounceQueue, KeepClass
from callgate.core.events import AnnouncementFinished, ListeningFailed

log = logging.getLogger(__name__)


class Waiting:
    """Carries out the core's decisions about a waiting caller on their channel."""

    def __init__(self, shared: Shared, channels: Channels) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels

    # ---------------------------------------------------------------- the core's decisions

    def keep_class(self, note: KeepClass) -> None:
        """A call's class: kept with the channel; a new caller's also says whether it is
        blocked (no greeting) or warned (the warning first)."""
        layout = self.book.calls.get(note.call_id)
        if layout is None:
            return
        if not note.new:
            self._keep_priority(layout, note.priority)
            return
        if note.blocked:
            layout.move(Move.BLOCK)
            return
        layout.warn = note.warn
        log.info(
            "112 call entered",
            extra={"call_id": note.call_id, "caller": layout.caller, "priority": note.priority},
        )
        self._keep_priority(layout, note.priority)

    def greet(self, layout: CallLayout) -> None:
        """After the core has the call: a free call-taker's phone rings while the caller hears
        the greeting, not after it."""

        async def greeting() -> None:
            if self.book.still_waiting(layout) and layout.phase is not Phase.BLOCKED:
                warning = self.shared.settings.screening.warning if layout.warn else ""
                await self.channels.play_greeting(layout, warning)

        self.in_order(layout, greeting)

    def listen(self, call_id: str) -> None:
        """``StartListening``: Asterisk reports the caller's speech (``ChannelTalkingStarted``)."""
        layout = self.book.calls.get(call_id)
        if layout is None:
            return

        async def talk_detection() -> None:
            if await self.channels.set_var(call_id, "TALK_DETECT(set)", ""):
                return
            # Without it every caller would look silent and be lowered as a ghost.
            log.error(
                "ALARM: no talk detection on the call (is func_talkdetect loaded?); "
                "its silence is not judged",
                extra={"call_id": call_id},
            )
            await self.shared.feed(ListeningFailed(call_id))

        self.in_order(layout, talk_detection)

    def stop_listening(self, call_id: str) -> None:
        """``StopListening``: talk events for the rest of the call would only load the pump."""
        layout = self.book.calls.get(call_id)
        if layout is None:
            return

        async def no_talk_detection() -> None:
            if not layout.ended:
                await self.channels.set_var(call_id, "TALK_DETECT(remove)", "")

        self.in_order(layout, no_talk_detection)

    def prompt(self, call_id: str, media: str) -> None:
        """``PlayPrompt``: the silent caller is asked to press a key; music on hold resumes."""
        layout = self.book.calls.get(call_id)
        if layout is None:
            return
        log.info("caller silent; asking for a key press", extra={"call_id": call_id})

        async def key_prompt() -> None:
            if self.book.still_waiting(layout):
                await self.channels.play_waiting_prompt(layout, media, "silence")

        self.in_order(layout, key_prompt)

    def announce(self, call_id: str, media: str) -> None:
        """``PlayAnnouncement`` to a blocked caller; its end (``PlaybackFinished``, see
        :mod:`.translate`) or its failure is the core's ``AnnouncementFinished``."""
        layout = self.book.calls.get(call_id)
        if layout is None:
            return

        async def announcement() -> None:
            try:
                await self.shared.ari.request(
                    "POST",
                    f"/channels/{call_id}/play/{ANNOUNCEMENT_PREFIX}{call_id}",
                    params={"media": media},
                )
            except AriError as exc:
                log.warning(
                    "block announcement failed", extra={"call_id": call_id, "error": str(exc)}
                )
                await self.shared.feed(AnnouncementFinished(call_id))

        self.in_order(layout, announcement)

    def announce_queue(self, command: AnnounceQueue) -> None:
        """``AnnounceQueue``: the caller's place and wait in place of their music, which
        resumes after. Never cuts the greeting, a prompt or the previous announcement (that turn
        is skipped), never starts once the call is offered or being connected."""
        call_id = command.call_id
        layout = self.book.calls.get(call_id)
        if layout is None or layout.callback is not None:
            return
        media = announcement_media(
            self.shared.settings.announcements, command.position, command.expected_wait
        )
        layout.announcement_token += 1
        token = layout.announcement_token
        playback_id = f"{QUEUE_ANNOUNCEMENT_PREFIX}{call_id}-{token}"
        said = {"position": command.position, "expected_wait": command.expected_wait}

        def wanted() -> bool:
            return layout.announcement_token == token

        async def announcement() -> None:
            if not (wanted() and self.book.still_waiting(layout)):
                return  # offered or connected while the channel's earlier requests ran
            if layout.greeting is not None:
                log.info(
                    "queue announcement skipped: something else plays",
                    extra={"call_id": call_id, "playing": layout.greeting},
                )
                return
            if await self.channels.play_waiting_prompt(
                layout, media, "queue", playback_id=playback_id, wanted=wanted
            ):
                log.info(
                    "queue announcement playing",
                    extra={"call_id": call_id, "playback": playback_id, **said},
                )

        self.in_order(layout, announcement)

    async def stop_queue_announcement(self, call_id: str) -> None:
        """``StopQueueAnnouncement``: the call is offered; a queue announcement still playing
        stops now (music on hold resumes), one not yet started never starts. Not behind the
        channel's other requests (:meth:`in_order`): those may be held by the very playback."""
        layout = self.book.calls.get(call_id)
        if layout is None:
            return
        layout.announcement_token += 1
        playing = layout.greeting
        if playing is None or not playing.startswith(QUEUE_ANNOUNCEMENT_PREFIX):
            return
        log.info(
            "queue announcement stopped: the call is offered",
            extra={"call_id": call_id, "playback": playing},
        )
        await self.channels.cut(playing)

    # ---------------------------------------------------------------- order on one channel

    def in_order(self, layout: CallLayout, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` after the requests queued before it on the caller's channel, in the
        background; a failed one is logged and the next runs all the same."""
        before = layout.media

        async def after_before() -> None:
            if before is not None:
                await asyncio.wait([before])  # its failure is logged by the background tasks
            await work()

        task = asyncio.ensure_future(after_before())
        layout.media = task
        self.shared.tasks.spawn(task)

    def _keep_priority(self, layout: CallLayout, priority: int) -> None:
        async def store() -> None:
            await self.channels.set_var(layout.call_id, PRIORITY_VAR, str(priority))

        self.in_order(layout, store)


def announcement_media(
    prompts: AnnouncementPrompts, position: int | None, expected_wait: float | None
) -> str:
    """The ARI media list that says ``position`` and ``expected_wait`` (seconds, said in whole
    minutes rounded up, at least one) with the configured prompts; empty prompts are left out.

    Numbers come from recorded files (``number_prompt``, 1 to 20; ``more_than_prompt``
    beyond), not Asterisk's ``number:`` media: its Indonesian sounds are in few installations,
    and a centre records its own in the voice of its other prompts."""

    def number(n: int) -> str:
        return (
            prompts.number_prompt.format(n=n) if n <= SPOKEN_NUMBERS else prompts.more_than_prompt
        )

    parts: list[str] = []
    if position is not None:
        parts += [prompts.position_prompt, number(position)]
    if expected_wait is not None:
        minutes = max(1, math.ceil(expected_wait / 60))
        parts += [prompts.wait_prompt, number(minutes), prompts.minutes_prompt]
    parts.append(prompts.closing_prompt)
    return ",".join(part for part in parts if part)
