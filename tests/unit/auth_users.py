"""Users of every role for the tests, with cheap argon2 hashes (the daemon's are costly on
purpose; the check reads the cost from the hash, so these verify in a millisecond)."""

from __future__ import annotations

import base64

import aiohttp
from argon2 import PasswordHasher

from callgate.auth import Authenticator, Identity, UserSettings

_CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

#: name -> (role, agent_id, the token's random part); each user's password is "pw-<name>".
PEOPLE = {
    "ct1001": ("call-taker", "1001", "secret-ct1001"),
    "ct1002": ("call-taker", "1002", "secret-ct1002"),
    "sup": ("supervisor", None, "secret-sup"),
    "root": ("admin", None, "secret-root"),
}


def _user(name: str, role: str, agent_id: str | None, secret: str) -> UserSettings:
    return UserSettings(
        name=name,
        role=role,  # type: ignore[arg-type]
        agent_id=agent_id,
        password_hash=_CHEAP.hash(f"pw-{name}"),
        token_hash=_CHEAP.hash(secret),
        # A supervisor's own phone (the wallboard's listen, whisper, barge); an admin has none.
        phone="PJSIP/2001" if role == "supervisor" else None,
    )


USERS = [_user(n, *p) for n, p in PEOPLE.items()] + [
    UserSettings(name="cad-a", role="cad", commands=["set-disposition", "request-callback"]),  # type: ignore[arg-type]
    UserSettings(
        name="cad-all",
        role="cad",
        commands=["set-disposition", "request-callback", "attach-incident", "block", "unblock"],
    ),  # type: ignore[arg-type]
]


def authenticator() -> Authenticator:
    return Authenticator(USERS)


def token(name: str) -> str:
    return f"{name}.{PEOPLE[name][2]}"


def bearer(name: str) -> dict[str, str]:
    """The Authorization header of user ``name``'s token."""
    return {"Authorization": f"Bearer {token(name)}"}


def basic(name: str, password: str | None = None) -> dict[str, str]:
    raw = f"{name}:{password if password is not None else f'pw-{name}'}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def browser(client: aiohttp.ClientSession, url: str, name: str) -> dict[str, str]:
    """Log ``name`` in as a browser would (``POST /api/session`` with their password); the
    headers its later requests carry: the session cookie and the CSRF token."""
    login = {"name": name, "password": f"pw-{name}"}
    async with client.post(f"{url}/api/session", json=login) as reply:
        assert reply.status == 200, await reply.text()
        csrf = (await reply.json())["csrf_token"]
        [morsel] = reply.cookies.values()
    return {"Cookie": f"{morsel.key}={morsel.value}", "X-CSRF-Token": csrf}


def cad_clients(name: str) -> Identity | None:
    """The CAD clients above by name, as the daemon's authenticator names them."""
    return _AUTHENTICATOR.identity(name)


_AUTHENTICATOR = authenticator()
