"""Who may do what: the users of ``[auth]``, their roles, and checking their secrets.

A neutral floor beside :mod:`callgate.ports`: the admin HTTP port, the MQTT command inbox and
the daemon all use it without importing each other, and :mod:`callgate.config` reads the
``[auth]`` section from here (so this module imports only pydantic and the standard library at
import time; argon2 is loaded the first time a secret is hashed or checked).

Roles:

- ``call-taker``: their own state (log in and out, pause, unpause) and their own calls'
  dispositions; ``agent_id`` says which call-taker they are;
- ``supervisor``: any call-taker's state, any call's disposition, blocks and unblocks,
  callbacks, and the reads that show callers' numbers;
- ``admin``: everything, including the log level and reloading the configuration;
- ``cad``: a CAD system on MQTT; only the commands listed in its ``commands``. Its ``name`` is
  its MQTT user name (the broker's ACL makes it the only one who may publish under
  ``.../commands/<name>/``). With a token it may fetch recordings over the admin API (the URL of
  its ``recording-ready`` events), nothing else there.

Secrets are stored as argon2id hashes (argon2-cffi), never in clear. A password is checked with
HTTP Basic; a token (for programs: the CLI, scripts, a wallboard) is sent as ``Authorization:
Bearer <token>``. A token reads ``<user name>.<random part>``: the name says whose hash to check
it against, so one check per request, not one per user. Checking an argon2 hash costs tens of
milliseconds of CPU, so :class:`Authenticator` does it in a worker thread and remembers a
credential it has accepted (by a keyed digest, in memory only) until the daemon restarts or a
reload of ``[auth]`` changes that user (:meth:`Authenticator.replace`).

A name that is no user (or a user without that kind of secret) costs one argon2 check too,
against a fixed dummy hash with the configured users' parameters: how long a wrong answer takes
does not tell which names exist. How many checks may run or wait, and who may try again after
failing, is the admin port's business (:mod:`callgate.http.guessing`).

The local ``callgate`` CLI needs no secret: on the admin socket (``[ops] socket_path``) the
kernel tells who connected (the peer's Unix user), and ``[auth] local_users`` maps Unix user
names to users of ``[[auth.users]]``. Only an explicit entry maps: a Unix user, root included,
that is not listed is nobody (401), whatever its name.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The MQTT commands a CAD client may be granted (``callgate.mqtt.schema``'s command names).
CAD_COMMANDS: Final = (
    "set-disposition",
    "request-callback",
    "attach-incident",
    "block",
    "unblock",
)
#: User names: what the audit trail records as ``by`` (at most ``ports.MAX_BY`` characters).
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_@-]{0,63}$"
#: Unix user names in ``local_users`` (what useradd accepts, at most 32 characters).
UNIX_NAME_PATTERN: Final = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$"
UnixName = Annotated[str, Field(pattern=UNIX_NAME_PATTERN)]
UserName = Annotated[str, Field(pattern=NAME_PATTERN)]
#: Random bytes in a new token (256 bits).
TOKEN_BYTES: Final = 32
#: The two kinds of secret a user may have.
SecretKind = Literal["password", "token"]
#: An encoded argon2 hash: its parameters (kept) and its salt and digest (base64, unpadded).
_ARGON2 = re.compile(
    r"^(\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$"
)
#: argon2-cffi's default parameters (what ``callgate auth hash`` and ``token`` use): the dummy
#: hash's when no user has a hash to copy them from.
DEFAULT_ARGON2: Final = "$argon2id$v=19$m=65536,t=3,p=4"


class Role(StrEnum):
    CALL_TAKER = "call-taker"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    CAD = "cad"
    DISPLAY = "display"
    """A wall screen: a device token (``callgate users display``), never a user of ``[auth]``;
    it reads the board and changes nothing (:data:`callgate.http.server.DISPLAY_ROUTES`)."""


class Permission(StrEnum):
    """Something a request asks to do; :data:`GRANTS` says which role may."""

    VIEW_AGENTS = "view-agents"
    """List call-takers and their states (no callers' numbers)."""
    VIEW_CALLS = "view-calls"
    """Calls now and recent ones, with the callers' numbers; the block list."""
    OWN_STATE = "own-state"
    """Log oneself in or out, pause or unpause oneself (a call-taker's ``agent_id``)."""
    ANY_STATE = "any-state"
    """The same for any call-taker."""
    OWN_DISPOSITION = "own-disposition"
    """Classify a call one answered."""
    ANY_DISPOSITION = "any-disposition"
    """Classify any call."""
    BLOCK = "block"
    """Block and unblock callers."""
    CALLBACK = "callback"
    """Ask for a caller to be called back."""
    LOG_LEVEL = "log-level"
    """Change the running daemon's log level."""
    RELOAD = "reload"
    """Reload the daemon's configuration file."""
    SUPERVISE = "supervise"
    """Listen to, whisper to or barge into a conversation on one's own phone; give a waiting
    caller to a chosen call-taker (the wallboard's supervisor tools)."""
    DISPLAYS = "displays"
    """Create, list and revoke the wall screens' device tokens."""
    VIEW_REPORTS = "view-reports"
    """Read the managers' reports (a day, a shift, a month, a call-taker) from the journal."""


_CALL_TAKER = frozenset({Permission.VIEW_AGENTS, Permission.OWN_STATE, Permission.OWN_DISPOSITION})
_SUPERVISOR = _CALL_TAKER | {
    Permission.VIEW_CALLS,
    Permission.ANY_STATE,
    Permission.ANY_DISPOSITION,
    Permission.BLOCK,
    Permission.CALLBACK,
    Permission.SUPERVISE,
    Permission.VIEW_REPORTS,
}
#: Each role's permissions, as data: the one place that says who may do what on the admin API.
#: CAD's rights are per client (its ``commands``), on MQTT only.
GRANTS: Final[Mapping[Role, frozenset[Permission]]] = {
    Role.CALL_TAKER: _CALL_TAKER,
    Role.SUPERVISOR: _SUPERVISOR,
    Role.ADMIN: frozenset(Permission),
    Role.CAD: frozenset(),
    # The board as a supervisor sees it, read-only: the port also holds it to a few GET routes.
    Role.DISPLAY: frozenset({Permission.VIEW_AGENTS, Permission.VIEW_CALLS}),
}


@dataclass(frozen=True)
class Identity:
    """Who an authenticated request comes from. ``name`` is what the audit trail records."""

    name: str
    role: Role
    agent_id: str | None = None
    """The call-taker this user is (role ``call-taker``)."""
    commands: frozenset[str] = field(default_factory=frozenset)
    """The MQTT commands a CAD client may send (role ``cad``)."""
    phone: str | None = None
    """A supervisor's or admin's own phone (a dial string): where listening rings."""

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def may_act_for(self, agent_id: str) -> bool:
        """May change call-taker ``agent_id``'s state."""
        if self.may(Permission.ANY_STATE):
            return True
        return self.may(Permission.OWN_STATE) and self.agent_id == agent_id

    def may_send(self, command: str) -> bool:
        """A CAD client may send MQTT ``command``."""
        return self.role is Role.CAD and command in self.commands


# -- the [auth] section -------------------------------------------------------------------


class UserSettings(BaseModel):
    """One ``[[auth.users]]`` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    """The user's name, recorded as ``by`` in the audit trail (a CAD client: its MQTT user)."""
    role: Role
    """``call-taker``, ``supervisor``, ``admin`` or ``cad``."""
    agent_id: str | None = None
    """Call-takers only: which call-taker they are (the endpoint's number, e.g. ``1001``)."""
    password_hash: str | None = None
    """argon2 hash of the password for HTTP Basic (``callgate auth hash`` prints one)."""
    token_hash: str | None = None
    """argon2 hash of the random part of the user's token (``callgate auth token NAME``)."""
    commands: list[Annotated[str, Field(pattern="|".join(f"^{c}$" for c in CAD_COMMANDS))]] = Field(
        default_factory=list
    )
    """CAD only: the MQTT commands this client may send (``set-disposition``,
    ``request-callback``, ``attach-incident``, ``block``, ``unblock``)."""
    phone: Annotated[str, Field(pattern=r"^[A-Za-z0-9_/@.:+-]{1,80}$")] | None = None
    """Supervisors and admins: their own phone, as Asterisk dials it (``PJSIP/2001``), which
    rings when they listen to, whisper to or barge into a conversation from the wallboard."""

    @model_validator(mode="after")
    def _consistent(self) -> UserSettings:
        for key in ("password_hash", "token_hash"):
            value = getattr(self, key)
            if value is not None and not value.startswith("$argon2"):
                raise ValueError(
                    f"{key} must be an argon2 hash (callgate auth hash / callgate auth token)"
                )
        if self.role is Role.DISPLAY:
            raise ValueError(
                f"{self.name}: a display is no user; make its token with callgate users display"
            )
        if self.role is Role.CALL_TAKER and not self.agent_id:
            raise ValueError(f"{self.name}: a call-taker needs agent_id")
        if self.role is not Role.CALL_TAKER and self.agent_id is not None:
            raise ValueError(f"{self.name}: only call-takers have an agent_id")
        if self.phone is not None and self.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise ValueError(f"{self.name}: only supervisors and admins have a phone")
        if self.role is not Role.CAD and self.commands:
            raise ValueError(f"{self.name}: only CAD clients have commands")
        # A CAD client's commands come over MQTT (the broker authenticates it); its token, if
        # any, only fetches the recordings its recording-ready events point to (#23).
        if self.role is Role.CAD and self.password_hash:
            raise ValueError(
                f"{self.name}: a CAD client is authenticated by the MQTT broker (and a token)"
            )
        return self

    def identity(self) -> Identity:
        return Identity(
            self.name, self.role, self.agent_id, frozenset(self.commands), phone=self.phone
        )


class AuthSettings(BaseModel):
    """``[auth]``: who may use the admin API and send CAD commands."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    users: list[UserSettings] = Field(default_factory=list)
    """The users (``[[auth.users]]``). None: every state-changing request is refused."""
    users_file: str = ""
    """A TOML file of more users (``[[users]]``, same keys) and ``local_users``, which
    ``callgate users`` writes; read at start and at every reload, added to the ones here (a name
    in both is refused). Relative: to the config file's folder. Empty: none. A file that does
    not exist yet holds no user."""
    local_users: dict[UnixName, UserName] = Field(default_factory=dict)
    """Unix user name -> user of ``[[auth.users]]``: who a process of that Unix user is on the
    admin socket (``[ops] socket_path``), without a secret. Unlisted Unix users (root too) are
    nobody there; several Unix users may map to one user, but the audit trail then cannot tell
    them apart."""

    @model_validator(mode="after")
    def _unique(self) -> AuthSettings:
        seen: dict[str, UserSettings] = {}
        for user in self.users:
            if user.name in seen:
                raise ValueError(f"user {user.name} is listed twice")
            seen[user.name] = user
        for unix_name, name in self.local_users.items():
            target = seen.get(name)
            if target is None:
                raise ValueError(f"local_users: {unix_name} = {name}: no [[auth.users]] {name}")
            if target.role is Role.CAD:
                raise ValueError(
                    f"local_users: {unix_name} = {name}: a CAD client is a user on MQTT only"
                )
        return self


class UsersFile(BaseModel):
    """The users file (``[auth] users_file``): ``[[users]]`` and ``local_users``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: list[UserSettings] = Field(default_factory=list)
    local_users: dict[UnixName, UserName] = Field(default_factory=dict)


def users_file_path(auth: AuthSettings, config_path: Path | None) -> Path | None:
    """Where ``[auth] users_file`` points (relative: to the config file's folder), or None."""
    if not auth.users_file:
        return None
    path = Path(auth.users_file)
    if not path.is_absolute() and config_path is not None:
        path = config_path.parent / path
    return path


def read_users_file(path: Path) -> UsersFile:
    """The users file at ``path`` (none when it does not exist). Raises ``ValueError`` (TOML
    syntax) or pydantic's ``ValidationError``; ``OSError`` when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UsersFile()
    return UsersFile.model_validate(tomllib.loads(text))


def with_users(auth: AuthSettings, extra: UsersFile) -> AuthSettings:
    """``auth`` with the users file's users and ``local_users`` added (checked again: a name in
    both, or a Unix user mapped by both, is refused)."""
    twice = sorted(set(auth.local_users) & set(extra.local_users))
    if twice:
        raise ValueError(f"local_users: {', '.join(twice)} mapped in both the config and the file")
    return AuthSettings(
        users=[*auth.users, *extra.users],
        users_file=auth.users_file,
        local_users={**auth.local_users, **extra.local_users},
    )


# -- secrets --------------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    """The argon2id hash of ``secret`` (argon2-cffi's current default parameters)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(secret)


def verify_secret(stored_hash: str, secret: str) -> bool:
    """Whether ``secret`` matches ``stored_hash``; False for a malformed hash too."""
    from argon2 import PasswordHasher
    from argon2.exceptions import Argon2Error, InvalidHashError

    try:
        # Bytes: a lone surrogate (JSON allows one) is checked, and fails, as any other text.
        return PasswordHasher().verify(stored_hash, secret.encode("utf-8", "surrogatepass"))
    except (Argon2Error, InvalidHashError):
        return False


def dummy_hash(hashes: Iterable[str]) -> str:
    """A hash no secret matches (all-zero salt and digest) with the parameters most of
    ``hashes`` use, so that checking a secret against it costs what checking a real user's
    does. Made by hand, not by hashing: nothing to compute, and argon2 is not imported."""
    shapes = Counter(
        (m.group(1), len(m.group(2)), len(m.group(3)))
        for m in (_ARGON2.match(h) for h in hashes)
        if m is not None
    )
    head, salt, digest = shapes.most_common(1)[0][0] if shapes else (DEFAULT_ARGON2, 22, 43)
    return f"{head}${'A' * salt}${'A' * digest}"


def new_token(name: str) -> str:
    """A new random token for user ``name``: ``<name>.<43 URL-safe characters>``."""
    return f"{name}.{secrets.token_urlsafe(TOKEN_BYTES)}"


def split_token(token: str) -> tuple[str, str] | None:
    """``(name, random part)`` of a token, or None when it is not shaped like one."""
    name, dot, rest = token.rpartition(".")
    if not dot or not name or not rest:
        return None
    return name, rest


class Authenticator:
    """Checks a user's password or token against ``[auth]``.

    ``check_*`` return the :class:`Identity`, or None for anything unknown or wrong (the caller
    answers 401 without saying which). A credential accepted once is remembered, keyed by an
    HMAC under a key made at start, so the hash is checked once per credential and run:
    :meth:`remembered` answers without a check, :meth:`verify` always makes exactly one (against
    a dummy hash for a name that is no user), which is what a limiter in front of it counts.
    """

    def __init__(
        self,
        users: Iterable[UserSettings],
        *,
        local_users: Mapping[str, str] | None = None,
        concurrent_checks: int = 2,
    ) -> None:
        self.users = {u.name: u for u in users}
        self.local_users = dict(local_users or {})
        self._key = secrets.token_bytes(32)
        self._accepted: dict[bytes, Identity] = {}
        self._dummy: str | None = None  # made when first needed, again after a reload
        # A flood of wrong credentials must not take every CPU: a few checks at a time.
        self.concurrent_checks = concurrent_checks
        self._checks = asyncio.Semaphore(concurrent_checks)

    def replace(
        self, users: Iterable[UserSettings], *, local_users: Mapping[str, str] | None = None
    ) -> list[str]:
        """Take the users of a reloaded ``[auth]``; return the names of those removed or changed
        (role, call-taker, secrets, commands), whose browser sessions should end.

        A credential accepted before is forgotten for those users: a rotated or removed token,
        a changed password, stops working at the next request. The others' stay accepted."""
        fresh = {u.name: u for u in users}
        gone = sorted(name for name, user in self.users.items() if fresh.get(name) != user)
        self.users = fresh
        self._dummy = None
        self.local_users = dict(local_users or {})
        self._accepted = {k: who for k, who in self._accepted.items() if who.name not in gone}
        return gone

    def identity(self, name: str) -> Identity | None:
        """The configured user ``name`` (a CAD client, named by the broker), or None."""
        user = self.users.get(name)
        return None if user is None else user.identity()

    def local_identity(self, unix_name: str) -> Identity | None:
        """Who a process of Unix user ``unix_name`` is on the admin socket (``local_users``),
        or None when it is not listed (a CAD client never: it is a user on MQTT only)."""
        user = self.users.get(self.local_users.get(unix_name, ""))
        if user is None or user.role is Role.CAD:
            return None
        return user.identity()

    async def check_token(self, token: str) -> Identity | None:
        """The token's user, remembered or checked (a malformed token: None, no check)."""
        parts = split_token(token)
        if parts is None:
            return None
        return self.remembered("token", *parts) or await self.verify("token", *parts)

    async def check_password(self, name: str, password: str) -> Identity | None:
        return self.remembered("password", name, password) or await self.verify(
            "password", name, password
        )

    def remembered(self, kind: SecretKind, name: str, secret: str) -> Identity | None:
        """The identity of a ``kind`` (``password`` or ``token``) credential accepted before and
        still valid, without any hash check; else None."""
        return self._accepted.get(self.digest(kind, name, secret))

    async def verify(self, kind: SecretKind, name: str, secret: str) -> Identity | None:
        """Check a ``kind`` credential of ``name`` against its argon2 hash: exactly one check,
        in a worker thread, at most ``concurrent_checks`` at a time. A name that is no user, or
        a user without that secret, is checked against the dummy hash (same cost) and fails."""
        user = self.users.get(name)
        stored = None
        if user is not None:
            stored = user.password_hash if kind == "password" else user.token_hash
        async with self._checks:
            ok = await asyncio.to_thread(verify_secret, stored or self._dummy_hash(), secret)
        if not ok or stored is None or user is None or self.users.get(name) is not user:
            return None  # wrong, or the user was removed or changed by a reload meanwhile
        identity = user.identity()
        self._accepted[self.digest(kind, name, secret)] = identity
        return identity

    def digest(self, kind: str, name: str, secret: str) -> bytes:
        """What a credential is known by in memory: an HMAC under a key made at start."""
        message = f"{kind}\0{name}\0{secret}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            hashes = [h for u in self.users.values() for h in (u.password_hash, u.token_hash)]
            self._dummy = dummy_hash(h for h in hashes if h)
        return self._dummy
