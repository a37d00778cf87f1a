"""Requests on channels and bridges that every part of the adapter makes.

Quiet hang-ups and variables, the call's bridge, and what a waiting caller hears (greeting,
prompts, music on hold). Nothing here decides; each function says what Asterisk is asked.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from callgate.asterisk.ari.client import AriError, JsonObject
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.layout import BRIDGE_PREFIX, QUEUE_ANNOUNCEMENT_PREFIX, CallLayout, Move

log = logging.getLogger(__name__)


def greeting_id(call_id: str) -> str:
    """The greeting's playback id: the same in every process, so a restarted one can stop it."""
    return f"greeting-{call_id}"


class Channels:
    """Channel, bridge and media requests, with the book kept in step."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.ari = shared.ari
        self.book = shared.book

    # ---------------------------------------------------------------- requests

    async def quiet(self, request: Awaitable[object]) -> None:
        with contextlib.suppress(AriError):
            await request

    async def hang_up(self, channel_id: str) -> None:
        """Hang up a channel that may be gone already (404 is no failure)."""
        try:
            await self.ari.hangup(channel_id)
        except AriError as exc:
            if exc.status != 404:  # 404: it hung up by itself first
                log.warning("hangup failed", extra={"channel": channel_id, "error": str(exc)})

    async def channel_var(self, channel: JsonObject, name: str) -> str:
        """A dialplan variable of a new channel: from the event itself when ari.conf lists it in
        ``channelvars`` (no round trip before the first ring), else asked of Asterisk."""
        known = channel.get("channelvars")
        if isinstance(known, dict) and name in known:
            return str(known[name] or "")
        return await self.get_var(str(channel["id"]), name)

    async def get_var(self, channel_id: str, name: str) -> str:
        try:
            return await self.ari.get_variable(channel_id, name)
        except AriError:
            return ""

    async def set_var(self, channel_id: str, name: str, value: str) -> bool:
        """Set a channel variable (or function); False if Asterisk refused it."""
        try:
            await self.ari.request(
                "POST",
                f"/channels/{channel_id}/variable",
                params={"variable": name, "value": value},
            )
        except AriError:
            return False
        return True

    async def subscribe(self, channel_id: str) -> None:
        """Hear of a channel outside Stasis (raises AriError if Asterisk refuses)."""
        await self.ari.request(
            "POST",
            f"/applications/{self.ari.app}/subscription",
            params={"eventSource": f"channel:{channel_id}"},
        )

    # ---------------------------------------------------------------- bridge

    async def join(self, layout: CallLayout, channel_id: str) -> None:
        """Bridge ``channel_id`` with the caller, making the call's bridge on first use."""
        if layout.bridge_id is None:
            bridge_id = f"{BRIDGE_PREFIX}{layout.call_id}"
            await self.ari.create_bridge(bridge_id, near=layout.call_id)
            layout.bridge_id = bridge_id
            layout.move(Move.BRIDGE)
            await self.ari.add_to_bridge(bridge_id, layout.call_id, channel_id)
        else:
            await self.ari.add_to_bridge(layout.bridge_id, channel_id)

    # ---------------------------------------------------------------- what a waiting caller hears

    async def play_greeting(self, layout: CallLayout, warning: str = "") -> None:
        # A repeat nuisance caller hears the warning first; the greeting follows in one playback.
        greeting = ",".join(m for m in (warning, self.shared.settings.call.greeting) if m)
        if not greeting:
            await self.start_moh(layout)
            return
        playback_id = greeting_id(layout.call_id)
        try:
            await self.ari.request(
                "POST",
                f"/channels/{layout.call_id}/play/{playback_id}",
                params={"media": greeting},
            )
            layout.greeting = playback_id
            if not self.book.still_waiting(layout):
                # Answered while the request was on its way: not into the conversation.
                await self.stop_waiting_media(layout)
        except AriError as exc:
            log.warning(
                "greeting could not be played", extra={"call_id": layout.call_id, "error": str(exc)}
            )
            await self.start_moh(layout)

    async def stop_old_greeting(self, layout: CallLayout) -> None:
        """A caller found again after a restart may still hear the greeting the process before
        started. Asterisk holds a bridge request behind a playback, so the call-taker who
        answers this caller would hear seconds of nothing (3-4 s in the lab's SIGKILL runs)."""
        with contextlib.suppress(AriError):
            await self.ari.request("DELETE", f"/playbacks/{greeting_id(layout.call_id)}")

    async def play_waiting_prompt(
        self,
        layout: CallLayout,
        media: str,
        kind: str,
        *,
        playback_id: str = "",
        wanted: Callable[[], bool] = lambda: True,
    ) -> bool:
        """Interrupt what a waiting caller hears with ``media``; music on hold resumes after.
        ``wanted`` turning false while the request is on its way stops it at once (music on hold
        resumes). True if it is playing."""
        if not media:
            return False
        await self.stop_waiting_media(layout)
        playback_id = playback_id or f"{kind}-{layout.call_id}"
        try:
            await self.ari.request(
                "POST", f"/channels/{layout.call_id}/play/{playback_id}", params={"media": media}
            )
            layout.greeting = playback_id
            if not self.book.still_waiting(layout):
                # Answered (or handed back) while the request was on its way: not into a
                # conversation.
                await self.stop_waiting_media(layout)
                return False
        except AriError as exc:
            log.warning(
                "prompt could not be played", extra={"call_id": layout.call_id, "error": str(exc)}
            )
            await self.start_moh(layout)
            return False
        if not wanted():
            await self.cut(playback_id)
            return False
        return True

    async def cut(self, playback_id: str) -> None:
        """Stop a waiting caller's playback; its ``PlaybackFinished`` brings the music back."""
        with contextlib.suppress(AriError):  # 404: it had ended by itself
            await self.ari.request("DELETE", f"/playbacks/{playback_id}")

    async def start_moh(self, layout: CallLayout) -> None:
        try:
            await self.ari.start_moh(layout.call_id, self.shared.settings.call.moh_class)
            layout.moh = True
        except AriError as exc:
            log.warning("no music on hold", extra={"call_id": layout.call_id, "error": str(exc)})

    async def stop_waiting_media(self, layout: CallLayout) -> None:
        if layout.greeting is not None:
            with contextlib.suppress(AriError):
                await self.ari.request("DELETE", f"/playbacks/{layout.greeting}")
            layout.greeting = None
        if layout.moh:
            with contextlib.suppress(AriError):
                await self.ari.stop_moh(layout.call_id)
            layout.moh = False

    async def beep(self, channel_id: str, media: str) -> None:
        """A short sound to one channel only (the other side of its bridge does not hear it)."""
        with contextlib.suppress(AriError):
            await self.ari.request("POST", f"/channels/{channel_id}/play", params={"media": media})

    # ---------------------------------------------------------------- playbacks

    async def playback_finished(self, playback: JsonObject) -> None:
        """A playback ended: a greeting or a prompt is followed by music on hold."""
        playback_id = str(playback["id"])
        for layout in self.book.calls.values():
            if layout.greeting == playback_id:
                layout.greeting = None
                if playback_id.startswith(QUEUE_ANNOUNCEMENT_PREFIX):
                    log.info(
                        "queue announcement finished",
                        extra={"call_id": layout.call_id, "playback": playback_id},
                    )
                # Not on a caller being connected (stopped for a ring, then answered at once).
                if self.book.still_waiting(layout):
                    await self.start_moh(layout)
                return
