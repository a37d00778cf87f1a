"""THE silent-caller watch: how a waiting caller's silence turns into a key-press prompt and a
new class (UK "press 55" practice; :class:`~callgate.core.screening.SilencePolicy`).

Rules of this module, read these first:

- A watch starts when a new call arrives (talk detection on) and lives while the caller waits
  for a human; :data:`WATCH_TRANSITIONS` says what each sign or deadline leads to.
- Speech ends the watch: the caller is not silent. A key counts only after the prompt started
  (a caller who can talk, or who presses before being asked, must not jump the queue); a key
  before the prompt only brings the prompt forward.
- Silence through the prompt lowers the call (ghost); a key raises it (the caller may be unable
  to speak: an intruder, a stroke). Either way it still reaches a call-taker.
- A caller no longer waiting (being connected, connected, gone) is never reclassed: the watch
  just ends (``silent.py`` checks that before asking the table).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from callgate.core.screening import SilencePolicy


class WatchPhase(enum.Enum):
    """Where a silent-caller watch is."""

    LISTENING = "LISTENING"
    "Talk detection is on; waiting for the caller to say something."
    PROMPTED = "PROMPTED"
    "The caller was asked to press a key; waiting for it."


class WatchTrigger(enum.Enum):
    """What happened to a watched caller."""

    SPOKE = "CallerSpoke"
    KEY = "CallerPressedKey"
    WINDOW_ENDED = "WindowEnded"


class WatchStep(enum.Enum):
    """What the ACD (``silent.py``) does next."""

    PROMPT = "PROMPT"
    "Play the prompt; keys count from now."
    NOT_SILENT = "NOT_SILENT"
    "The watch ends: the caller talks."
    RAISE = "RAISE"
    "The watch ends: a silent caller pressed a key; raise the call."
    GHOST = "GHOST"
    "The watch ends: silent through the prompt; lower the call."


_P = WatchPhase
_T = WatchTrigger
_S = WatchStep

#: Every legal step of a watch: ``(phase, trigger) -> step``.
WATCH_TRANSITIONS: Mapping[tuple[WatchPhase, WatchTrigger], WatchStep] = {
    (_P.LISTENING, _T.SPOKE): _S.NOT_SILENT,
    (_P.LISTENING, _T.KEY): _S.PROMPT,
    (_P.LISTENING, _T.WINDOW_ENDED): _S.PROMPT,
    (_P.PROMPTED, _T.SPOKE): _S.NOT_SILENT,
    (_P.PROMPTED, _T.KEY): _S.RAISE,
    (_P.PROMPTED, _T.WINDOW_ENDED): _S.GHOST,
}


class SilenceWatch:
    """One caller's watch. Mutated only by the ACD (``silent.py``)."""

    __slots__ = ("phase", "policy", "token")

    def __init__(self, policy: SilencePolicy) -> None:
        #: The policy the watch started under: a configuration reloaded meanwhile (the watch
        #: turned off, other windows) applies to the next callers, never to this one.
        self.policy = policy
        self.phase = WatchPhase.LISTENING
        #: Bumped on every step so that the deadline of an earlier phase is ignored.
        self.token = 0

    def step(self, trigger: WatchTrigger) -> WatchStep:
        """The step :data:`WATCH_TRANSITIONS` gives; a PROMPT moves the watch on."""
        step = WATCH_TRANSITIONS[(self.phase, trigger)]
        self.token += 1
        if step is WatchStep.PROMPT:
            self.phase = WatchPhase.PROMPTED
        return step
