"""How the admin commands reach the running daemon, and as whom (:data:`CONNECTING`).

Over the loopback TCP port with a token (``callgate auth token``) when given ``--url`` or a
token; otherwise over the admin socket (``[ops] socket_path``) when it answers, where the daemon
learns the caller's Unix user from the kernel and ``[auth] local_users`` names their callgate
user. Only the standard library, as :mod:`callgate.tools.admin`.
"""

from __future__ import annotations

import argparse
import grp
import http.client
import json
import os
import pwd
import socket
import stat
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

#: Read when neither --config nor --url is given and the file exists (the install guide's path).
DEFAULT_CONFIG = Path("/etc/callgate/callgate.toml")
DEFAULT_URL = "http://127.0.0.1:8089"
DEFAULT_SOCKET = "/run/callgate/admin.sock"

CONNECTING = f"""\
how the command reaches the daemon, the first that applies:
  1. --url URL      TCP to that URL, with your token if you give one
  2. a token        --token-file FILE, else $CALLGATE_TOKEN_FILE, else $CALLGATE_TOKEN:
                    TCP to [ops] http_host:http_port, as the token's user
  3. the admin socket, if it answers: [ops] socket_path ($CALLGATE_OPS__SOCKET_PATH,
                    default {DEFAULT_SOCKET}), as the user [auth] local_users maps
                    your Unix user to, no token needed; to connect, be in the socket's
                    group (usermod -aG callgate-cli alice, then log in again)
  4. otherwise      TCP without a credential: only status answers
"""

OK, UNREACHABLE, USAGE, REFUSED = 0, 1, 2, 3

Json = dict[str, Any]


class AdminExit(Exception):
    """The command ends with exit ``code``, printing the message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _ops_section(args: argparse.Namespace) -> dict[str, Any]:
    """The config file's ``[ops]``: --config, else the install's file if present, else none."""
    path = Path(args.config) if args.config else DEFAULT_CONFIG
    if not (args.config or path.is_file()):
        return {}
    try:
        return dict(tomllib.loads(path.read_text(encoding="utf-8")).get("ops", {}))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AdminExit(USAGE, f"cannot read {path}: {exc}") from None


def daemon_url(args: argparse.Namespace) -> str:
    """--url, else the config file's ``[ops]`` (environment overrides included), else default."""
    if args.url:
        url: str = args.url.rstrip("/")
        if not url.startswith("http://"):
            raise AdminExit(USAGE, f"--url must start with http:// (got {url!r})")
        return url
    section = _ops_section(args)
    host = os.environ.get("CALLGATE_OPS__HTTP_HOST", section.get("http_host", "127.0.0.1"))
    port = os.environ.get("CALLGATE_OPS__HTTP_PORT", section.get("http_port", 8089))
    host = f"[{host}]" if ":" in str(host) else host
    return f"http://{host}:{port}"


def daemon_socket(args: argparse.Namespace) -> str | None:
    """The admin socket's path: the config file's ``[ops] socket_path`` (environment override
    included), else the default; None when it is set empty (no socket)."""
    path = os.environ.get(
        "CALLGATE_OPS__SOCKET_PATH", _ops_section(args).get("socket_path", DEFAULT_SOCKET)
    )
    return str(path) or None


class _SocketConnection(http.client.HTTPConnection):
    """HTTP over the daemon's admin socket (the standard library speaks HTTP over TCP only)."""

    def __init__(self, path: str, timeout: float) -> None:
        # The host is only the Host header: localhost, a name the admin port answers to.
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _open_socket(args: argparse.Namespace) -> tuple[_SocketConnection | None, str | None]:
    """A connection on the admin socket (step 3 of :data:`CONNECTING`), or None and why not
    (None too when there is simply no socket: a daemon not run by systemd)."""
    path = daemon_socket(args)
    if path is None:
        return None, None
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    if not stat.S_ISSOCK(st.st_mode):
        return None, f"{path} is not a socket"
    connection = _SocketConnection(path, args.timeout)
    try:
        connection.connect()
    except PermissionError:
        return None, (
            f"you may not use the admin socket {path}: join its group"
            f" (sudo usermod -aG {_group_name(st.st_gid)} {_me()}, then log in again)"
        )
    except OSError as exc:
        return None, f"the admin socket {path} does not answer ({exc.strerror or exc})"
    return connection, None


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _me() -> str:
    """This process's Unix user name (what the daemon looks up in ``[auth] local_users``)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def call(
    args: argparse.Namespace,
    method: str,
    path: str,
    body: Json | None = None,
    *,
    raw: bool = False,
) -> tuple[int, Json]:
    """``method path`` on the daemon, reached as :data:`CONNECTING` says; ``(status, body)``.
    A refused credential (401) ends here, saying what to do about it. ``raw``: a successful
    answer that is not JSON (a zip, a CSV) comes as ``{"raw": bytes}``."""
    data = None if body is None else json.dumps(body).encode()
    headers = {} if data is None else {"Content-Type": "application/json"}
    token = token_of(args)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    local, why_not = (None, None) if args.url or token else _open_socket(args)
    if local is not None:
        status, answer = _over_socket(local, method, path, data, headers, raw)
        hint = f"your Unix user {_me()} is not in [auth] local_users; or use a token"
    else:
        status, answer = _over_tcp(args, method, path, data, headers, why_not, raw)
        if token:
            hint = "CALLGATE_TOKEN"
        elif why_not:
            hint = f"{why_not}; or use a token"
        else:
            hint = "no token given: --token-file, $CALLGATE_TOKEN_FILE or $CALLGATE_TOKEN"
    if status == 401:
        raise AdminExit(USAGE, f"{answer.get('error', 'not authenticated')} ({hint})")
    return status, answer


def _over_socket(
    connection: _SocketConnection,
    method: str,
    path: str,
    data: bytes | None,
    headers: dict[str, str],
    raw_answer: bool = False,
) -> tuple[int, Json]:
    try:
        connection.request(method, path, body=data, headers=headers)
        reply = connection.getresponse()
        status, raw = reply.status, reply.read()
    except (OSError, http.client.HTTPException) as exc:
        raise AdminExit(
            UNREACHABLE,
            f"daemon did not answer on the admin socket {connection.path} ({exc}).\n"
            "  Is it running? systemctl status callgate; journalctl -u callgate -n 50",
        ) from None
    finally:
        connection.close()
    if raw_answer and status < 400:
        return status, {"raw": raw}
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        if status >= 400:
            return status, {"error": reply.reason}
        raise AdminExit(
            UNREACHABLE, f"{connection.path} did not answer JSON: is that callgate's socket?"
        ) from None


def _over_tcp(
    args: argparse.Namespace,
    method: str,
    path: str,
    data: bytes | None,
    headers: dict[str, str],
    why_not_socket: str | None,
    raw_answer: bool = False,
) -> tuple[int, Json]:
    url = daemon_url(args) + path
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http:// only
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as reply:  # noqa: S310
            if raw_answer:
                return reply.status, {"raw": reply.read()}
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {"error": exc.reason}
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        also = f"\n  Nor on the admin socket: {why_not_socket}." if why_not_socket else ""
        raise AdminExit(
            UNREACHABLE,
            f"daemon not reachable at {daemon_url(args)} ({reason}).{also}\n"
            "  Is it running? systemctl status callgate; journalctl -u callgate -n 50",
        ) from None
    except ValueError:
        raise AdminExit(
            UNREACHABLE, f"{url} did not answer JSON: is that callgate's port?"
        ) from None


def token_of(args: argparse.Namespace) -> str | None:
    """The user's token: --token-file, $CALLGATE_TOKEN_FILE or $CALLGATE_TOKEN (None: none)."""
    path = getattr(args, "token_file", None) or os.environ.get("CALLGATE_TOKEN_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AdminExit(USAGE, f"cannot read the token file {path}: {exc}") from None
    return os.environ.get("CALLGATE_TOKEN", "").strip() or None
