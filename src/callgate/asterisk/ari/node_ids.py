"""Which Asterisk node holds each id (several nodes,
:class:`~callgate.asterisk.ari.nodes.AriNodes`): learned from each node's events and the
requests made there, forgotten some time after the resource is gone (a bounded map)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class NodeIds:
    """Which node holds each id of each kind, forgetting ids :data:`FORGET_AFTER` after they
    are gone."""

    def __init__(self, forget_after: float, clock: Callable[[], float]) -> None:
        self.node: dict[tuple[str, str], str] = {}
        self._gone: dict[tuple[str, str], float] = {}
        self._order: deque[tuple[float, tuple[str, str]]] = deque()
        self._forget_after = forget_after
        self._clock = clock

    def learn(self, kind: str, rid: str, node: str) -> str | None:
        """``rid`` is on ``node`` (and not gone); the node it was known on before, if any."""
        key = (kind, rid)
        before = self.node.get(key)
        self.node[key] = node
        self._gone.pop(key, None)
        return before

    def gone(self, kind: str, rid: str) -> None:
        key = (kind, rid)
        if key not in self.node or key in self._gone:
            return
        until = self._clock() + self._forget_after
        self._gone[key] = until
        self._order.append((until, key))

    def live_on(self, node: str, kind: str) -> list[str]:
        return [
            rid
            for (k, rid), where in self.node.items()
            if k == kind and where == node and (k, rid) not in self._gone
        ]

    def purge(self) -> list[tuple[str, str]]:
        """Forget the ids gone long enough; the keys forgotten."""
        now = self._clock()
        forgotten = []
        while self._order and self._order[0][0] <= now:
            until, key = self._order.popleft()
            if self._gone.get(key) == until:  # not learned again since
                del self._gone[key]
                del self.node[key]
                forgotten.append(key)
        return forgotten

    def __len__(self) -> int:
        return len(self.node)
