"""Screening of prank and ghost calls: a decaying nuisance score and a graded response.

Rules of this module, read these first:

- A real emergency can come from a number that pranked yesterday. Screening therefore
  *grades* its response (tag the call, play a short warning, move it to a lower priority
  class) and never rejects a call by default. Rejection exists only when the centre configures
  :class:`BlockingPolicy`, and even then a safety valve puts a blocked number through once it
  calls ``valve_calls`` times within ``valve_window`` seconds.
- History is keyed by :func:`history_key`: the normalised caller number, or for anonymous,
  withheld and SIM-less calls the carrier's IMEI-derived identity. Without either the key is
  None and the call has no history at all: merging every SIM-less caller into one
  "anonymous" history would penalise all of them for one prankster.
- Everything here is a pure function of its arguments. :class:`CallerHistory` is immutable;
  the driver loads it with the call and passes it in ``CallArrived.history`` (the core never
  queries a database); the ACD (``conversations.py``) asks :func:`screen` for the decision,
  for the daemon and the simulator alike. The daemon stores the new history that
  :func:`record_disposition` returns.

The score. Each prank or ghost disposition adds its weight; the score halves every
``half_life`` seconds. A genuine emergency removes ``forgiveness`` of the score at that moment
(all of it by default): such a caller may ring back minutes later about the same fire and
must not be tagged or queued behind others then. The score is clamped at zero after every
step, so genuine calls never bank credit that a later prank could spend. Information
requests, test calls and wrong numbers neither add nor forgive.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from callgate.core.calls import Priority
from callgate.core.errors import AcdConfigError

DAY = 86_400.0

#: Caller numbers Asterisk or carriers deliver for withheld or unknown callers.
ANONYMOUS_NUMBERS = frozenset({"", "anonymous", "unknown", "restricted", "private", "withheld"})

#: Screening categories carried into ``CallArrived.category`` and the call record.
CATEGORY_NONE = ""
CATEGORY_ANONYMOUS = "anonymous"
CATEGORY_REPEAT_NUISANCE = "repeat-nuisance"
CATEGORY_BLOCKED_VALVE = "blocked-valve"
CATEGORY_BLOCKED = "blocked"
CATEGORY_GHOST = "ghost"
CATEGORY_SILENT_KEY_PRESSED = "silent-key-pressed"


class Disposition(enum.Enum):
    """What the call-taker found the call to be (set after the call)."""

    GENUINE = "genuine"
    INFORMATION = "information"
    PRANK = "prank"
    GHOST = "ghost"
    TEST = "test"
    WRONG_NUMBER = "wrong-number"


#: Which digit a call-taker keys for which disposition (``**<digit>``, ``*15<digit>``), unless
#: the centre configures its own (``[dispositions] codes``).
DEFAULT_DISPOSITION_CODES: dict[str, str] = {
    str(digit): disposition.value for digit, disposition in enumerate(Disposition, start=1)
}


def is_anonymous(caller: str) -> bool:
    """True when ``caller`` carries no usable number (withheld, unknown, SIM-less)."""
    return normalise_number(caller) == ""


def normalise_number(caller: str) -> str:
    """The caller number in national form (``0812...``), or "" for no usable number.

    ``+62812...``, ``62812...`` and ``0812-...`` are one caller; separators are dropped.
    """
    if caller.strip().lower() in ANONYMOUS_NUMBERS:
        return ""
    digits = "".join(ch for ch in caller if ch.isdigit())
    if digits.startswith("62") and len(digits) > 8:
        digits = "0" + digits[2:]
    return digits


def e164(number: str) -> str:
    """A normalised national number (``0812...``) in E.164 (``+62812...``), as the dialplan
    writes callers; any other shape is returned as it is."""
    return f"+62{number[1:]}" if number.startswith("0") and number[1:].isdigit() else number


def history_key(caller: str, imei_identity: str | None) -> str | None:
    """The key of the caller's history, or None: an anonymous caller without identity.

    A usable number wins; otherwise the carrier's IMEI-derived identity (``imei:...``).
    None means "no history": such calls are never merged into one shared history.
    """
    number = normalise_number(caller)
    if number:
        return number
    if imei_identity and imei_identity.strip():
        return f"imei:{imei_identity.strip()}"
    return None


def imei_identity(*sip_headers: str) -> str | None:
    """The IMEI-derived identity a carrier passes for a SIM-less emergency call, or None.

    3GPP TS 24.229 has a UE without a SIM put its IMEI as a URN (RFC 7254,
    ``urn:gsma:imei:35209900-176148-1``) in the Contact's ``+sip.instance``; carriers pass it on
    there or in P-Asserted-Identity. The TAC and serial number (14 digits) identify the handset;
    the check/spare digit is dropped so both spellings give one key.
    """
    for header in sip_headers:
        lowered = header.lower()
        start = lowered.find(_IMEI_URN)
        if start < 0:
            continue
        rest = lowered[start + len(_IMEI_URN) :]
        parts = rest.replace(">", ";").replace('"', ";").split(";", 1)[0].split("-")
        digits = "".join(parts[:2])
        if len(digits) == 14 and digits.isdigit():
            return digits
    return None


_IMEI_URN = "urn:gsma:imei:"


@dataclass(frozen=True, slots=True)
class DispositionRecord:
    """One past disposition of a caller's call."""

    at: float
    "When it was recorded (core time)."
    disposition: Disposition
    "What the call-taker found."
    call_id: str = ""
    "The call it was about, for the audit trail."


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """One block of a caller, with its audit trail; kept after it ends or is lifted."""

    at: float
    "When the block was placed."
    until: float
    "When it ends by itself."
    by: str
    "Who placed it: a supervisor's id, or ``auto`` for the policy."
    reason: str
    "Why, in words for the audit trail."
    lifted_at: float | None = None
    "When it was lifted early (CLI/MQTT unblock), or None."
    lifted_by: str = ""
    "Who lifted it."
    lift_reason: str = ""
    "Why it was lifted."

    def active(self, now: float) -> bool:
        """True while the block applies at ``now``."""
        if self.lifted_at is not None and self.lifted_at <= now:
            return False
        return self.at <= now < self.until


@dataclass(frozen=True, slots=True)
class CallerHistory:
    """Everything screening knows about one caller key. Immutable: updates return a copy."""

    key: str
    "The :func:`history_key` it belongs to."
    dispositions: tuple[DispositionRecord, ...] = ()
    "Past dispositions, oldest first."
    blocks: tuple[BlockRecord, ...] = ()
    "Past and current blocks, oldest first (the audit trail)."
    calls: tuple[float, ...] = ()
    "Arrival times of recent calls, oldest first, for the safety valve."

    def __post_init__(self) -> None:
        # Histories come from storage in any order; the score walks them oldest first.
        ordered = tuple(sorted(self.dispositions, key=lambda r: r.at))
        object.__setattr__(self, "dispositions", ordered)

    def with_disposition(self, record: DispositionRecord) -> CallerHistory:
        """This history plus ``record`` (kept in time order)."""
        return replace(self, dispositions=(*self.dispositions, record))

    def with_block(self, at: float, duration: float, by: str, reason: str) -> CallerHistory:
        """This history with a block from ``at`` for ``duration`` seconds (e.g. a supervisor's)."""
        if duration <= 0:
            raise AcdConfigError("a block needs a positive duration")
        return replace(self, blocks=(*self.blocks, BlockRecord(at, at + duration, by, reason)))

    def unblocked(self, at: float, by: str, reason: str) -> CallerHistory:
        """This history with every block active at ``at`` lifted by ``by``, for ``reason``."""
        blocks = tuple(
            replace(b, lifted_at=at, lifted_by=by, lift_reason=reason) if b.active(at) else b
            for b in self.blocks
        )
        return replace(self, blocks=blocks)

    def active_block(self, now: float) -> BlockRecord | None:
        """The block in force at ``now`` that ends last, or None."""
        active = [b for b in self.blocks if b.active(now)]
        return max(active, key=lambda b: b.until) if active else None


@dataclass(frozen=True, slots=True)
class BlockingPolicy:
    """Optional blocking, for centres that want it; every block is time-limited."""

    duration: float = DAY
    "How long an automatic block lasts (Purworejo and Bontang block for 24 h today)."
    score_threshold: float | None = 4.0
    "A disposition that lifts the score to this places an automatic block; None: manual only."
    valve_calls: int = 3
    "Safety valve: a blocked number calling this many times (this call included) ..."
    valve_window: float = 600.0
    "... within this many seconds is put through to a call-taker, flagged."
    announcement: str = ""
    "What a blocked caller hears before the hang-up (a media name for the driver); empty: none."
    announcement_limit: float = 30.0
    "Longest the announcement may play before the hang-up."

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise AcdConfigError("blocking duration must be positive")
        if self.announcement_limit <= 0:
            raise AcdConfigError("blocking announcement_limit must be positive")
        if self.score_threshold is not None and self.score_threshold <= 0:
            raise AcdConfigError("blocking score_threshold must be positive or None")
        if self.valve_calls < 1:
            raise AcdConfigError("blocking valve_calls must be at least 1")
        if self.valve_window <= 0:
            raise AcdConfigError("blocking valve_window must be positive")


@dataclass(frozen=True, slots=True)
class ScreeningPolicy:
    """How nuisance history turns into a graded response. The defaults never reject a call."""

    half_life: float = 3 * DAY
    "Seconds for the nuisance score to halve: one prank keeps a number tagged ~3 days."
    prank_weight: float = 1.0
    "Score added by a prank disposition."
    ghost_weight: float = 0.5
    "Score added by a ghost (silent) disposition: often a pocket dial or no coverage, less blame."
    forgiveness: float = 1.0
    "Share of the score a genuine emergency removes (1.0: back to zero, 0.0: no effect)."
    tag_threshold: float = 0.5
    "Score from which the call is tagged on the call-taker's phone (one recent prank)."
    warn_threshold: float = 1.5
    "Score from which a short warning plays before queueing (two pranks within a day or so)."
    deprioritise_threshold: float = 2.5
    "Score from which the call waits in ``nuisance_priority`` (three pranks within a day)."
    nuisance_priority: int = Priority.NUISANCE
    "Priority class for deprioritised calls; they still reach a call-taker."
    ghost_priority: int = Priority.NUISANCE
    "Priority class of a call that stays silent through the key-press prompt."
    key_press_priority: int = Priority.CALLBACK
    "Priority class of a silent call whose caller pressed a key (may be unable to speak)."
    tag_window: float = 30 * DAY
    "Dispositions counted in the tag (``PRANK x3``) are those of this many past seconds."
    blocking: BlockingPolicy | None = None
    "Optional blocking; None (the default) means no call is ever rejected."

    def __post_init__(self) -> None:
        if self.half_life <= 0:
            raise AcdConfigError("screening half_life must be positive")
        if self.prank_weight < 0 or self.ghost_weight < 0:
            raise AcdConfigError("screening weights must not be negative")
        if not 0.0 <= self.forgiveness <= 1.0:
            raise AcdConfigError("screening forgiveness must be between 0 and 1")
        for name in ("tag_threshold", "warn_threshold", "deprioritise_threshold"):
            if getattr(self, name) <= 0:
                raise AcdConfigError(f"screening {name} must be positive")
        if self.tag_window <= 0:
            raise AcdConfigError("screening tag_window must be positive")

    def weight(self, disposition: Disposition) -> float:
        """Score a disposition adds."""
        if disposition is Disposition.PRANK:
            return self.prank_weight
        if disposition is Disposition.GHOST:
            return self.ghost_weight
        return 0.0


def nuisance_score(
    dispositions: Iterable[DispositionRecord], now: float, policy: ScreeningPolicy
) -> float:
    """The decayed nuisance score at ``now`` from dispositions up to ``now`` (in time order)."""
    score = 0.0
    last = None
    for record in dispositions:
        if record.at > now:
            break
        if last is not None:
            score *= _decay(record.at - last, policy.half_life)
        last = record.at
        if record.disposition is Disposition.GENUINE:
            score *= 1.0 - policy.forgiveness
        else:
            score += policy.weight(record.disposition)
    if last is None:
        return 0.0
    return max(0.0, score * _decay(now - last, policy.half_life))


def _decay(elapsed: float, half_life: float) -> float:
    return math.pow(0.5, max(0.0, elapsed) / half_life)


@dataclass(frozen=True, slots=True)
class ScreeningDecision:
    """What to do with one arriving call before it reaches the queue."""

    score: float
    "The caller's nuisance score at arrival."
    tag: str
    "Short text for the call-taker's phone (``PRANK x3``, ``ANON``);  for nothing to show."
    warn: bool
    "Play the short warning announcement before queueing."
    priority: int
    "Priority class for ``CallArrived.priority``."
    category: str
    "Screening category for ``CallArrived.category`` (``repeat-nuisance``, ``anonymous``...)."
    blocked: bool = False
    "Reject the call (announce and hang up). Only with blocking configured and the valve shut."
    valve: bool = False
    "A blocked number put through by the safety valve: the call-taker must see why."

    def caller_name(self, caller: str) -> str:
        """The caller-ID name to present: the tag before the number, or just the number."""
        return f"{self.tag} {caller}".strip() if self.tag else caller


def screen(
    history: CallerHistory | None,
    now: float,
    policy: ScreeningPolicy,
    *,
    anonymous: bool,
) -> ScreeningDecision:
    """Decide how an arriving call is handled from its caller's history.

    ``history`` is the caller's history as loaded (None or empty for a first call or a caller
    without a key), *before* :func:`record_call` adds this call. ``anonymous`` says the call
    came without a usable number; it gets its own category, and no penalty without history.
    """
    flags = ["ANON"] if anonymous else []
    if history is None:
        category = CATEGORY_ANONYMOUS if anonymous else CATEGORY_NONE
        return ScreeningDecision(0.0, " ".join(flags), False, Priority.NORMAL, category)
    score = nuisance_score(history.dispositions, now, policy)
    nuisance = score >= policy.tag_threshold
    priority = (
        policy.nuisance_priority if score >= policy.deprioritise_threshold else Priority.NORMAL
    )
    if nuisance:
        category = CATEGORY_REPEAT_NUISANCE
        flags.append(_counts(history, now, policy))
    else:
        category = CATEGORY_ANONYMOUS if anonymous else CATEGORY_NONE
    warn = score >= policy.warn_threshold
    blocking = policy.blocking
    block = history.active_block(now) if blocking is not None else None
    if blocking is None or block is None:
        return ScreeningDecision(score, " ".join(flags), warn, priority, category)
    window_start = now - blocking.valve_window
    calls = 1 + sum(1 for t in history.calls if window_start < t <= now)
    if calls >= blocking.valve_calls:
        # Calling again and again while blocked may be a real emergency: put it through, in
        # the normal class (not behind everyone), and tell the call-taker why it rings.
        tag = " ".join(["VALVE", *flags])
        return ScreeningDecision(
            score, tag, False, Priority.NORMAL, CATEGORY_BLOCKED_VALVE, valve=True
        )
    return ScreeningDecision(
        score, " ".join(["BLOCKED", *flags]), warn, priority, CATEGORY_BLOCKED, blocked=True
    )


def _counts(history: CallerHistory, now: float, policy: ScreeningPolicy) -> str:
    since = now - policy.tag_window
    recent = [r.disposition for r in history.dispositions if since <= r.at <= now]
    parts = [
        f"{d.name} x{n}" for d in (Disposition.PRANK, Disposition.GHOST) if (n := recent.count(d))
    ]
    # Heavy old weight with nothing in the window still deserves a tag.
    return " ".join(parts) or "NUISANCE"


def record_call(history: CallerHistory, at: float, policy: ScreeningPolicy) -> CallerHistory:
    """``history`` with a call arriving at ``at``, keeping only what the safety valve needs."""
    if policy.blocking is None:
        return replace(history, calls=())
    keep = policy.blocking.valve_window
    return replace(history, calls=(*(t for t in history.calls if t > at - keep), at))


def record_disposition(
    history: CallerHistory,
    record: DispositionRecord,
    policy: ScreeningPolicy,
    *,
    by: str = "auto",
) -> CallerHistory:
    """``history`` with ``record``; places an automatic block if the policy configures one.

    ``by`` names who set the disposition; an automatic block's audit reason names it too.
    """
    updated = history.with_disposition(record)
    blocking = policy.blocking
    if blocking is None or blocking.score_threshold is None:
        return updated
    if record.disposition not in (Disposition.PRANK, Disposition.GHOST):
        return updated
    score = nuisance_score(updated.dispositions, record.at, policy)
    if score < blocking.score_threshold or updated.active_block(record.at) is not None:
        return updated
    reason = f"score {score:.1f} after {record.disposition.value} (call {record.call_id}, {by})"
    return updated.with_block(record.at, blocking.duration, "auto", reason)


@dataclass(frozen=True, slots=True)
class SilencePolicy:
    """The silent-caller watch (UK "press 55" practice), for a centre that turns it on.

    A waiting caller who says nothing for ``silence_seconds`` hears ``prompt`` and has
    ``key_seconds`` to press a key (see :func:`after_silence` for what follows).
    """

    silence_seconds: float = 10.0
    "Silence, from arrival, after which the caller is asked for a key."
    key_seconds: float = 10.0
    "Seconds the caller has, from the prompt, to press a key."
    prompt: str = ""
    "What the caller hears (a media name for the driver); empty plays nothing, keys still count."

    def __post_init__(self) -> None:
        if self.silence_seconds <= 0 or self.key_seconds <= 0:
            raise AcdConfigError("silence_seconds and key_seconds must be positive")


@dataclass(frozen=True, slots=True)
class SilenceOutcome:
    """How a silent call changes after the "press a key" prompt."""

    priority: int
    "The call's new priority class (send ``CallReprioritised`` if it is already queued)."
    category: str
    "The call's new category."
    tag: str
    "Tag to add on the call-taker's phone."


def after_silence(pressed_key: bool, policy: ScreeningPolicy) -> SilenceOutcome:
    """A silent call after the key-press prompt: a key raises it, silence lowers it.

    Either way it still reaches a call-taker (UK "press 55": a caller may be unable to speak).
    """
    if pressed_key:
        return SilenceOutcome(policy.key_press_priority, CATEGORY_SILENT_KEY_PRESSED, "KEY")
    return SilenceOutcome(policy.ghost_priority, CATEGORY_GHOST, "SILENT")
