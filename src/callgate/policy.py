"""The ACD's policy in the config file, and the one core policy built from it.

Every key the core decides by lives here: ``[acd]``, the call-takers' ring timeout, wrap-up
and missed rings (in ``[calltakers]``), ``[screening]`` with ``[screening.blocking]``,
``[callbacks]`` and the timing of ``[announcements]``; with ``[roster]``
(:mod:`callgate.rosters`) they make the core's :class:`~callgate.core.config.AcdConfig`
(:func:`acd_config`), the only way the ACD's settings reach the core, at start and at each
reload (``ConfigChanged``). :mod:`callgate.config` gathers these sections with the adapters'
own; a section shared by both (``[calltakers]``: phones and prompts are Asterisk's,
``[announcements]``: its prompts are) is composed there from the two halves, under the
same TOML keys.
"""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Only the prompt types: what a setting that names a prompt accepts.
from callgate.asterisk.settings import PROMPT_DIR, MediaPrompt
from callgate.core.announcements import AnnouncementPolicy
from callgate.core.callbacks import CallbackPolicy
from callgate.core.config import AcdConfig
from callgate.core.screening import BlockingPolicy, ScreeningPolicy, SilencePolicy
from callgate.rosters import RosterSettings

__all__ = [
    "FALLBACK",
    "AcdSettings",
    "AnnouncementTiming",
    "BlockingSettings",
    "CallTakerPolicy",
    "CallbackSettings",
    "PolicySections",
    "ScreeningSettings",
    "acd_config",
    "announcement_policy",
    "screening_policy",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AcdSettings(_Section):
    strategy: Literal["longest-idle", "fewest-calls", "round-robin", "ring-all"] = "longest-idle"
    """Who is offered the next call."""
    aging_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    """Seconds of waiting worth one priority class (a lower class is served before a newer
    caller of the class above once it has waited this much longer); leave out: strict classes."""
    max_wait: Annotated[int, Field(ge=5)] | None = 120
    """Seconds a caller waits for a call-taker before the overflow destinations are tried;
    leave out to wait for ever."""
    overflow: list[str] = Field(default_factory=list)
    """Dialstrings tried in order after max_wait (e.g. "PJSIP/supervisor"); the fallback queue
    of the dialplan always comes last and is not listed here."""

    @field_validator("strategy", mode="before")
    @classmethod
    def _no_skills(cls, value: object) -> object:
        if value == "skills":  # removed: no 112 call ever needs a skill (no menu, one number)
            raise ValueError("skills is not offered for 112 calls (see the CHANGELOG)")
        return value


class CallTakerPolicy(_Section):
    """The ACD's keys of ``[calltakers]`` (the phones and prompts are Asterisk's)."""

    ring_timeout: Annotated[int, Field(ge=5, le=120)] = 15
    """Seconds a call-taker's phone rings before the next one is tried."""
    wrap_up_time: Annotated[int, Field(ge=0, le=600)] = 10
    """Seconds after each call before a call-taker is offered the next one."""
    max_missed_in_a_row: Annotated[int, Field(ge=1, le=20)] = 3
    """Offers a call-taker may let ring out in a row before being paused (never logged out)."""


class BlockingSettings(_Section):
    """Optional blocking of nuisance callers (off by default): a blocked caller hears
    ``announcement`` and is hung up, unless the safety valve puts them through."""

    enabled: bool = False
    """Reject calls from blocked callers. Off: blocks may not be placed and none applies."""
    hours: Annotated[float, Field(gt=0, le=720)] = 24.0
    """How long an automatic block lasts (manual blocks give their own hours)."""
    auto_score_threshold: Annotated[float, Field(ge=0)] = 4.0
    """A prank or ghost disposition that lifts the caller's nuisance score to this places an
    automatic block; 0: only supervisors place blocks (CLI, admin API, MQTT)."""
    valve_calls: Annotated[int, Field(ge=1, le=100)] = 3
    """Safety valve: a blocked caller calling this many times (that call included) ..."""
    valve_minutes: Annotated[float, Field(gt=0, le=1440)] = 10.0
    """... within this many minutes is put through to a call-taker, tagged VALVE."""
    announcement: MediaPrompt = f"sound:{PROMPT_DIR}/diblokir"
    """What a blocked caller hears before the hang-up (an ARI media URI); Bahasa Indonesia
    placeholder by default ("Nomor Anda untuk sementara diblokir ...")."""


class ScreeningSettings(_Section):
    """Graded handling of repeat prank and ghost callers; a call is never rejected unless
    ``blocking`` is enabled."""

    enabled: bool = True
    """Screen callers by their history (dispositions set by call-takers and CAD)."""
    half_life_hours: Annotated[float, Field(gt=0)] = 72.0
    """How fast a caller's nuisance score fades: halved every this many hours."""
    tag_threshold: Annotated[float, Field(gt=0)] = 0.5
    """Score from which the call-taker's phone shows a tag (e.g. "PRANK x2") before the number."""
    warn_threshold: Annotated[float, Field(gt=0)] = 1.5
    """Score from which the caller hears ``warning`` before waiting."""
    deprioritise_threshold: Annotated[float, Field(gt=0)] = 2.5
    """Score from which the call waits in the lower class (behind other callers, still answered)."""
    warning: MediaPrompt = f"sound:{PROMPT_DIR}/peringatan-112"
    """The warning a repeat nuisance caller hears before the greeting (an ARI media URI);
    Bahasa Indonesia placeholder by default ("Layanan satu satu dua hanya untuk keadaan
    darurat ..."). Empty: no warning (the tag and priority still apply)."""
    silence_detection: bool = True
    """Listen for speech (Asterisk's TALK_DETECT) while the caller waits; a caller silent for
    ``silence_seconds`` hears ``silent_prompt`` ("press any key if you cannot speak"). A key
    raises the call to the top class; a caller still silent after ``key_seconds`` is classed
    ghost and waits in the lower class (still answered)."""
    silence_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    """Seconds from the answer without speech before the caller counts as silent (the greeting
    plays meanwhile; most callers speak over it)."""
    key_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    """Seconds a silent caller has, from the start of the prompt, to press a key."""
    silent_prompt: MediaPrompt = f"sound:{PROMPT_DIR}/tekan-tombol"
    """The prompt to a silent caller (an ARI media URI); Bahasa Indonesia placeholder by
    default ("Jika Anda tidak dapat berbicara, tekan tombol apa saja ..."). Any key counts."""
    blocking: BlockingSettings = BlockingSettings()
    """Optional blocking (``[screening.blocking]``), off by default."""


class CallbackSettings(_Section):
    """Callers who hung up before answer (or whose call dropped) are called back by a
    call-taker: one task per number, cancelled when that number gets through by itself."""

    enabled: bool = True
    """Keep the worklist and offer callbacks to call-takers."""
    dial: str = "PJSIP/{number}@jasnita"
    """Dial string of the outbound call through the trunk; ``{number}`` is the caller's number
    as the journal keeps it (national form, e.g. 0812...)."""
    first_delay: Annotated[float, Field(ge=0)] = 60.0
    """Seconds after the abandon before the first attempt (callers often ring back
    themselves)."""
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    """Attempts (busy, no answer, failed) before the task is given up."""
    retry_delay: Annotated[float, Field(ge=0)] = 120.0
    """Seconds between a failed attempt and the next."""
    max_concurrent: Annotated[int, Field(ge=1)] = 1
    """Callback attempts in progress at once (each holds a call-taker and a trunk channel)."""

    @field_validator("dial")
    @classmethod
    def _dial_template(cls, value: str) -> str:
        try:
            dialled = value.format(number="0812")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {number} may appear in braces") from None
        if "{number}" not in value or "/" not in dialled:
            raise ValueError('must be a dial string with {number}, e.g. "PJSIP/{number}@jasnita"')
        return value


class AnnouncementTiming(_Section):
    """The ACD's keys of ``[announcements]``: whether, when and what (the prompts are
    Asterisk's)."""

    enabled: bool = False
    """Announce to waiting callers. Off by default: with NENA's 90% within 15 s few callers
    wait long enough, and a centre chooses whether its callers hear a queue position."""
    first_after: Annotated[float, Field(ge=1, le=600)] = 20.0
    """Seconds of waiting before the first announcement (most callers are answered before)."""
    period: Annotated[float, Field(ge=2, le=600)] = 30.0
    """Seconds from one announcement to the next."""
    say: Literal["position", "wait", "both"] = "both"
    """What the caller hears: their position in the queue, the expected wait, or both."""
    handling_time: Annotated[float, Field(gt=0, le=3600)] = 120.0
    """Seconds a call takes (talk and wrap-up) assumed for the expected wait until the last 20
    conversations give their own mean. The wait is position x that / call-takers on duty."""


class PolicySections(Protocol):
    """The sections the core's policy is built from (:class:`callgate.config.Settings`)."""

    @property
    def acd(self) -> AcdSettings: ...
    @property
    def calltakers(self) -> CallTakerPolicy: ...
    @property
    def roster(self) -> RosterSettings: ...
    @property
    def screening(self) -> ScreeningSettings: ...
    @property
    def callbacks(self) -> CallbackSettings: ...
    @property
    def announcements(self) -> AnnouncementTiming: ...


#: The dialplan's fallback queue: always the last overflow destination.
FALLBACK = "fallback-queue"


def screening_policy(settings: PolicySections) -> ScreeningPolicy:
    """The core's screening policy from ``[screening]``; blocking only when
    ``[screening.blocking] enabled``."""
    s = settings.screening
    b = s.blocking
    blocking = (
        BlockingPolicy(
            duration=b.hours * 3600.0,
            score_threshold=b.auto_score_threshold or None,  # 0: supervisors' blocks only
            valve_calls=b.valve_calls,
            valve_window=b.valve_minutes * 60.0,
            announcement=b.announcement,
        )
        if b.enabled
        else None
    )
    return ScreeningPolicy(
        half_life=s.half_life_hours * 3600.0,
        tag_threshold=s.tag_threshold,
        warn_threshold=s.warn_threshold,
        deprioritise_threshold=s.deprioritise_threshold,
        blocking=blocking,
    )


def acd_config(settings: PolicySections, *, callback_prefix: str = "cb-") -> AcdConfig:
    """The core's configuration from the config file's sections: distribution, and the
    decisions beside it (screening and blocking, silent callers, callbacks, queue announcements)
    where enabled.
    ``callback_prefix``: this run's callback task ids begin with it (the daemon's is made from
    its start time, so that ids never repeat across runs)."""
    s, c = settings.screening, settings.callbacks
    silence = (
        SilencePolicy(s.silence_seconds, s.key_seconds, s.silent_prompt)
        if s.enabled and s.silence_detection
        else None
    )
    callbacks = (
        CallbackPolicy(
            max_attempts=c.max_attempts,
            retry_delay=c.retry_delay,
            first_delay=c.first_delay,
            max_concurrent=c.max_concurrent,
            id_prefix=callback_prefix,
        )
        if c.enabled
        else None
    )
    roster = settings.roster
    return AcdConfig(
        strategy=settings.acd.strategy,
        ring_timeout=float(settings.calltakers.ring_timeout),
        wrap_up_time=float(settings.calltakers.wrap_up_time),
        max_consecutive_no_answers=settings.calltakers.max_missed_in_a_row,
        max_wait=None if settings.acd.max_wait is None else float(settings.acd.max_wait),
        overflow_destinations=(*settings.acd.overflow, FALLBACK),
        out_of_hours_destinations=(*roster.out_of_hours, FALLBACK) if roster.out_of_hours else (),
        aging_interval=settings.acd.aging_seconds,
        roster=roster.roster(),
        screening=screening_policy(settings) if s.enabled else None,
        silence=silence,
        callbacks=callbacks,
        announcements=announcement_policy(settings),
    )


def announcement_policy(settings: PolicySections) -> AnnouncementPolicy | None:
    """The core's queue announcements from ``[announcements]``; None when not enabled."""
    a = settings.announcements
    if not a.enabled:
        return None
    return AnnouncementPolicy(
        first_after=a.first_after,
        period=a.period,
        position=a.say != "wait",
        wait=a.say != "position",
        handling_time=a.handling_time,
    )
