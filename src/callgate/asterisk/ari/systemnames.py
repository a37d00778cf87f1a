"""Each Asterisk node's ``systemname``, checked at each of its connections (several nodes,
:class:`~callgate.asterisk.ari.nodes.AriNodes`).

A node's systemname (``asterisk.conf`` ``[options]``) prefixes its channel ids
(``node1-<epoch>.<seq>``), which makes them unique across the nodes. Without it, or with
another node's, two nodes make the same id within the same second and a request routed by id
(a hang-up) reaches the wrong caller: such a node is refused (its events not taken, its socket
closed) with an ALARM, and tried again later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Final

from callgate.asterisk.ari.client import (
    AriClient,
    AriError,
    AriUnavailable,
    Connected,
    Disconnected,
    JsonObject,
)

log = logging.getLogger(__name__)

#: How long a refused node waits before it is tried again (a fix needs a restart of its
#: Asterisk, which the retry then finds).
REFUSED_RETRY: Final = 30.0
#: How long a node whose check could not be made (its REST did not answer) waits.
CHECK_RETRY: Final = 1.0


class SystemNames:
    """The systemname of each node when it last connected."""

    def __init__(self, refused_retry: float = REFUSED_RETRY, check_retry: float = CHECK_RETRY):
        self.of: dict[str, str] = {}
        self._refused_retry = refused_retry
        self._check_retry = check_retry

    async def refusal(self, name: str, client: AriClient) -> float | None:
        """None if node ``name``, just connected through ``client``, may serve; else the
        seconds until it is tried again. Its name is ``GET /asterisk/info`` ``config.name``."""
        try:
            info = await client.info()
        except (AriError, AriUnavailable) as exc:
            log.warning("Asterisk node not checked", extra={"node": name, "error": str(exc)})
            return self._check_retry
        config = info.get("config")
        system = str(config.get("name") or "") if isinstance(config, dict) else ""
        other = next((n for n, s in self.of.items() if s == system and n != name), None)
        if system and other is None:
            self.of[name] = system
            return None
        why = "has no systemname" if not system else "has the systemname of another node"
        log.error(
            f"ALARM: Asterisk node refused: it {why}; set one of its own in its asterisk.conf "
            "[options] and restart it (README, Several Asterisk nodes)",
            extra={"node": name, "key": "systemname", "systemname": system, "other_node": other},
        )
        return self._refused_retry


async def checked_events(
    name: str, client: AriClient, names: SystemNames
) -> AsyncIterator[JsonObject | Connected | Disconnected]:
    """Node ``name``'s events (:meth:`AriClient.events`), each connection checked first: a node
    refused has its socket closed, and nothing of it passed on, until it is tried again."""
    while True:
        stream = client.events()
        wait: float | None = None
        try:
            async for item in stream:
                if isinstance(item, Connected):
                    wait = await names.refusal(name, client)
                    if wait is not None:
                        break
                yield item
        finally:
            if isinstance(stream, AsyncGenerator):
                await stream.aclose()
        if wait is None:
            return  # the node's stream ended
        await asyncio.sleep(wait)
