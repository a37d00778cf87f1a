"""One rule for a phone's device state over several Asterisk nodes, for ARI and AMI alike
(issue #21; the review found the two adapters ranking the states differently).

A phone registers with every node, so each node has a state for it. Best first: in use or
ringing on any node (a call-taker talking through node 1 must not be offered a caller on node
2), then idle, then the states nobody can vouch for: unavailable (the node says it is not
registered) before unknown before invalid. Strict, so the result never depends on which node
spoke first; the core takes the last three alike (never offered a caller).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: Asterisk's device state names (``ast_devstate_str``), best first.
MERGE_ORDER: Final = ("RINGINUSE", "INUSE", "BUSY", "ONHOLD", "RINGING",
                      "NOT_INUSE", "UNAVAILABLE", "UNKNOWN", "INVALID")  # fmt: skip
_RANK: Final = {state: rank for rank, state in enumerate(MERGE_ORDER)}


def merge_rank(state: str) -> int:
    """``state``'s place in :data:`MERGE_ORDER` (lower wins; a name Asterisk never sends
    last)."""
    return _RANK.get(state, len(_RANK))


def merged_state(states: Iterable[str]) -> str:
    """The best of ``states`` (``UNAVAILABLE`` for none: no node has the phone)."""
    return min(states, key=merge_rank, default="UNAVAILABLE")
