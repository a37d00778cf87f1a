"""``callgate users add|token|list|remove``: the users of the admin API, without editing TOML.

They are kept in the users file that ``[auth] users_file`` names (the package's config says
``/etc/callgate/users.toml``), beside any ``[[auth.users]]`` of the config itself, which these
commands show but never change. Each change is checked as the daemon will check it (the config's
users and the file's together), written whole to a new file that then replaces the old one (a
crash leaves the old or the new, never half), with the old file's owner, group and mode (a new
one: mode 0640, the config file's group, so that the daemon, user ``callgate`` in group
``callgate``, reads it and nobody else does). Then the running daemon is asked to reload
through its admin API (``POST /api/reload``, as ``callgate reload``), which answers whether it
applied the users or refused them (then this says why and exits 1); when it is not reachable,
that is said and the change applies at its next start or reload.

Only hashes are stored: a password typed (twice, without echo) or read from standard input
(``--password-stdin``), a token printed once by ``users token``. The wall screens' device
tokens (``users display add|list|revoke``) live in the journal instead:
:mod:`callgate.tools.wall_screens`.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from callgate.auth import (
    CAD_COMMANDS,
    AuthSettings,
    Role,
    UserSettings,
    UsersFile,
    hash_secret,
    new_token,
    read_users_file,
    users_file_path,
    with_users,
)
from callgate.tools import admin_client, wall_screens
from callgate.tools.credentials import MIN_PASSWORD

DEFAULT_CONFIG = Path("/etc/callgate/callgate.toml")
OK, FAILED, USAGE = 0, 1, 2


class UsersError(Exception):
    """Something the admin must fix; the message says what."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callgate users",
        description="Add, list and remove the users of the admin API (and CAD clients) in the "
        "users file that [auth] users_file names; make a user's token. The running daemon is "
        "asked to reload through its admin API, as callgate reload does. Exit 0 done (or the "
        "daemon is not running), 1 failed or the daemon did not apply it, 2 bad arguments or "
        "config.",
    )
    parser.add_argument(
        "-c", "--config", help=f"the daemon's config file (default: {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--no-reload", action="store_true", help="do not ask the running daemon to reload"
    )
    parser.add_argument(
        "--token-file",
        help="an admin's token for the reload (default: $CALLGATE_TOKEN_FILE, else "
        "$CALLGATE_TOKEN; else the admin socket, as your Unix user)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the reload (default 10)"
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add a user (asks for the password twice)")
    add.add_argument("name", help="the user's name, which the audit trail records")
    add.add_argument(
        "--role", required=True, choices=[r.value for r in Role if r is not Role.DISPLAY]
    )
    add.add_argument("--agent-id", help="call-takers: which call-taker they are (e.g. 1001)")
    add.add_argument(
        "--phone", help="supervisors, admins: their own phone, where listening rings (PJSIP/2001)"
    )
    add.add_argument(
        "--commands",
        help=f"cad: the MQTT commands it may send, comma-separated ({', '.join(CAD_COMMANDS)})",
    )
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.add_argument(
        "--no-password", action="store_true", help="no password (a program: give it a token)"
    )
    add.add_argument(
        "--unix-user",
        action="append",
        default=[],
        metavar="LOGIN",
        help="this Unix account is the user on the admin socket, no token needed "
        "([auth] local_users); repeatable",
    )
    token = sub.add_parser("token", help="make a new token for a user; prints it once")
    token.add_argument("name")
    sub.add_parser("list", help="the users, their roles and which secrets they have")
    remove = sub.add_parser("remove", help="remove a user (and their Unix accounts' mapping)")
    remove.add_argument("name")
    wall_screens.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "display":
        return wall_screens.main(args)
    try:
        config = Path(args.config) if args.config else DEFAULT_CONFIG
        auth, path = _locate(config)
        if args.action == "list":
            return _list(auth, path)
        current = read_users_file(path)
        if args.action == "add":
            changed, message = _add(args, auth, current), f"added {args.name}"
        elif args.action == "token":
            changed, token = _token(args.name, auth, current)
            print(token)  # the one time it is shown
            message = f"new token for {args.name} (the old one stops working at the reload)"
        else:
            changed, message = _remove(args.name, auth, current), f"removed {args.name}"
        _check(auth, changed, path)
        write_users_file(path, changed, config)
    except UsersError as exc:
        print(f"callgate users: {exc}", file=sys.stderr)
        return USAGE
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        print(f"callgate users: {reasons}", file=sys.stderr)
        return USAGE
    except ValueError as exc:  # the users file's TOML
        print(f"callgate users: {exc}", file=sys.stderr)
        return USAGE
    except OSError as exc:
        print(f"callgate users: {exc.filename or path}: {exc.strerror or exc}", file=sys.stderr)
        return FAILED
    print(f"callgate users: {message} in {path}", file=sys.stderr)
    if args.no_reload:
        return OK
    return ask_reload(config, token_file=args.token_file, timeout=args.timeout)


def _locate(config: Path) -> tuple[AuthSettings, Path]:
    """The config's own ``[auth]`` (without the file's users) and the users file's path."""
    from callgate.config import ConfigError, Settings, load_settings

    if not config.is_file():
        raise UsersError(f"config file {config} does not exist (give it with --config)")
    try:
        settings: Settings = load_settings(config)
    except ConfigError as exc:
        raise UsersError(f"{config}: {exc}") from None
    own = AuthSettings.model_validate(_config_auth(config))
    path = users_file_path(settings.auth, config)
    if path is None:
        raise UsersError(
            f'{config}: [auth] users_file is not set; add users_file = "users.toml" under [auth]'
        )
    return own, path


def _config_auth(config: Path) -> object:
    import tomllib

    with config.open("rb") as file:
        return tomllib.load(file).get("auth", {})


def _list(auth: AuthSettings, path: Path) -> int:
    current = read_users_file(path)
    local = {**auth.local_users, **current.local_users}
    rows = [["NAME", "ROLE", "AGENT", "PASSWORD", "TOKEN", "UNIX USERS", "IN"]]
    for where, users in (("config", auth.users), (path.name, current.users)):
        for u in users:
            logins = ",".join(sorted(k for k, v in local.items() if v == u.name)) or "-"
            yes = {True: "yes", False: "-"}
            secrets_ = [yes[u.password_hash is not None], yes[u.token_hash is not None]]
            rows.append([u.name, u.role.value, u.agent_id or "-", *secrets_, logins, where])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return OK


def _add(args: argparse.Namespace, auth: AuthSettings, current: UsersFile) -> UsersFile:
    if any(u.name == args.name for u in [*auth.users, *current.users]):
        raise UsersError(f"{args.name} exists already (callgate users remove {args.name} first)")
    role = Role(args.role)
    password_hash = None
    if role is not Role.CAD and not args.no_password:
        password_hash = hash_secret(read_password(from_stdin=args.password_stdin))
    commands = [c.strip() for c in (args.commands or "").split(",") if c.strip()]
    user = UserSettings(
        name=args.name,
        role=role,
        agent_id=args.agent_id,
        phone=args.phone,
        password_hash=password_hash,
        commands=commands,
    )
    local = dict(current.local_users)
    for login in args.unix_user:
        if login in local or login in auth.local_users:
            raise UsersError(f"Unix user {login} is mapped already ([auth] local_users)")
        local[login] = args.name
    return UsersFile(users=[*current.users, user], local_users=local)


def _token(name: str, auth: AuthSettings, current: UsersFile) -> tuple[UsersFile, str]:
    _own_user(name, auth, current)
    token = new_token(name)
    digest = hash_secret(token.rpartition(".")[2])
    users = [
        u.model_copy(update={"token_hash": digest}) if u.name == name else u for u in current.users
    ]
    return UsersFile(users=users, local_users=current.local_users), token


def _remove(name: str, auth: AuthSettings, current: UsersFile) -> UsersFile:
    _own_user(name, auth, current)
    return UsersFile(
        users=[u for u in current.users if u.name != name],
        local_users={k: v for k, v in current.local_users.items() if v != name},
    )


def _own_user(name: str, auth: AuthSettings, current: UsersFile) -> None:
    if any(u.name == name for u in current.users):
        return
    if any(u.name == name for u in auth.users):
        raise UsersError(f"{name} is in the config's [[auth.users]]: change it there")
    raise UsersError(f"no user {name}")


def _check(auth: AuthSettings, changed: UsersFile, path: Path) -> None:
    """Refuse what the daemon would refuse at its reload (it would keep the old users)."""
    try:
        with_users(auth, changed)
    except ValidationError as exc:
        raise UsersError(f"{path}: {exc.errors()[0]['msg']}") from None


def read_password(*, from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsersError("the two passwords differ")
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"a password needs {MIN_PASSWORD} characters")
    return password


def render(users: UsersFile) -> str:
    """The users file's text (TOML; strings quoted as JSON, which TOML's basic strings read)."""
    q = json.dumps
    lines = [
        "# callgate's users ([auth] users_file): written by `callgate users`, read at start and",
        "# at every reload. Hashes only; `callgate users add|token|remove` changes it.",
        "local_users = {"
        + ", ".join(f"{q(k)} = {q(v)}" for k, v in sorted(users.local_users.items()))
        + "}",
    ]
    for user in users.users:
        lines += ["", "[[users]]"]
        for key, value in user.model_dump(exclude_defaults=True, mode="json").items():
            text = "[" + ", ".join(map(q, value)) + "]" if isinstance(value, list) else q(value)
            lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def write_users_file(path: Path, users: UsersFile, config: Path) -> None:
    """Replace ``path`` whole with ``users``: the old file's owner, group and mode, or for a new
    one mode 0640 and the config file's group (the daemon's)."""
    try:
        old = path.stat()
        uid, gid, mode = old.st_uid, old.st_gid, old.st_mode & 0o777
    except FileNotFoundError:
        uid, gid, mode = os.geteuid(), config.stat().st_gid, 0o640
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), mode)
            with contextlib.suppress(PermissionError):  # not root: the group we may give
                os.fchown(file.fileno(), uid, gid)
            file.write(render(users))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def ask_reload(config: Path, *, token_file: str | None = None, timeout: float = 10.0) -> int:
    """Ask the running daemon to apply the file, through its admin API as ``callgate reload``
    does, and say what it answered. Not ``systemctl reload``: that sends SIGHUP and returns 0
    even when the daemon refuses the file and keeps the old users, so a removed user or a
    replaced token would go on working while the admin is told it is gone."""
    args = argparse.Namespace(config=str(config), url=None, token_file=token_file, timeout=timeout)
    try:
        status, body = admin_client.call(args, "POST", "/api/reload", {})
    except admin_client.AdminExit as exc:
        if exc.code == admin_client.UNREACHABLE:
            print(
                f"callgate users: the daemon is not running or not reachable ({exc}); the "
                "change applies at its next start or reload",
                file=sys.stderr,
            )
            return OK
        return _not_applied(str(exc))  # our credential refused (401): it was not asked
    if status == 200 and body.get("result") == "ok":
        print("callgate users: the daemon reloaded; the change applies now", file=sys.stderr)
        return OK
    if body.get("result") == "refused":
        return _not_applied(f"the daemon refused the file: {body.get('error', '?')}")
    return _not_applied(f"the daemon did not reload (HTTP {status}: {body.get('error', body)})")


def _not_applied(why: str) -> int:
    print(
        f"callgate users: NOT applied, the running daemon keeps its old users: {why}. Fix it, "
        "then `callgate reload` (as an admin: [auth] local_users, or a token) or, as root, "
        "`systemctl reload callgate` and check `callgate status` or the journal for the answer",
        file=sys.stderr,
    )
    return FAILED
