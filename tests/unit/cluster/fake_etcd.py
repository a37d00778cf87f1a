"""An etcd of one key space in memory, on a clock the test moves: leases lapse when it passes
their TTL, and a key lives as long as its lease (what the election relies on)."""

from __future__ import annotations

from callgate.cluster.etcd import EtcdUnavailable, Holder


class FakeEtcd:
    def __init__(self) -> None:
        self.now = 0.0
        self.revision = 1
        self.leases: dict[int, tuple[int, float]] = {}  # id -> (ttl, expires at)
        self.keys: dict[str, Holder] = {}
        self.down = False
        self._next_lease = 100

    def clock(self) -> float:
        return self.now

    def _expire(self) -> None:
        if self.down:
            raise EtcdUnavailable("etcd: down")
        for lease, (_, until) in list(self.leases.items()):
            if until <= self.now:
                self._end(lease)

    def _end(self, lease: int) -> None:
        self.leases.pop(lease, None)
        for key, holder in list(self.keys.items()):
            if holder.lease == lease:
                del self.keys[key]
                self.revision += 1

    async def grant(self, ttl: int) -> tuple[int, int]:
        self._expire()
        self._next_lease += 1
        self.leases[self._next_lease] = (ttl, self.now + ttl)
        return self._next_lease, ttl

    async def keep_alive(self, lease: int) -> int:
        self._expire()
        if lease not in self.leases:
            return 0
        ttl = self.leases[lease][0]
        self.leases[lease] = (ttl, self.now + ttl)
        return ttl

    async def revoke(self, lease: int) -> None:
        self._expire()
        self._end(lease)

    async def create(self, key: str, value: str, lease: int) -> tuple[bool, Holder | None]:
        self._expire()
        if key in self.keys:
            return False, self.keys[key]
        self.revision += 1
        self.keys[key] = Holder(value, self.revision, lease)
        return True, self.keys[key]

    async def get(self, key: str) -> Holder | None:
        self._expire()
        return self.keys.get(key)

    async def current_revision(self) -> int:
        self._expire()
        return self.revision
