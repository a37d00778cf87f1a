"""Call-takers' feature codes (*11 log in, *12 log out, *13 pause, *14 unpause, *15 disposition
of the last call) over FastAGI.

The dialplan's ``[callgate-agents]`` context sends each code to ``agi://127.0.0.1:4573/agent/<code>``;
the handlers here turn it into a call on :class:`AgentControl` (which the daemon implements), set
``CALLGATE_AGENT_RESULT`` on the channel and play a short confirmation to the softphone. Which
call-taker it is comes from the channel name: ``PJSIP/1005-0000001a`` is endpoint ``PJSIP/1005``.

The FastAGI server has checked the shared secret; the channel name is still only what the
request says. Before anything changes, Asterisk is asked (a :class:`~callgate.ports.ChannelCheck`,
over ARI) whether it has that channel under the request's ``agi_uniqueid``; anything but a
plain yes answers ``ERROR`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol, TypeVar

from callgate.asterisk.agi.protocol import AgiSession, Handler
from callgate.asterisk.settings import DEFAULT_PAUSE_REASONS, CallTakerPrompts, sound_file
from callgate.logs import LogThrottle
from callgate.ports import AgentCommandResult, ChannelCheck, DispositionResultLike, agent_id_of

log = logging.getLogger(__name__)

_R = TypeVar("_R")

RESULT_VARIABLE: Final = "CALLGATE_AGENT_RESULT"
REASON_VARIABLE: Final = "CALLGATE_AGENT_REASON"


class AgentControl(Protocol):
    """Call-taker state changes the daemon offers to feature codes."""

    async def login(self, endpoint: str) -> AgentCommandResult: ...
    async def logout(self, endpoint: str) -> AgentCommandResult: ...
    async def pause(self, endpoint: str, reason: str) -> AgentCommandResult: ...
    async def unpause(self, endpoint: str) -> AgentCommandResult: ...


class DispositionControl(Protocol):
    """Dispositions as the daemon offers them to ``*15<digit>``
    (:class:`callgate.daemon.dispositions.Dispositions`)."""

    def for_digit(self, digit: str) -> str | None: ...
    async def set_for_last_call(
        self, agent_id: str, disposition: str, *, source: str
    ) -> DispositionResultLike: ...


# Results set on the channel besides AgentCommandResult's own values.
INVALID_REASON: Final = "INVALID_REASON"
"""*13 followed by a digit with no pause reason configured: not paused."""
ERROR: Final = "ERROR"
"""The daemon failed or did not answer in time, the channel is not a softphone's, or Asterisk
did not confirm the channel the request names (or could not be asked)."""
INVALID_DISPOSITION: Final = "INVALID_DISPOSITION"
"""*15 followed by a digit with no disposition configured ([dispositions] codes): nothing set."""
NO_RECENT_CALL: Final = "NO_RECENT_CALL"
"""*15<digit>: the call-taker answered no call within the last hour: nothing set."""
UNKNOWN_CALL: Final = "UNKNOWN_CALL"
"""*15<digit>: the call-taker's last call is no longer in the journal: nothing set."""
DISPOSITION_VARIABLE: Final = "CALLGATE_DISPOSITION"
"""Set by *15<digit> to the disposition the digit stands for."""
CALL_VARIABLE: Final = "CALLGATE_DISPOSITION_CALL"
"""Set by *15<digit> to the call the disposition was recorded on."""


#: At most one "no softphone" warning this often (seconds); the next says how many were not.
NOT_SOFTPHONE_WARNINGS: Final = 10.0

_CHANNEL: Final = re.compile(r"^(?P<endpoint>[A-Za-z0-9_]+/[^/]+)-[0-9a-f]+$")


def endpoint_of(channel: str) -> str | None:
    """``PJSIP/1005-0000001a`` -> ``PJSIP/1005``; None for channels that are no softphone's."""
    match = _CHANNEL.match(channel)
    if match is None or channel.startswith(("Local/", "Message/")):
        return None
    return match.group("endpoint")


def agent_code_handlers(
    control: AgentControl,
    *,
    channels: ChannelCheck,
    pause_reasons: Mapping[str, str] = DEFAULT_PAUSE_REASONS,
    default_pause_reason: str = "unspecified",
    prompts: CallTakerPrompts | None = None,
    control_timeout: float = 5.0,
    reason_timeout_ms: int = 4000,
    dispositions: DispositionControl | None = None,
) -> dict[str, Handler]:
    """FastAGI routes for the feature codes: ``agent/login``, ``agent/logout``, ``agent/pause``,
    ``agent/unpause`` and, with ``dispositions``, ``agent/disposition``.

    ``agent/pause`` takes the reason digit from the AGI() argument (``*13X`` in the dialplan) or,
    with no argument, asks for one digit (``*13``); no digit keyed pauses with
    ``default_pause_reason``. ``agent/disposition`` (``*15X``, or ``*15`` then a digit when
    asked) records the disposition the digit stands for on the call-taker's last answered call.
    ``prompts`` (``[calltakers.prompts]``) say what the call-taker hears. ``channels`` confirms
    with Asterisk that the channel a request names is real before any state changes.
    """
    say = prompts or CallTakerPrompts()
    # A request with the secret can still name a made-up channel (a leaked secret, a fault in
    # the dialplan): one line per kind per NOT_SOFTPHONE_WARNINGS seconds, not one per
    # connection (found by the lab fault suite: 100 lines from one burst of bad clients).
    suspicious = LogThrottle(NOT_SOFTPHONE_WARNINGS)

    def warn(message: str, kind: str, context: dict[str, str]) -> None:
        held_back = suspicious.admit(kind)
        if held_back is not None:
            log.warning(
                message, extra=context | {"not_logged": str(held_back)} if held_back else context
            )

    async def confirmed(session: AgiSession, context: dict[str, str]) -> bool:
        """Whether Asterisk has the channel the request names, under its unique id."""
        request = session.request
        try:
            # The check bounds its own time; this bounds one that does not keep its word.
            async with asyncio.timeout(control_timeout):
                exists = await channels.channel_exists(request.uniqueid, request.channel)
        except TimeoutError:
            exists = None
        except Exception:
            # A bug in the check must not let the state change either.
            log.exception("channel check failed", extra=context)
            exists = None
        if exists is None:
            # Refused, not trusted, when Asterisk cannot be asked: callgate could not tell a
            # forged request from a real one, and an ARI outage must not become a window in
            # which the secret alone moves call-takers. It costs little: while ARI is down,
            # callgate routes no 112 call (the dialplan's fallback queue rings its own
            # members), the call-taker hears the error prompt and can dial again in a moment,
            # and a supervisor can still change their state from the admin API.
            warn("agent code refused: Asterisk could not confirm the channel", "no ARI", context)
            return False
        if not exists:
            # A channel Asterisk does not have, has by another name, or has elsewhere in the
            # dialplan: a forged request (a real one is always on a live channel, the one that
            # dialled the code, running AGI() at [callgate-agents] agent-code).
            warn(
                "agent code refused: no such channel in Asterisk at the feature codes",
                "unknown channel",
                context,
            )
            return False
        return True

    async def digit_of(session: AgiSession) -> str:
        """The digit from the AGI() argument (``*13X``, ``*15X``), or keyed when asked."""
        if session.request.args and session.request.args[0]:
            return session.request.args[0]
        return await session.get_data(sound_file(say.ask_digit), reason_timeout_ms, 1)

    async def ask(
        session: AgiSession, context: dict[str, str], call: Callable[[str], Awaitable[_R]]
    ) -> tuple[str, _R] | None:
        """``call`` the daemon for the softphone's endpoint, bounded; None (and the error
        answered to the phone) if the channel is no softphone's, Asterisk does not confirm it,
        or the daemon failed."""
        endpoint = endpoint_of(session.request.channel)
        if endpoint is None:
            warn("agent code from a channel that is no softphone", "not a softphone", context)
            await _answer(session, ERROR, say.error)
            return None
        if not await confirmed(session, context):
            await _answer(session, ERROR, say.error)
            return None
        try:
            async with asyncio.timeout(control_timeout):
                return endpoint, await call(endpoint)
        except Exception:
            # The call-taker must hear that it did not work, so this is not re-raised.
            log.exception("agent code failed in the daemon", extra=context)
            await _answer(session, ERROR, say.error)
            return None

    async def run(
        session: AgiSession,
        action: str,
        call: Callable[[str], Awaitable[AgentCommandResult]],
        ok_prompt: str,
        already_prompt: str,
    ) -> None:
        context = session.request.log_context | {"code": action}
        asked = await ask(session, context, call)
        if asked is None:
            return
        endpoint, result = asked
        log.info("agent code", extra=context | {"endpoint": endpoint, "result": result.value})
        prompt = {
            AgentCommandResult.OK: ok_prompt,
            AgentCommandResult.ALREADY: already_prompt,
            AgentCommandResult.REFUSED: say.refused,
        }[result]
        await _answer(session, result.value, prompt)

    async def login(session: AgiSession) -> None:
        await run(session, "login", control.login, say.login_ok, say.already_logged_in)

    async def logout(session: AgiSession) -> None:
        await run(session, "logout", control.logout, say.logout_ok, say.logout_ok)

    async def pause(session: AgiSession) -> None:
        digit = await digit_of(session)
        reason = pause_reasons.get(digit) if digit else default_pause_reason
        if reason is None:
            log.info(
                "agent code with an unknown pause reason",
                extra=session.request.log_context | {"code": "pause", "digit": digit[:8]},
            )
            await _answer(session, INVALID_REASON, say.invalid_digit)
            return
        await session.set_variable(REASON_VARIABLE, reason)

        async def pause_for(endpoint: str) -> AgentCommandResult:
            return await control.pause(endpoint, reason)

        await run(session, "pause", pause_for, say.paused, say.paused)

    async def unpause(session: AgiSession) -> None:
        await run(session, "unpause", control.unpause, say.unpaused, say.unpaused)

    async def disposition(session: AgiSession) -> None:
        assert dispositions is not None
        context = session.request.log_context | {"code": "disposition"}
        digit = await digit_of(session)
        chosen = dispositions.for_digit(digit) if digit else None
        if chosen is None:
            log.info("agent code with an unknown disposition", extra=context | {"digit": digit[:8]})
            await _answer(session, INVALID_DISPOSITION, say.invalid_digit)
            return

        async def set_for(endpoint: str) -> DispositionResultLike:
            await session.set_variable(DISPOSITION_VARIABLE, chosen)
            return await dispositions.set_for_last_call(
                agent_id_of(endpoint), chosen, source="feature-code"
            )

        asked = await ask(session, context, set_for)
        if asked is None:
            return
        endpoint, result = asked
        if result.call_id:
            await session.set_variable(CALL_VARIABLE, result.call_id)
        value = str(result.outcome).upper().replace("-", "_")
        log.info(
            "agent code",
            extra=context | {"endpoint": endpoint, "result": value, "call_id": result.call_id},
        )
        ok = value == AgentCommandResult.OK
        await _answer(session, value, say.disposition_ok if ok else say.disposition_failed)

    handlers: dict[str, Handler] = {
        "agent/login": login,
        "agent/logout": logout,
        "agent/pause": pause,
        "agent/unpause": unpause,
    }
    if dispositions is not None:
        handlers["agent/disposition"] = disposition
    return handlers


async def _answer(session: AgiSession, result: str, prompt: str) -> None:
    # The variable first: it is what the dialplan checks, even if the call-taker hangs up
    # during the prompt.
    await session.set_variable(RESULT_VARIABLE, result)
    await session.stream_file(sound_file(prompt))
