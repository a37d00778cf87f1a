"""The admin API on a Unix socket, for the local ``callgate`` commands: no token to keep.

The same aiohttp application as the loopback TCP port is served on ``[ops] socket_path``
(``/run/callgate/admin.sock``). Who is asking is not taken from anything the client sends but
from the kernel: ``SO_PEERCRED`` gives the uid of the process that connected, fixed when it
connected. That Unix user's name, looked up in ``[auth] local_users``, names the callgate user
(:meth:`callgate.auth.Authenticator.local_identity`) whose name the audit trail records; an
unlisted Unix user is nobody (401), as a request without a credential.

A request that carries an ``Authorization`` header or a browser's session cookie is judged by it
alone, on the socket as on TCP: a wrong token is 401 even from a mapped Unix user, and a right one
acts as its own user. The peer credentials count only when no credential is sent. (A token sent
here grants nothing more than it would on the TCP port, which every local process can reach.)

Who may connect at all is the file's business: mode 0660, group ``[ops] socket_group``
(``callgate-cli``; never ``callgate``, whose members read the secrets), owner callgate. Without
that group (missing, or callgate is not in it) the socket stays 0600 and a WARNING says so: never
world-accessible. The socket is bound and its mode set before it listens, so no client connects
while the mode is still the umask's.

Nothing here stops the daemon: a socket that cannot be opened is a WARNING (the local commands
then need a token, as before), calls and the TCP port go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from callgate.auth import Authenticator, Identity
from callgate.logs import LogThrottle

log = logging.getLogger(__name__)

#: ``struct ucred`` as ``getsockopt(SO_PEERCRED)`` returns it: pid, uid, gid.
UCRED: Final = struct.Struct("3i")
#: Mode of the socket: its owner and its group may connect (connecting needs write access).
GROUP_MODE: Final = 0o660
OWNER_MODE: Final = 0o600


@dataclass(frozen=True)
class Peer:
    """The process at the other end of a Unix-socket connection, as the kernel saw it connect."""

    pid: int
    uid: int
    gid: int


def peer_of(request: web.Request) -> Peer | None:
    """The peer of ``request``'s connection when it came over a Unix socket; None on TCP (or
    when the connection is already gone)."""
    transport = request.transport
    sock = None if transport is None else transport.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, UCRED.size)
    except OSError:
        return None
    return Peer(*UCRED.unpack(raw))


def unix_name(uid: int) -> str | None:
    """The name of Unix user ``uid``, or None when the system has none for it."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


class AdminSocket:
    """The admin socket: :meth:`start` opens it on an aiohttp runner, :meth:`stop` removes it,
    :meth:`identity` says who a request on it comes from."""

    def __init__(self, path: str | Path, group: str = "") -> None:
        self.path = Path(path)
        self.group = group
        #: (st_dev, st_ino) of the socket file we made: at stop, remove only that one (a
        #: daemon started meanwhile may have put its own there).
        self._made: tuple[int, int] | None = None
        self._throttle = LogThrottle(60.0)

    # -- the socket file -----------------------------------------------------------------------

    async def start(self, runner: web.AppRunner) -> bool:
        """Serve ``runner``'s application on the socket; False (with a WARNING) when it cannot
        be opened. Never raises for that: the TCP port and the calls do not depend on it."""
        try:
            sock = self._bind()
        except OSError as exc:
            log.warning(
                "admin socket not opened: the local callgate commands need a token meanwhile",
                extra={"path": str(self.path), "error": exc.strerror or str(exc)},
            )
            return False
        try:
            await web.SockSite(runner, sock).start()
        except OSError as exc:
            sock.close()
            self._remove()
            log.warning(
                "admin socket not opened: the local callgate commands need a token meanwhile",
                extra={"path": str(self.path), "error": exc.strerror or str(exc)},
            )
            return False
        log.info(
            "admin socket listening",
            extra={"path": str(self.path), "mode": f"{self._mode():04o}", "group": self.group},
        )
        return True

    def stop(self) -> None:
        """Remove the socket file (the runner's cleanup closes the socket itself)."""
        self._remove()

    def _bind(self) -> socket.socket:
        self._clear_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            # Until listen() (in SockSite.start) a connect is refused, so the umask's mode
            # between bind and here lets nobody in.
            os.chmod(self.path, OWNER_MODE)
            st = os.stat(self.path)
            self._made = (st.st_dev, st.st_ino)
            if self._group_may_connect():
                os.chmod(self.path, GROUP_MODE)
        except OSError:
            sock.close()
            self._remove()
            raise
        return sock

    def _clear_stale(self) -> None:
        """Remove a socket a stopped daemon left behind; refuse anything else at the path."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise FileExistsError(f"{self.path} exists and is not a socket; left alone")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.setblocking(False)  # a live server's full backlog must not hold up the start
        try:
            probe.connect(str(self.path))
        except ConnectionRefusedError:
            pass  # nobody listens: a daemon that stopped without removing it
        except FileNotFoundError:
            return  # removed meanwhile
        except BlockingIOError:
            raise FileExistsError(f"another process answers on {self.path}; left alone") from None
        else:
            raise FileExistsError(f"another process answers on {self.path}; left alone")
        finally:
            probe.close()
        os.unlink(self.path)
        log.info("removed a stale admin socket", extra={"path": str(self.path)})

    def _group_may_connect(self) -> bool:
        """Give the socket to ``group`` (True), or say why it stays owner-only (False)."""
        if not self.group:
            return False  # owner-only on purpose
        try:
            gid = grp.getgrnam(self.group).gr_gid
        except KeyError:
            log.warning(
                "admin socket group does not exist: the socket is 0600, only callgate's own"
                " user may use it (systemd-sysusers systemd/callgate.sysusers creates it)",
                extra={"path": str(self.path), "group": self.group},
            )
            return False
        try:
            os.chown(self.path, -1, gid)
        except PermissionError:
            log.warning(
                "admin socket group not given: callgate is not in the group, the socket is"
                " 0600, only callgate's own user may use it",
                extra={"path": str(self.path), "group": self.group},
            )
            return False
        return True

    def _remove(self) -> None:
        made, self._made = self._made, None
        if made is None:
            return
        with contextlib.suppress(OSError):
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == made:
                os.unlink(self.path)

    def _mode(self) -> int:
        try:
            return stat.S_IMODE(os.stat(self.path).st_mode)
        except OSError:
            return 0

    # -- who is asking -------------------------------------------------------------------------

    async def identity(self, request: web.Request, authenticator: Authenticator) -> Identity | None:
        """The user ``[auth] local_users`` maps the peer's Unix user to; None on TCP or for an
        unlisted Unix user (a WARNING, rate-limited, names it: an admin may have forgotten it)."""
        peer = peer_of(request)
        if peer is None:
            return None
        # NSS may ask a directory server: not on the event loop.
        name = await asyncio.to_thread(unix_name, peer.uid)
        identity = None if name is None else authenticator.local_identity(name)
        if identity is None:
            held_back = self._throttle.admit("unlisted")
            if held_back is not None:
                log.warning(
                    "admin socket: Unix user not in [auth] local_users",
                    extra={
                        "uid": peer.uid,
                        "unix_user": name,
                        "pid": peer.pid,
                        "similar_not_logged": held_back,
                    },
                )
            return None
        log.debug(
            "admin socket: local user",
            extra={"uid": peer.uid, "unix_user": name, "pid": peer.pid, "by": identity.name},
        )
        return identity
