"""Reloading the configuration while calls go on: ``callgate reload``, SIGHUP, ``ExecReload=``.

The daemon reads the file it started with (and the environment) again and checks it exactly as
at start (:func:`read_config`). A bad file is refused: one ERROR names the key, the running
configuration stays, and nothing changes. Otherwise what can change live is applied, one INFO
line per changed section, and the keys that need a restart (connections, ports, the database,
the spool, ...) are named in one WARNING and keep their running value until the next start.

What changes live (:data:`LIVE`):

- the ACD, through the core's ``ConfigChanged`` (decisions from now on; calls in progress keep
  what they had): call-takers added and removed, ring timeout, wrap-up, missed rings in a row,
  ``[acd]``, ``[roster]``, screening thresholds, silent callers, callback timing, queue
  announcements. A removed call-taker is logged out after their current call; an added one is
  logged in as at start (``logged_in_at_start``, and only if the roster has them on now), and
  their phone is followed over ARI and AMI on the connections that run;
- what is read per call or per request: prompts, greeting, music on hold, agencies, the
  callback dial string, disposition digits, pause reasons, blocking;
- ``[auth]``: users, roles, tokens and ``local_users``; a credential accepted before stops
  working at once for a user removed or changed (a rotated token), whose browser sessions end;
- ``[log] level`` (when it changed in the file: a level set with ``callgate log-level`` stays
  otherwise).

One reload runs at a time: a second one (another SIGHUP, an API request) waits for the first to
end, then reads the file again, so the file as last written is what runs. Parsing is quick and
nothing here checks a password hash, so the event loop is never held up for long; following a
new call-taker's phone waits for ARI at most ``[ari] setup_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from pydantic import BaseModel

from callgate import logs
from callgate.asterisk.ami.messages import DeviceStatus
from callgate.auth import Authenticator
from callgate.config import (
    ConfigError,
    Settings,
    acd_config,
    load_settings,
    refuse_outside_lab,
    screening_policy,
)
from callgate.core.agents import DeviceState
from callgate.core.config import AcdConfig
from callgate.core.errors import AcdConfigError
from callgate.core.events import AgentLoggedIn, ConfigChanged
from callgate.daemon.calltakers import CallTakerControl, PhoneRegistrations
from callgate.daemon.engine import Engine
from callgate.daemon.metrics import Metrics
from callgate.daemon.systemd import Notifier
from callgate.http.session_store import SessionStore
from callgate.ports import agent_id_of

log = logging.getLogger(__name__)

#: The keys a reload applies while calls go on: the longest entry a key begins with decides
#: (``screening`` is live, ``screening.enabled`` is not). Any other key waits for a restart.
LIVE: Final[Mapping[str, bool]] = {
    "calltakers": True,
    "acd": True,
    "roster": True,
    # The centre's one zone ([centre] timezone, which the roster's follows) waits for a restart:
    # today's figures were read from the journal for the day it names.
    "roster.timezone": False,
    "wallboard": True,
    "call.greeting": True,
    "call.moh_class": True,
    "screening": True,
    # The callers' history is loaded by a part the daemon sets up at start, or not at all.
    "screening.enabled": False,
    "dispositions": True,
    "callbacks": True,
    # The worklist's records (journal, spool) are set up at start, or not at all.
    "callbacks.enabled": False,
    "announcements": True,
    "agencies": True,
    "agi.pause_reasons": True,
    "agi.default_pause_reason": True,
    "auth": True,
    "log": True,
}


def is_live(key: str) -> bool:
    """Whether a reload applies ``key`` (dotted, e.g. ``ari.url``) without a restart."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        found = LIVE.get(".".join(parts[:end]))
        if found is not None:
            return found
    return False


def read_config(path: str | Path | None) -> Settings:
    """The configuration in ``path`` (None: the environment only), checked as at start: the
    file, the published lab secrets, the core's and screening's own checks. Raises
    :class:`ConfigError`, whose message names the key."""
    settings = load_settings(path)
    refuse_outside_lab(settings)  # outside the lab (lab = true): no lab secret, a safe broker
    try:
        acd_config(settings)  # the core's own checks
    except AcdConfigError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    screening_policy(settings)
    return settings


def leaves(model: BaseModel, prefix: str = "") -> dict[str, Any]:
    """Every setting of ``model`` by its dotted key (a list or table is one setting)."""
    found: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found.update(leaves(value, f"{prefix}{name}."))
        else:
            found[f"{prefix}{name}"] = value
    return found


def changed_keys(running: Settings, new: Settings) -> list[str]:
    """The dotted keys whose values differ (secrets compared, never shown)."""
    before, after = leaves(running), leaves(new)
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _with(model: BaseModel, key: str, value: object) -> BaseModel:
    head, _, rest = key.partition(".")
    if rest:
        value = _with(getattr(model, head), rest, value)
    return model.model_copy(update={head: value})


def keep(new: Settings, running: Settings, keys: list[str]) -> Settings:
    """``new`` with ``keys`` as they run: what the daemon follows until its restart."""
    kept: BaseModel = new
    values = leaves(running)
    for key in keys:
        kept = _with(kept, key, values[key])
    assert isinstance(kept, Settings)
    return kept


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: the sections it applied and the keys that wait for a restart, or
    why it was refused (then nothing changed)."""

    applied: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, object]:
        """The admin API's answer (``POST /api/reload``)."""
        answer: dict[str, object] = {
            "result": "ok" if self.ok else "refused",
            "applied": list(self.applied),
            "restart_needed": list(self.restart_needed),
        }
        if self.error is not None:
            answer["error"] = self.error
        return answer


class Reconfigurable(Protocol):
    """A part that takes live changes: a reload hands it the new settings, the one way every
    part hears of them."""

    def reconfigure(self, settings: Settings) -> None:
        """Read what this part reads per call or per request from ``settings`` from now on."""
        ...


@dataclass(frozen=True)
class OnReload:
    """A part whose reconfiguring is a call the composition root writes (the FastAGI routes)."""

    apply: Callable[[Settings], None]

    def reconfigure(self, settings: Settings) -> None:
        self.apply(settings)


class CallTakerPhones(Reconfigurable, Protocol):
    """The ARI adapter as a reload needs it (prompts, ... read per call: ``reconfigure``)."""

    async def follow_calltakers(self, endpoints: Mapping[str, str]) -> Mapping[str, DeviceState]:
        """Follow the phones of ``endpoints`` (id -> endpoint); the new ones' states."""
        ...


@dataclass(frozen=True)
class LiveParts:
    """The parts of the running daemon a reload changes (the composition root gives them)."""

    engine: Engine
    phones: CallTakerPhones
    authenticator: Authenticator
    sessions: SessionStore
    control: CallTakerControl
    callback_prefix: str = "cb-"
    """The run's callback task id prefix (ids must never repeat, so a reload keeps it)."""
    registrations: PhoneRegistrations | None = None
    device_status: Callable[[str], DeviceStatus | None] = lambda endpoint: None
    """What AMI last said of a phone (``AmiClient.status``)."""
    live: tuple[Reconfigurable, ...] = ()
    """The parts besides ``phones`` that read settings per call or per request, reconfigured
    in this order (the feature codes' routes, dispositions, blocks, the callers' history, the
    admin view)."""
    metrics: Metrics | None = None
    set_log_level: Callable[[str], None] = logs.set_level
    notifier: Notifier | None = None
    ready: Callable[[], bool] = lambda: True
    """Whether systemd was told READY (only then is it told of a reload)."""


@dataclass
class Reloader:
    """Reloads the configuration of the daemon that runs ``running``, read from ``path``."""

    path: str | Path | None
    running: Settings
    parts: LiveParts
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _tasks: set[asyncio.Task[ReloadOutcome]] = field(default_factory=set)

    def on_signal(self) -> None:
        """SIGHUP: reload in the background (a signal handler must not wait)."""
        task = asyncio.create_task(self.reload("SIGHUP"), name="reload")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[ReloadOutcome]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("configuration reload failed", exc_info=task.exception())

    async def reload(self, by: str) -> ReloadOutcome:
        """Read the file again and apply what can change live; ``by`` is who asked (a user of
        the admin API, or ``SIGHUP``). Waits for a reload already running."""
        async with self._lock:
            notifier = self.parts.notifier if self.parts.ready() else None
            if notifier is not None:
                notifier.reloading()
            try:
                return await self._reload(by)
            finally:
                if notifier is not None:
                    notifier.ready("taking calls; configuration reloaded")

    async def _reload(self, by: str) -> ReloadOutcome:
        where = str(self.path) if self.path is not None else "the environment"
        try:
            new = read_config(self.path)
            changed = changed_keys(self.running, new)
            restart = [k for k in changed if not is_live(k)]
            effective = keep(new, self.running, restart)
            config = acd_config(effective, callback_prefix=self.parts.callback_prefix)
        except (ConfigError, AcdConfigError) as exc:
            log.error(
                "configuration reload refused; the running configuration is kept",
                extra={"error": str(exc), "config": where, "by": by},
            )
            return ReloadOutcome(error=str(exc))
        live = [k for k in changed if k not in restart]
        await self._apply(effective, live, config)
        self.running = effective
        sections = sorted({k.partition(".")[0] for k in live})
        for section in sections:
            keys = [k for k in live if k.partition(".")[0] == section]
            log.info(
                f"configuration reloaded: [{section}] changed",
                extra={"section": section, "keys": ", ".join(keys), "by": by},
            )
        if restart:
            log.warning(
                "configuration changed, needs a restart: " + ", ".join(restart),
                extra={"keys": ", ".join(restart), "by": by},
            )
        if not changed:
            log.info("configuration reloaded: nothing changed", extra={"config": where, "by": by})
        return ReloadOutcome(tuple(sections), tuple(restart))

    async def _apply(self, settings: Settings, live: list[str], config: AcdConfig) -> None:
        parts = self.parts
        if any(k.startswith("auth.") for k in live):
            self._apply_auth(settings)
        if "log.level" in live:
            parts.set_log_level(settings.log.level)
        # What is read per call or per request.
        for part in (parts.phones, *parts.live):
            part.reconfigure(settings)
        await self._apply_calltakers(settings, config)

    def _apply_auth(self, settings: Settings) -> None:
        auth = settings.auth
        gone = self.parts.authenticator.replace(auth.users, local_users=auth.local_users)
        for name in gone:
            ended = self.parts.sessions.end_user(name)
            log.info(
                "user removed or changed by the reload; credentials checked again",
                extra={"user": name, "sessions_ended": ended},
            )

    async def _apply_calltakers(self, settings: Settings, config: AcdConfig) -> None:
        parts = self.parts
        endpoints = settings.calltakers.endpoints
        wanted = {agent_id_of(e): e for e in endpoints}
        before = dict(parts.control.endpoints)
        # The core runs the running settings' configuration (not read from the core).
        running = acd_config(self.running, callback_prefix=parts.callback_prefix)
        if config != running or wanted != before:
            # The core first: a slow ARI below must not hold up the new rules.
            removed = frozenset(a for a, e in before.items() if wanted.get(a) != e)
            await parts.engine.feed(ConfigChanged(config, removed))
        if wanted == before:
            return
        added = [a for a, e in wanted.items() if before.get(a) != e]
        log.info(
            "call-takers changed by the reload",
            extra={
                "added": ", ".join(added),
                "removed": ", ".join(sorted(before.keys() - wanted.keys())),
            },
        )
        # In place: the queue_log writer names call-takers from the same table.
        parts.control.endpoints.clear()
        parts.control.endpoints.update(wanted)
        if parts.registrations is not None:
            parts.registrations.follow(endpoints, parts.device_status)
        if parts.metrics is not None:
            parts.metrics.calltakers = tuple(wanted)
        phones = await parts.phones.follow_calltakers(wanted)
        if settings.calltakers.logged_in_at_start:
            # As at start: on their behalf, so the core logs in only those the roster has on.
            await parts.engine.feed(
                *(
                    AgentLoggedIn(
                        a,
                        wanted[a],
                        device=phones.get(a, DeviceState.UNAVAILABLE),
                        name=wanted[a],
                        rostered_only=True,
                    )
                    for a in added
                )
            )
