"""Asterisk's word on a channel a FastAGI request claims: :class:`~callgate.ports.ChannelCheck`
over ARI.

A FastAGI header is whatever the peer wrote; ``GET /channels/{id}`` is what Asterisk has. Asterisk
gives a channel the same id in ARI as its ``agi_uniqueid`` (``UNIQUEID``), so one request says
whether the channel exists, what it is named and where in the dialplan it is. A real feature
code's channel is a softphone's running AGI() in ``[callgate-agents]`` at ``agent-code``
(dialplan/extensions.conf); a channel anywhere else (a caller's, a trunk's, a softphone on the
echo test) is not vouched for, even by its true name. Nothing is decided here: the feature
codes' handlers decide what an unknown channel, or no answer, means.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from callgate.asterisk.ari.client import AriClient, AriError, AriUnavailable

log = logging.getLogger(__name__)

#: Seconds one check may take. A call-taker waits on the line for it; ARI on loopback answers in
#: milliseconds, so this only bounds an Asterisk that is stuck (the client's own limit is 10 s).
CHECK_TIMEOUT: Final = 2.0
#: Where dialplan/extensions.conf runs the feature codes' AGI(): context and extension.
AGENTS_CONTEXT: Final = "callgate-agents"
AGENT_CODE_EXTEN: Final = "agent-code"


class AriChannelCheck:
    """``channel_exists`` answered by ``GET /channels/{channel_id}``: the channel, by that name,
    in the dialplan at ``context``/``exten``."""

    def __init__(
        self,
        ari: AriClient,
        *,
        timeout: float = CHECK_TIMEOUT,
        context: str = AGENTS_CONTEXT,
        exten: str = AGENT_CODE_EXTEN,
    ) -> None:
        self._ari = ari
        self._timeout = timeout
        self._where = (context, exten)

    async def channel_exists(self, channel_id: str, name: str) -> bool | None:
        if not channel_id:
            return False  # no agi_uniqueid: nothing Asterisk could vouch for
        try:
            async with asyncio.timeout(self._timeout):
                channel = await self._ari.get_channel(channel_id)
        except AriError as exc:
            if exc.status == 404:
                return False
            # 401 after a password change, 5xx: Asterisk did not say no; the caller decides,
            # and logs it (rate-limited: a flood of requests must not flood the log from here).
            log.debug("ARI channel check failed", extra={"status": exc.status})
            return None
        except (AriUnavailable, TimeoutError) as exc:
            log.debug("ARI channel check got no answer", extra={"error": type(exc).__name__})
            return None
        if not isinstance(channel, dict) or channel.get("name") != name:
            return False
        dialplan = channel.get("dialplan")
        where = (
            (dialplan.get("context"), dialplan.get("exten")) if isinstance(dialplan, dict) else None
        )
        if where != self._where:
            # A real channel elsewhere in the dialplan claiming a feature code: the handler
            # refuses it (rate-limited warning); this says where it was, for whoever looks.
            log.debug("channel not at the feature codes", extra={"where": str(where)[:200]})
            return False
        return True
