"""One way in for every disposition, and for supervisors' blocks.

A call's disposition (genuine, information, prank, ghost, test, wrong-number) comes from the
call-taker's phone (``**<digit>`` during the call, ``*15<digit>`` after it), from CAD (MQTT
``set-disposition``) or from an admin (``callgate calls disposition``). Whatever the source,
:class:`Dispositions` validates it, stores it in the journal, publishes ``disposition-set``
and, when the centre has configured blocking, lets the core's :func:`record_disposition` decide
whether the caller is now blocked, storing such an automatic block with its audit trail. So a
prank keyed on the phone counts exactly like one sent by CAD.

:class:`Blocks` places and lifts supervisors' blocks (CLI, admin API, MQTT ``block`` and
``unblock``). Blocks are keyed like screening history (:func:`caller_key`). Every path logs one
line saying who did what, through which source.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from callgate.config import Settings, screening_policy
from callgate.core.screening import (
    DEFAULT_DISPOSITION_CODES,
    CallerHistory,
    Disposition,
    DispositionRecord,
    ScreeningPolicy,
    history_key,
    record_disposition,
)
from callgate.daemon.caller_history import load_history
from callgate.logs import clip
from callgate.ports import MAX_BLOCK_HOURS, MAX_BY, MAX_REASON, JournalError
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.blocks import Block, JournalBlocks
from callgate.storage.history import IDENTITY_PREFIX, last_answered_by, party_of
from callgate.storage.journal import Journal

log = logging.getLogger(__name__)

#: How far back ``*15<digit>`` looks for the call-taker's last answered call.
RECENT_WINDOW = 3600.0


class DispositionOutcome(enum.StrEnum):
    """How a disposition request went."""

    OK = "ok"
    UNKNOWN_CALL = "unknown-call"
    INVALID_DISPOSITION = "invalid-disposition"
    NO_RECENT_CALL = "no-recent-call"


@dataclass(frozen=True, slots=True)
class DispositionResult:
    """What :meth:`Dispositions.set` did."""

    outcome: DispositionOutcome
    "ok, unknown-call, invalid-disposition or no-recent-call."
    call_id: str | None
    "The call the disposition is (or would have been) about; None if none was found."
    disposition: str
    "The disposition asked for."
    block: Block | None = None
    "An automatic block this disposition placed (blocking configured), else None."

    @property
    def ok(self) -> bool:
        return self.outcome is DispositionOutcome.OK


class DispositionEvents(Protocol):
    """Where ``disposition-set`` goes (the CAD event publisher)."""

    def disposition_set(self, call_id: str, disposition: str, by: str, at: datetime) -> None: ...


class Dispositions:
    """Sets dispositions from every source; feeds automatic blocking when configured."""

    def __init__(
        self,
        journal: Journal,
        events: DispositionEvents | None,
        policy: ScreeningPolicy,
        *,
        codes: Mapping[str, str] = DEFAULT_DISPOSITION_CODES,
        clock: Callable[[], float] = time.time,
        recent_window: float = RECENT_WINDOW,
    ) -> None:
        self.journal = journal
        self.annotations = JournalAnnotations(journal)
        self.blocks = JournalBlocks(journal)
        self.events = events
        self.policy = policy
        self.codes = dict(codes)
        self.clock = clock
        self.recent_window = recent_window

    def reconfigure(self, settings: Settings) -> None:
        """A reload: the screening policy and the digits' dispositions from ``settings``."""
        self.policy = screening_policy(settings)
        self.codes = dict(settings.dispositions.codes)

    def for_digit(self, digit: str) -> str | None:
        """The disposition a call-taker's digit stands for, or None for a digit with none."""
        return self.codes.get(digit)

    async def set(
        self, call_id: str, disposition: str, *, by: str, source: str
    ) -> DispositionResult:
        """Classify ``call_id`` as ``disposition``, said by ``by`` through ``source`` (``dtmf``,
        ``feature-code``, ``mqtt``, ``admin``...)."""
        now = self.clock()
        result = await self._set(call_id, disposition, by, now)
        self._log(result, by, source)
        return result

    async def set_for_last_call(
        self, agent_id: str, disposition: str, *, source: str
    ) -> DispositionResult:
        """Classify the call ``agent_id`` answered most recently (ended or not, within the
        last hour) as ``disposition``."""
        now = self.clock()
        if disposition not in Disposition._value2member_map_:
            result = DispositionResult(DispositionOutcome.INVALID_DISPOSITION, None, disposition)
        else:
            since = datetime.fromtimestamp(now - self.recent_window, UTC)
            call_id = await last_answered_by(self.journal, agent_id, since)
            if call_id is None:
                result = DispositionResult(DispositionOutcome.NO_RECENT_CALL, None, disposition)
            else:
                result = await self._set(call_id, disposition, agent_id, now)
        self._log(result, agent_id, source)
        return result

    async def _set(self, call_id: str, disposition: str, by: str, now: float) -> DispositionResult:
        if disposition not in Disposition._value2member_map_:
            return DispositionResult(DispositionOutcome.INVALID_DISPOSITION, call_id, disposition)
        party = await party_of(self.journal, call_id)
        if party is None:
            return DispositionResult(DispositionOutcome.UNKNOWN_CALL, call_id, disposition)
        key = history_key(party.caller, party.identity)
        blocking = self.policy.blocking
        history: CallerHistory | None = None
        if key is not None and blocking is not None and blocking.score_threshold is not None:
            # Read before the new disposition is stored; this call's old one (if re-set) is left
            # out, so the history holds each call once.
            history = await load_history(
                self.journal, key, now, self.policy, exclude_call_id=call_id
            )
        at = datetime.fromtimestamp(now, UTC)
        if not await self.annotations.set_disposition(call_id, disposition, by, at):
            return DispositionResult(DispositionOutcome.UNKNOWN_CALL, call_id, disposition)
        if self.events is not None:
            self.events.disposition_set(call_id, disposition, by, at)
        block = None
        if history is not None and key is not None:
            block = await self._auto_block(key, history, call_id, disposition, by, now)
        return DispositionResult(DispositionOutcome.OK, call_id, disposition, block)

    async def _auto_block(
        self,
        key: str,
        history: CallerHistory,
        call_id: str,
        disposition: str,
        by: str,
        now: float,
    ) -> Block | None:
        record = DispositionRecord(now, Disposition(disposition), call_id)
        updated = record_disposition(history, record, self.policy, by=by)
        if len(updated.blocks) == len(history.blocks):
            return None
        placed = updated.blocks[-1]
        try:
            block = await self.blocks.place(
                key,
                at=datetime.fromtimestamp(placed.at, UTC),
                until=datetime.fromtimestamp(placed.until, UTC),
                by=placed.by,
                reason=placed.reason,
            )
        except JournalError as exc:
            # The disposition is stored; the block is not, and the admin must know.
            log.error(
                "automatic block not stored",
                extra={"key": clip(key), "call_id": clip(call_id), "error": str(exc)},
            )
            return None
        log.warning(
            "caller blocked automatically",
            extra={
                "key": clip(key),
                "call_id": clip(call_id),
                "until": block.until.isoformat(),
                "by": clip(block.by),
                "reason": clip(block.reason),
                "block_id": block.id,
            },
        )
        return block

    @staticmethod
    def _log(result: DispositionResult, by: str, source: str) -> None:
        extra = {
            "call_id": clip(result.call_id),
            "disposition": clip(result.disposition),
            "by": clip(by),
            "source": source,
            "result": result.outcome.value,
        }
        if result.ok:
            log.info("disposition set", extra=extra)
        else:
            log.warning("disposition not set", extra=extra)


def caller_key(number: str) -> str | None:
    """The key a supervisor's block applies to: the number in national form (any spelling a
    carrier sends), or ``imei:<identity>`` as typed; None when it is neither."""
    text = number.strip()
    if text.lower().startswith(IDENTITY_PREFIX):
        identity = text[len(IDENTITY_PREFIX) :].strip()
        return f"{IDENTITY_PREFIX}{identity}" if identity else None
    if not text or any(not (ch.isdigit() or ch in "+-() ") for ch in text):
        return None
    return history_key(text, None)


class BlockOutcome(enum.StrEnum):
    """How a block or unblock request went."""

    OK = "ok"
    NOT_BLOCKED = "not-blocked"
    """Unblock: the caller had no block in force (nothing changed)."""
    INVALID = "invalid"
    """A number, duration or reason that cannot be used; ``detail`` says which."""
    BLOCKING_DISABLED = "blocking-disabled"
    """Block: ``[screening.blocking] enabled`` is false, so a block would not apply."""


@dataclass(frozen=True, slots=True)
class BlockResult:
    """What :meth:`Blocks.block` or :meth:`Blocks.unblock` did."""

    outcome: BlockOutcome
    key: str | None
    "The caller key the number stands for (None for an unusable number)."
    blocks: list[Block] = field(default_factory=list)
    "The block placed, or the blocks lifted."
    detail: str = ""
    "What was wrong, in words."

    @property
    def ok(self) -> bool:
        return self.outcome is BlockOutcome.OK


class Blocks:
    """Supervisors' blocks and unblocks, each stored with who, when and why, and logged."""

    def __init__(
        self,
        journal: Journal,
        policy: ScreeningPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = JournalBlocks(journal)
        self.policy = policy
        self.clock = clock

    def reconfigure(self, settings: Settings) -> None:
        """A reload: the screening policy (blocking) from ``settings`` from now on."""
        self.policy = screening_policy(settings)

    @property
    def enabled(self) -> bool:
        return self.policy.blocking is not None

    async def block(
        self, number: str, *, hours: float, reason: str, by: str, source: str
    ) -> BlockResult:
        key = caller_key(number)
        problem = _check(key, number, reason, by)
        if problem is None and not 0 < hours <= MAX_BLOCK_HOURS:
            problem = f"hours must be more than 0 and at most {MAX_BLOCK_HOURS:g}"
        if problem is not None:
            result = BlockResult(BlockOutcome.INVALID, key, detail=problem)
        elif not self.enabled:
            result = BlockResult(
                BlockOutcome.BLOCKING_DISABLED,
                key,
                detail="blocking is off ([screening.blocking] enabled = false): not blocked",
            )
        else:
            assert key is not None
            at = datetime.fromtimestamp(self.clock(), UTC)
            placed = await self.store.place(
                key, at=at, until=at + timedelta(hours=hours), by=by, reason=reason.strip()
            )
            result = BlockResult(BlockOutcome.OK, key, [placed])
        extra = {
            "key": clip(key),
            "by": clip(by),
            "reason": clip(reason),
            "source": source,
            "hours": hours,
        }
        if result.ok:
            log.warning(
                "caller blocked",
                extra=extra
                | {"until": result.blocks[0].until.isoformat(), "block_id": result.blocks[0].id},
            )
        else:
            log.warning(
                "block refused",
                extra=extra | {"result": result.outcome.value, "detail": clip(result.detail)},
            )
        return result

    async def unblock(self, number: str, *, reason: str, by: str, source: str) -> BlockResult:
        key = caller_key(number)
        problem = _check(key, number, reason, by)
        if problem is not None:
            result = BlockResult(BlockOutcome.INVALID, key, detail=problem)
        else:
            assert key is not None
            at = datetime.fromtimestamp(self.clock(), UTC)
            lifted = await self.store.lift(key, at=at, by=by, reason=reason.strip())
            outcome = BlockOutcome.OK if lifted else BlockOutcome.NOT_BLOCKED
            result = BlockResult(outcome, key, lifted, "" if lifted else "no block in force")
        log.warning(
            "caller unblocked" if result.ok else "unblock: nothing lifted",
            extra={
                "key": clip(key),
                "by": clip(by),
                "reason": clip(reason),
                "source": source,
                "result": result.outcome.value,
                "block_ids": [b.id for b in result.blocks],
            },
        )
        return result

    async def list(self, *, include_all: bool = False) -> list[Block]:
        """Blocks in force now, or with ``include_all`` the whole audit trail (newest first)."""
        if include_all:
            return await self.store.trail()
        return await self.store.active(datetime.fromtimestamp(self.clock(), UTC))


def _check(key: str | None, number: str, reason: str, by: str) -> str | None:
    if key is None:
        return f"{clip(number, 40)!r} is not a caller number or imei:<identity>"
    if not reason.strip():
        return "a reason is required (it goes into the audit trail)"
    if len(reason) > MAX_REASON:
        return f"reason longer than {MAX_REASON} characters"
    if not by.strip() or len(by) > MAX_BY:
        return f"by must be 1 to {MAX_BY} characters"
    return None


def block_json(block: Block) -> dict[str, object]:
    """A block for the admin API and MQTT replies."""
    return {
        "id": block.id,
        "key": block.key,
        "at": block.at.isoformat(),
        "until": block.until.isoformat(),
        "by": block.by,
        "reason": block.reason,
        "lifted_at": None if block.lifted_at is None else block.lifted_at.isoformat(),
        "lifted_by": block.lifted_by,
        "lift_reason": block.lift_reason,
    }
