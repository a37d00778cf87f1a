"""Checking passwords and tokens on the admin port without letting anyone guess them, slow real
users down or lock them out: one limiter for every credential (browser log-in, Basic, Bearer).

**What costs.** Checking a credential is one argon2 hash (tens of milliseconds of CPU, on
purpose); answering from memory costs nothing. So:

- A credential accepted before (:meth:`Authenticator.remembered`) is answered at once, before
  any limit: a user whose token or password worked keeps working, whatever others do.
- Otherwise the limiter decides *before* the hash, from the failures it remembers: a peer (the
  client's address) with :data:`MAX_FAILURES_PER_PEER` failures in :data:`LOGIN_WINDOW` seconds
  is answered 429 with ``Retry-After``; so is a name with :data:`MAX_FAILURES_PER_NAME`
  failures, but only for peers that failed themselves in the window: whoever guesses a user's
  password from elsewhere does not lock that user out, and a guesser with many addresses gets
  one try per fresh address. Checks in progress count as failures until they end, so a burst of
  concurrent guesses cannot slip past the count.
- At most :data:`MAX_CHECKS_PER_PEER` check of one peer, and :data:`MAX_PENDING_CHECKS` in all,
  run or wait at once (``Authenticator`` runs two at a time); beyond them the answer is at once
  (429 for the peer, 503 for all), never a queue that grows. A peer without a failure in the
  window (a real user, mostly) may go :data:`RESERVED_CHECKS` past that, and its check runs
  before any of a peer that failed: a flood from many addresses, each failing, delays a real
  user's check by one running check at most. The same credential sent again while it is being
  checked waits for that check: no second hash, not counted.
- Every check costs the same: a name that is no user is checked against a dummy hash.

Malformed credentials (not base64, no colon, a token without a name) are 401 without a check and
are not counted: they cost nothing and guess nothing.

**The peer.** The port listens on loopback, so its peers are local processes: a browser on this
host, the ``callgate`` commands, and the TLS reverse proxy, which passes the browser's address as
``X-Real-IP``. That header is believed only from an address of ``[ops] trusted_proxies`` (none by
default): any local process could send it, and a made-up address per request would escape the
per-peer limit. On the admin socket the peer is the connecting Unix user.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import logging
import math
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from callgate.auth import Authenticator, Identity, SecretKind, split_token
from callgate.http.local import peer_of
from callgate.logs import LogThrottle, clip

log = logging.getLogger(__name__)

#: Failed credentials allowed per user name and per peer within LOGIN_WINDOW seconds. The peer
#: allows more: several people may share one address (an office's NAT, a shared workstation).
LOGIN_WINDOW: Final = 60.0
MAX_FAILURES_PER_NAME: Final = 5
MAX_FAILURES_PER_PEER: Final = 10
#: Hash checks one peer may have running or waiting at once, and all peers together.
#: One per peer: a flood from one address has one hash running, beside a real user's (the
#: authenticator runs two at a time), not ahead of it. The same credential sent twice at once
#: (a script's first requests with a new token) is one check, which both wait for.
MAX_CHECKS_PER_PEER: Final = 1
MAX_PENDING_CHECKS: Final = 8
#: More checks for peers that did not fail in the window, which also run first.
RESERVED_CHECKS: Final = 4
#: Names and peers whose failures are remembered at most (a flood of made-up names must not
#: grow memory without end); past it the least recently failed is forgotten.
MAX_TRACKED: Final = 10_000
#: Longest name kept as a key (user names are at most 64 characters: auth.NAME_PATTERN).
MAX_NAME: Final = 64

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Refusal:
    """A credential not checked: answer ``status`` (429 or 503) with ``Retry-After``."""

    status: int
    retry_after: int
    why: str
    """A fixed label for the log: ``peer``, ``name``, ``peer-busy`` or ``busy``."""


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


class CredentialLimiter:
    """Failures per user name and per peer in a sliding window, and the checks in progress;
    pure apart from the ``now`` its callers pass (monotonic seconds)."""

    def __init__(
        self,
        *,
        window: float = LOGIN_WINDOW,
        per_name: int = MAX_FAILURES_PER_NAME,
        per_peer: int = MAX_FAILURES_PER_PEER,
        checks_per_peer: int = MAX_CHECKS_PER_PEER,
        max_pending: int = MAX_PENDING_CHECKS,
        reserved: int = RESERVED_CHECKS,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.window = window
        self._limits = {"name": per_name, "peer": per_peer}
        self.checks_per_peer = checks_per_peer
        self.max_pending = max_pending
        self.reserved = reserved
        self.max_tracked = max_tracked
        # (kind, value) -> times of its latest failures, at most its limit of them.
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._pending: Counter[str] = Counter()

    @property
    def pending(self) -> int:
        """Checks in progress (running or waiting for a worker)."""
        return self._pending.total()

    def _recent(self, kind: str, value: str, now: float) -> deque[float]:
        times = self._failures.get((kind, value))
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def failed_lately(self, peer: str, now: float) -> bool:
        """``peer`` failed within the window: its checks wait behind the others'."""
        return bool(self._recent("peer", peer, now))

    def refusal(self, name: str, peer: str, now: float) -> Refusal | None:
        """Why a credential of ``name`` from ``peer`` must not be checked now, or None."""
        mine = self._recent("peer", peer, now)
        if len(mine) >= self._limits["peer"]:
            return Refusal(429, _seconds(mine[0] + self.window - now), "peer")
        checking = self._pending[peer]
        if checking >= self.checks_per_peer or len(mine) + checking >= self._limits["peer"]:
            return Refusal(429, 1, "peer-busy")
        named = self._recent("name", name, now)
        if mine and len(named) >= self._limits["name"]:
            # Only a peer that failed waits: for the name's window, or its own failures' end.
            wait = min(named[0], mine[-1]) + self.window - now
            return Refusal(429, _seconds(wait), "name")
        if self.pending >= self.max_pending + (0 if mine else self.reserved):
            return Refusal(503, 1, "busy")
        return None

    def begin(self, peer: str) -> None:
        """A check of ``peer``'s begins (after :meth:`refusal` said None)."""
        self._pending[peer] += 1

    def end(self, name: str, peer: str, ok: bool, now: float) -> None:
        """``peer``'s check of ``name`` ended: right (``ok``) or a failure. A right one resets
        nothing: the name's failures still stop the peers that made them (the user, who now
        is remembered, no longer needs a check), and a guesser gains no fresh tries from it."""
        self._pending[peer] -= 1
        if self._pending[peer] <= 0:
            del self._pending[peer]
        if not ok:
            self.failed(name, peer, now)

    def failed(self, name: str, peer: str, now: float) -> None:
        for kind, value in (("name", name), ("peer", peer)):
            times = self._failures.pop((kind, value), None)
            if times is None:
                times = deque(maxlen=self._limits[kind])
            times.append(now)
            self._failures[kind, value] = times  # now the most recent
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)


def trusted_networks(proxies: Iterable[str]) -> tuple[IpNetwork, ...]:
    """``[ops] trusted_proxies`` as networks (an address is a network of one)."""
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def peer_address(request: web.Request, trusted: Iterable[IpNetwork] = ()) -> str:
    """Who the limiter counts a request against: on the admin socket the Unix user; on TCP the
    connecting address, or the ``X-Real-IP`` it passes when it is a trusted proxy."""
    unix = peer_of(request)
    if unix is not None:
        return f"uid:{unix.uid}"
    remote = request.remote or "unknown"
    connected = _address(remote)
    if connected is not None and any(connected in net for net in trusted):
        forwarded = _address(request.headers.get("X-Real-IP", ""))
        if forwarded is not None:
            return str(forwarded)
    return clip(remote, 64)


class CredentialGate:
    """Every password and token the admin port checks goes through here (module docstring).

    ``clock`` gives monotonic seconds (the limiter's window is a duration).
    """

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        trusted_proxies: Iterable[str] = (),
        limiter: CredentialLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.authenticator = authenticator
        self.trusted = trusted_networks(trusted_proxies)
        self.limiter = limiter if limiter is not None else CredentialLimiter()
        self._clock = clock
        self._throttle = LogThrottle(60.0, clock)
        # Checks in progress by credential (a keyed digest): the same one sent meanwhile waits
        # for it. They also outlive a request the client gave up, holding their place.
        self._checks: dict[bytes, asyncio.Future[Identity | None]] = {}
        # Checks running (at most the authenticator's), and those waiting for their turn: of
        # peers that did not fail lately (True) first.
        self._running = 0
        self._turns: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}

    def peer(self, request: web.Request) -> str:
        return peer_address(request, self.trusted)

    async def check(
        self, kind: SecretKind, name: str, secret: str, peer: str
    ) -> Identity | Refusal | None:
        """The user, a refusal (not checked), or None (wrong, or no such user: one check)."""
        known = self.authenticator.remembered(kind, name, secret)
        if known is not None:
            return known
        digest = self.authenticator.digest(kind, name, secret)
        same = self._checks.get(digest)
        if same is not None:
            return await asyncio.shield(same)
        key, now = clip(name, MAX_NAME), self._clock()
        refusal = self.limiter.refusal(key, peer, now)
        if refusal is not None:
            return refusal
        self.limiter.begin(peer)
        first = not self.limiter.failed_lately(peer, now)
        check = asyncio.ensure_future(self._verify(kind, name, secret, first))
        self._checks[digest] = check

        def ended(done: asyncio.Future[Identity | None]) -> None:
            del self._checks[digest]
            ok = not done.cancelled() and done.exception() is None and done.result() is not None
            self.limiter.end(key, peer, ok, self._clock())

        check.add_done_callback(ended)
        # Shielded: a client that hangs up does not free the place of a hash still computing.
        return await asyncio.shield(check)

    async def _verify(
        self, kind: SecretKind, name: str, secret: str, first: bool
    ) -> Identity | None:
        """The authenticator's check, when its turn comes (``first``: before the others)."""
        if self._running < self.authenticator.concurrent_checks:
            self._running += 1
        else:
            turn = asyncio.get_running_loop().create_future()
            self._turns[first].append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._next()  # handed a place it will not use: pass it on
                raise
        try:
            return await self.authenticator.verify(kind, name, secret)
        finally:
            self._next()

    def _next(self) -> None:
        """A check ended: its place goes to the next waiting, else is free."""
        for turns in (self._turns[True], self._turns[False]):
            while turns:
                turn = turns.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._running -= 1

    def refused(self, refusal: Refusal, peer: str, name: str) -> web.HTTPException:
        """The answer to a refused credential (one log line a minute for all of them)."""
        held_back = self._throttle.admit("refused")
        if held_back is not None:
            log.warning(
                "admin API: credential not checked, too many failures or checks",
                extra={
                    "why": refusal.why,
                    "user": clip(name, MAX_NAME),
                    "client": peer,
                    "similar_not_logged": held_back,
                },
            )
        headers = {"Retry-After": str(refusal.retry_after)}
        if refusal.status == 503:
            return web.HTTPServiceUnavailable(
                reason="too many credentials being checked; try again shortly", headers=headers
            )
        if refusal.why == "peer-busy":
            reason = "another credential from this address is being checked; try again shortly"
        else:
            reason = "too many failed log-ins or credentials; try again later"
        return web.HTTPTooManyRequests(reason=reason, headers=headers)

    async def authorization(self, request: web.Request, header: str) -> Identity | None:
        """The user an ``Authorization`` header (Bearer or Basic) names, or None (never says
        why: no oracle); a refused one raises 429 or 503 with ``Retry-After``."""
        scheme, _, credential = header.partition(" ")
        scheme, credential = scheme.lower(), credential.strip()
        parsed = _credential(scheme, credential)
        peer = self.peer(request)
        result: Identity | Refusal | None = None
        if parsed is not None:
            result = await self.check(*parsed, peer)
        if isinstance(result, Refusal):
            assert parsed is not None
            raise self.refused(result, peer, parsed[1])
        if result is None:
            # Never the header itself: it holds the secret.
            held_back = self._throttle.admit("failed")
            if held_back is not None:
                log.warning(
                    "admin API: authentication failed",
                    extra={
                        "scheme": clip(scheme, 16),
                        "user": None if parsed is None else clip(parsed[1], MAX_NAME),
                        "client": peer,
                        "path": clip(request.path),
                        "similar_not_logged": held_back,
                    },
                )
        return result


def _credential(scheme: str, credential: str) -> tuple[SecretKind, str, str] | None:
    """``(kind, name, secret)`` of a Bearer or Basic credential, or None when malformed."""
    if scheme == "bearer" and credential:
        parts = split_token(credential)
        return None if parts is None else ("token", *parts)
    if scheme == "basic" and credential:
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, colon, password = decoded.partition(":")
        return ("password", name, password) if colon else None
    return None
