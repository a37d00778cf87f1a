"""A call-taker's keys during a call: ``*<digit>`` calls an agency in (three-way), ``#<digit>``
hands the call off to it, ``**<digit>`` sets the call's disposition.

The ARI adapter reports each key a connected call-taker presses (``CallTakerKeyPressed``); the
sequences and their timeout are decided here, the timeout on the core's one deadline. A digit
completes a sequence only within ``AcdConfig.key_sequence_timeout`` of the ``*`` or ``#``
before it; a sequence is one call-taker's on one call.

=======================  ===========================================================
Event / timer            Move
=======================  ===========================================================
CallTakerKeyPressed      ``*`` or ``#``: a sequence starts (``*`` within one: ``**``),
                         its timeout armed; a digit in time: ``CallAgency``
                         (``*``: three-way, ``#``: hand-off) or ``SetDispositionByKey``
                         (``**``); a digit out of time or alone: nothing
KeySequenceTimedOut      the sequence is forgotten
=======================  ===========================================================
"""

from __future__ import annotations

import math

from callgate.core.commands import CallAgency, SetDispositionByKey
from callgate.core.events import CallTakerKeyPressed
from callgate.core.floor import Floor, Out, Table, Timer

#: A sequence is one call-taker's on one call: (agent id, call id).
Keyer = tuple[str, str]


class InCallKeys:
    """The key sequences call-takers have started, each until its digit or its timeout."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        #: Started sequences: ``*``, ``#`` or ``**``, when, and the token of its timer.
        self.sequences: dict[Keyer, tuple[str, float, int]] = {}

    def table(self) -> Table:
        return {CallTakerKeyPressed: self.key_pressed}

    def key_pressed(self, event: CallTakerKeyPressed, now: float, out: Out) -> None:
        keyer = (event.agent_id, event.call_id)
        timeout = self.floor.config.key_sequence_timeout
        prefix, when, _ = self.sequences.pop(keyer, ("", 0.0, 0))
        in_time = bool(prefix) and now - when <= timeout
        if event.key in "*#":
            start = "**" if event.key == "*" and prefix == "*" and in_time else event.key
            token = next(self.floor.seq)
            self.sequences[keyer] = (start, now, token)
            # Just after the timeout: a digit at the very moment still completes it.
            self.floor.arm(math.nextafter(now + timeout, math.inf), Timer.KEYS, keyer, token)
            return
        if not in_time:
            return
        if prefix == "**":
            out.append(SetDispositionByKey(event.call_id, event.agent_id, event.key))
        else:
            out.append(CallAgency(event.call_id, event.agent_id, event.key, prefix == "#"))

    def timed_out(self, keyer: Keyer, token: int, now: float, out: Out) -> None:
        """KeySequenceTimedOut: no digit came in time; the sequence is forgotten."""
        if self.pending(keyer, token):
            del self.sequences[keyer]

    def pending(self, keyer: Keyer, token: int) -> bool:
        sequence = self.sequences.get(keyer)
        return sequence is not None and sequence[2] == token
