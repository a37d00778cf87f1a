"""The core's configuration: a plain frozen dataclass (the config-file layer builds it)."""

from __future__ import annotations

from dataclasses import dataclass

from callgate.core.announcements import AnnouncementPolicy
from callgate.core.callbacks import CallbackPolicy
from callgate.core.errors import AcdConfigError
from callgate.core.roster import Roster
from callgate.core.screening import ScreeningPolicy, SilencePolicy
from callgate.core.strategies import STRATEGIES


@dataclass(frozen=True, slots=True)
class AcdConfig:
    """How one ACD distributes calls. All times are seconds."""

    strategy: str = "longest-idle"
    "Name in :data:`callgate.core.strategies.STRATEGIES`."
    ring_timeout: float = 15.0
    "How long one offer rings before the core tries the next call-taker."
    wrap_up_time: float = 10.0
    "Time after each conversation before the call-taker gets a new call."
    max_consecutive_no_answers: int = 3
    "Offers in a row a call-taker may let ring out before being paused (never logged out)."
    max_wait: float | None = 60.0
    "Waiting time after which a call overflows; None: wait for a call-taker forever."
    overflow_destinations: tuple[str, ...] = ("fallback-queue",)
    "Tried in order (e.g. supervisors, the neighbouring regency); the last is the fallback queue."
    out_of_hours_destinations: tuple[str, ...] = ()
    """Tried in order for a caller when no shift is on (a neighbouring regency's centre, an
    agency, supervisors' phones); the last is the fallback queue. Empty: the overflow ones."""
    aging_interval: float | None = None
    "Seconds of waiting worth one priority class; None turns aging off."
    skill_relax_after: float | None = 30.0
    "Waiting time after which a call's required skill is dropped; None: never."
    roster: Roster | None = None
    "Shifts; outside them calls go to the out-of-hours destinations at once. None: always on."
    screening: ScreeningPolicy | None = None
    "Prank and ghost screening of arriving calls (and blocking, if it configures it); None: off."
    silence: SilencePolicy | None = None
    "The silent-caller watch; None: off. Its classes come from ``screening`` (or the defaults)."
    callbacks: CallbackPolicy | None = None
    "The abandoned-call callback worklist; None: no callbacks."
    announcements: AnnouncementPolicy | None = None
    "Position and expected-wait announcements to waiting callers; None: none."
    key_sequence_timeout: float = 3.0
    "Seconds between a call-taker's ``*`` or ``#`` and the digit that completes it."

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            known = ", ".join(sorted(STRATEGIES))
            raise AcdConfigError(f"unknown strategy {self.strategy!r}; known: {known}")
        if not self.overflow_destinations:
            raise AcdConfigError("overflow_destinations needs at least the fallback queue")
        if self.ring_timeout <= 0:
            raise AcdConfigError("ring_timeout must be positive")
        if self.wrap_up_time < 0:
            raise AcdConfigError("wrap_up_time must not be negative")
        if self.max_consecutive_no_answers < 1:
            raise AcdConfigError("max_consecutive_no_answers must be at least 1")
        if self.key_sequence_timeout <= 0:
            raise AcdConfigError("key_sequence_timeout must be positive")
        for name in ("max_wait", "aging_interval", "skill_relax_after"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise AcdConfigError(f"{name} must be positive or None")
