"""One leader per centre, elected through etcd (issue #21), and the time it may command.

Every callgate of a centre keeps a lease of its own alive and tries to create the key
``/callgate/<centre>/leader`` attached to it, in one etcd transaction (create if absent):
the one that creates it leads; the others try again every :data:`POLL` seconds, so a standby
takes over within that long of the key's end. The key ends with its lease: at once when the
leader stops cleanly (it revokes the lease), at most ``lease_ttl`` seconds after it crashed.
The key's create revision is the leader's **epoch**: it only grows, so a journal fenced with
it refuses an older leader's writes.

The leader renews its lease every third of its TTL and may command only until ``sent +
TTL - MARGIN``, where ``sent`` is when it sent the last renewal etcd accepted: etcd can end the
lease no earlier than TTL after it received that renewal, so the old leader has stopped before
any other can win. A leader that cannot renew in time, finds its lease gone or the key held by
another, is fenced: :meth:`Leadership.valid` turns False for good and ``on_lost`` is told once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from callgate.cluster.etcd import EtcdClient, EtcdUnavailable

log = logging.getLogger(__name__)

#: Seconds between a standby's attempts to take the key.
POLL = 0.25
#: Seconds before its lease could lapse that a leader stops commanding.
MARGIN = 0.5


def leader_key(centre: str) -> str:
    return f"/callgate/{centre}/leader"


class Leadership:
    """This process's part in its centre's election: :meth:`campaign` until it leads, then
    :meth:`hold` while it does; :meth:`resign` at a clean stop."""

    def __init__(
        self,
        etcd: EtcdClient,
        *,
        centre: str,
        name: str,
        ttl: int,
        on_lost: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        poll: float = POLL,
    ) -> None:
        self._etcd = etcd
        self.key = leader_key(centre)
        self.name = name
        self._ttl = ttl
        self._on_lost = on_lost
        self._clock = clock
        self._poll = poll
        self._lease: int | None = None
        self._renewed = float("-inf")
        self._valid_until = float("-inf")
        self.epoch: int | None = None
        "The create revision of the leader key this process made; None until it leads."
        self.lost: str | None = None
        "Why this process stopped leading; None while it leads (or has not yet)."
        self._holding: asyncio.Task[None] | None = None
        self.seen_leader: str | None = None
        "Who leads, as the last try to take the key found it (a standby's status shows it)."

    def valid(self) -> bool:
        """Whether this process may command now: it leads, is not fenced, and its lease cannot
        have lapsed. Checked before every command; turns False for good once it is."""
        if self.lost is not None or self.epoch is None:
            return False
        if self._clock() >= self._valid_until:
            self.lose(f"lease of epoch {self.epoch} not renewed in time")
            return False
        return True

    def lose(self, why: str) -> None:
        """Stop leading for good (once): ``on_lost`` hears why."""
        if self.lost is None and self.epoch is not None:
            self.lost = why
            self._on_lost(why)

    async def _renew(self) -> None:
        """Renew this process's lease (a new one if it has none or it is gone)."""
        sent = self._clock()
        if self._lease is not None:
            ttl = await self._etcd.keep_alive(self._lease)
            if ttl > 0:
                self._renewed = sent
                self._valid_until = sent + ttl - MARGIN
                return
            if self.epoch is not None:
                self.lose(f"lease of epoch {self.epoch} gone from etcd")
                return
        self._lease, ttl = await self._etcd.grant(self._ttl)
        self._renewed = sent
        self._valid_until = sent + ttl - MARGIN

    async def campaign(self) -> int:
        """Wait until this process leads (etcd unreachable: keep trying, with a warning once a
        state change); its epoch."""
        reachable = True
        while True:
            try:
                if self._lease is None or self._clock() - self._renewed >= self._ttl / 3:
                    await self._renew()
                if self._lease is not None:
                    won, holder = await self._etcd.create(self.key, self.name, self._lease)
                    # Not won, yet the key is on our own lease: etcd applied an earlier try of
                    # this create whose answer was lost (a timeout, then the client's retry on
                    # the next member found the key). It is our win all the same.
                    ours = holder is not None and holder.lease == self._lease
                    self.seen_leader = None if holder is None else holder.value
                    if (won or ours) and holder is not None:
                        if self._clock() < self._valid_until:
                            self.epoch = holder.create_revision
                            log.info(
                                "leading the centre",
                                extra={"key": self.key, "node": self.name, "epoch": self.epoch},
                            )
                            return self.epoch
                        # Won too late to command: keeping the key (and renewing its lease)
                        # would block every other node for good. Let it go and start again.
                        await self._drop_lease()
                if not reachable:
                    log.info("etcd reachable again", extra={"key": self.key})
                    reachable = True
            except EtcdUnavailable as exc:
                if reachable:
                    log.warning("standby: etcd unreachable", extra={"error": str(exc)})
                    reachable = False
            await asyncio.sleep(self._poll)

    async def _drop_lease(self) -> None:
        """Forget this process's lease and revoke it (deleting the key on it); if etcd does not
        answer, the lease still lapses within its TTL as it is no longer renewed."""
        lease, self._lease = self._lease, None
        if lease is not None:
            await self._etcd.revoke(lease)

    async def hold(self) -> None:
        """While leading: renew the lease every third of its TTL and check the key is still
        ours; return once fenced (:attr:`lost` says why)."""
        while self.valid():
            wait = min(self._ttl / 3, self._valid_until - self._clock())
            await asyncio.sleep(max(wait, 0.0))
            if not self.valid():
                break
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel
                # (resign, step-down) that lands as the check completes.
                async with asyncio.timeout(max(self._valid_until - self._clock(), 0.01)):
                    await self._check()
            except (EtcdUnavailable, TimeoutError) as exc:
                log.warning("leader: lease not renewed", extra={"error": str(exc) or "timeout"})

    def start_holding(self) -> None:
        """Run :meth:`hold` in the background (after :meth:`campaign` won) until
        :meth:`resign`."""
        self._holding = asyncio.create_task(self.hold(), name="leader-lease")

    async def _stop_holding(self) -> None:
        holding, self._holding = self._holding, None
        if holding is not None:
            holding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holding

    async def _check(self) -> None:
        await self._renew()
        holder = await self._etcd.get(self.key)
        if holder is None or holder.create_revision != self.epoch:
            self.lose(f"leader key of epoch {self.epoch} gone or taken")

    async def resign(self) -> None:
        """A clean stop: revoke the lease, so a standby takes over at once."""
        await self._stop_holding()
        lease, self._lease = self._lease, None
        if lease is not None:
            try:
                await self._etcd.revoke(lease)
            except EtcdUnavailable as exc:
                log.warning("could not revoke the lease at the stop", extra={"error": str(exc)})
