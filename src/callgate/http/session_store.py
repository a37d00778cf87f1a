"""The browser sessions held in memory, by a digest of their id, with their limits (idle,
lifetime, how many): pure, given the time; :mod:`callgate.http.sessions` keeps them in the
journal and says why."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from callgate.ports import StoredSession

#: Random bytes in a session id and in a CSRF token (256 bits).
SESSION_BYTES: Final = 32
#: Sessions kept at most, and per user; past them the least recently used one ends. A centre has
#: tens of users, each with a browser or two.
MAX_SESSIONS: Final = 1000
MAX_SESSIONS_PER_USER: Final = 16
HOUR: Final = 3600.0
#: A wall screen's session ends only when revoked, or after this long unseen (switched off).
DISPLAY_IDLE: Final = 30 * 24 * HOUR


def session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def csrf_of(session_id: str) -> str:
    """The session's CSRF token: an HMAC keyed by its id, so it is never stored, and cannot be
    told from the token without the id (the cookie, which no script reads)."""
    mac = hmac.new(session_id.encode("utf-8", "replace"), b"callgate csrf", hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def utc_at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class Session:
    """One logged-in browser. ``name`` is the user: their role is looked up on each request
    (:meth:`BrowserSessions.identity`), so a user changed or removed from ``[auth]`` when the
    configuration is reloaded is changed or logged out at once."""

    name: str
    csrf_token: str
    created: float
    last_seen: float
    display: bool = False
    """A wall screen's: ``name`` is the display's (:data:`DISPLAY_IDLE`, no lifetime)."""
    written: float = 0.0
    """The last sight written to the journal."""
    fingerprint: str = ""
    """Its user's when it started (:func:`fingerprint`)."""
    kept: bool = True
    """Its row is in the journal (False: its first write failed, the next one adds it)."""

    def stored(self, digest: str) -> StoredSession:
        created, seen = utc_at(self.created), utc_at(self.last_seen)
        return StoredSession(digest, self.name, self.display, created, seen, self.fingerprint)


class SessionStore:
    """The sessions, by a digest of their id; pure apart from the ``now`` its callers pass
    (wall-clock seconds). ``ended``, if set, hears the name of each user :meth:`end_user`
    ended the sessions of (to forget them in the journal too)."""

    def __init__(
        self,
        *,
        idle_timeout: float,
        lifetime: float,
        max_sessions: int = MAX_SESSIONS,
        max_per_user: int = MAX_SESSIONS_PER_USER,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self.max_per_user = max_per_user
        # Least recently used first: the one to end when there are too many.
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self.ended: Callable[[str], None] | None = None
        #: Digests of the sessions ended to make room, for the journal to forget too (else the
        #: next request of one would take it back from there, past the limits).
        self.evicted: list[str] = []
        self.keep_evicted = False

    def __len__(self) -> int:
        return len(self._sessions)

    def start(
        self, name: str, now: float, *, display: bool = False, fingerprint: str = ""
    ) -> tuple[str, Session]:
        """A new session for user ``name`` (a display's, with ``display``): its id (for the
        cookie only) and the session."""
        session_id = secrets.token_urlsafe(SESSION_BYTES)
        session = Session(name, csrf_of(session_id), now, now, display, now, fingerprint)
        self._add(session_digest(session_id), session, now)
        return session_id, session

    def restore(self, session_id: str, stored: StoredSession, now: float) -> Session | None:
        """The session the journal kept for ``session_id`` (the daemon restarted), now seen;
        None if it expired meanwhile."""
        created, seen = stored.created.timestamp(), stored.last_seen.timestamp()
        session = Session(
            stored.name,
            csrf_of(session_id),
            created,
            seen,
            stored.display,
            seen,
            stored.fingerprint,
        )
        if self._expired(session, now):
            return None
        session.last_seen = now
        self._add(session_digest(session_id), session, now)
        return session

    def _add(self, key: str, session: Session, now: float) -> None:
        self._drop_expired(now)
        mine = [k for k, s in self._sessions.items() if _same(s, session)]
        for k in mine[: max(0, len(mine) - self.max_per_user + 1)]:
            del self._sessions[k]
            self.evicted.append(k)
        # The pool is people's: a flood of log-ins must not switch a wall screen off (displays
        # are as many as an admin made, each at most max_per_user).
        people = [] if session.display else [k for k, s in self._sessions.items() if not s.display]
        for k in people[: max(0, len(people) - self.max_sessions + 1)]:
            del self._sessions[k]
            self.evicted.append(k)
        if not self.keep_evicted:
            self.evicted.clear()
        self._sessions[key] = session

    def get(self, session_id: str, now: float) -> Session | None:
        """The live session of ``session_id``, now seen; None if unknown, idle too long or past
        its lifetime (then it is forgotten)."""
        key = session_digest(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        if self._expired(session, now):
            del self._sessions[key]
            return None
        session.last_seen = now
        self._sessions.move_to_end(key)
        return session

    def end(self, session_id: str) -> Session | None:
        """Forget ``session_id``'s session (log-out); the session, or None if there was none."""
        return self.drop(session_digest(session_id))

    def drop(self, key: str) -> Session | None:
        """Forget the session of digest ``key`` (its row was gone from the journal)."""
        return self._sessions.pop(key, None)

    def end_user(self, name: str, *, display: bool = False) -> int:
        """End every session of user ``name`` (removed or changed in ``[auth]``), or of display
        ``name``; how many."""
        keys = [k for k, s in self._sessions.items() if s.name == name and s.display == display]
        for key in keys:
            del self._sessions[key]
        if not display and self.ended is not None:
            self.ended(name)
        return len(keys)

    def _expired(self, session: Session, now: float) -> bool:
        if session.display:
            return now - session.last_seen >= DISPLAY_IDLE
        return (
            now - session.last_seen >= self.idle_timeout or now - session.created >= self.lifetime
        )

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]


def _same(one: Session, other: Session) -> bool:
    return one.name == other.name and one.display == other.display
