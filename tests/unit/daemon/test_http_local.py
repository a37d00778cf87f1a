"""The admin socket's file: its mode and group, a stale one removed, anything else left alone,
removed at stop, and never a reason for the TCP port not to serve. Real sockets, real files."""

from __future__ import annotations

import grp
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from callgate.http.local import AdminSocket
from callgate.http.server import OpsHttp
from tests.unit.auth_users import authenticator
from tests.unit.daemon.conftest import ME

#: The group of this process: one it may give a file it owns to, root or not.
MY_GROUP = grp.getgrgid(os.getgid()).gr_name
#: A group no system has.
NO_GROUP = "callgate-no-such-group"


class _Ready:
    def to_json(self) -> dict[str, object]:
        return {"ready": True}


class _View:
    """The admin API's daemon, for routes these tests call (status only)."""

    def status(self) -> dict[str, object]:
        return {"ready": True}


@pytest.fixture
async def started() -> AsyncIterator[list[OpsHttp]]:
    """Servers a test started, stopped at its end whatever happened."""
    servers: list[OpsHttp] = []
    yield servers
    for server in servers:
        await server.stop()


async def _start(started: list[OpsHttp], path: Path, group: str = "") -> OpsHttp:
    http = OpsHttp(
        _View(),  # type: ignore[arg-type]
        _Ready(),
        CollectorRegistry(),
        authenticator=authenticator(),
        port=0,
        local=AdminSocket(path, group),
    )
    started.append(http)
    await http.start()
    return http


async def _status(path: Path) -> int:
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))) as session,
        session.get("http://localhost/api/status") as reply,
    ):
        return reply.status


async def _tcp_status(http: OpsHttp) -> int:
    async with aiohttp.ClientSession() as session, session.get(http.url + "/api/status") as reply:
        return reply.status


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_given_a_group_it_may_give_then_the_socket_is_0660_in_that_group(
    socket_dir: Path, started: list[OpsHttp], caplog: pytest.LogCaptureFixture
) -> None:
    path = socket_dir / "admin.sock"
    await _start(started, path, MY_GROUP)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert _mode(path) == 0o660
    assert path.stat().st_gid == os.getgid()
    assert await _status(path) == 200
    assert not _warnings(caplog)


async def test_given_the_group_does_not_exist_then_0600_and_one_warning(
    socket_dir: Path, started: list[OpsHttp], caplog: pytest.LogCaptureFixture
) -> None:
    path = socket_dir / "admin.sock"
    await _start(started, path, NO_GROUP)
    assert _mode(path) == 0o600
    [warning] = _warnings(caplog)
    assert "group does not exist" in warning
    assert await _status(path) == 200  # its own user still may


async def test_given_a_group_callgate_is_not_in_then_0600_and_one_warning(
    socket_dir: Path,
    started: list[OpsHttp],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine = set(os.getgroups()) | {os.getgid()}
    other = next(g.gr_name for g in grp.getgrall() if g.gr_gid not in mine)

    def refused(path: object, uid: int, gid: int) -> None:
        # What the kernel answers a process that is not root and not in the group (the tests
        # may run as root, who may give a file to any group).
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("callgate.http.local.os.chown", refused)
    path = socket_dir / "admin.sock"
    await _start(started, path, other)
    assert _mode(path) == 0o600
    [warning] = _warnings(caplog)
    assert "not in the group" in warning


async def test_given_no_group_then_0600_on_purpose_without_a_warning(
    socket_dir: Path, started: list[OpsHttp], caplog: pytest.LogCaptureFixture
) -> None:
    path = socket_dir / "admin.sock"
    await _start(started, path, "")
    assert _mode(path) == 0o600
    assert not _warnings(caplog)


async def test_given_a_loose_umask_then_the_socket_is_never_wider_than_asked(
    socket_dir: Path, started: list[OpsHttp]
) -> None:
    old = os.umask(0)
    try:
        path = socket_dir / "admin.sock"
        await _start(started, path, MY_GROUP)
    finally:
        os.umask(old)
    assert _mode(path) == 0o660


async def test_given_a_stale_socket_then_it_is_replaced(
    socket_dir: Path, started: list[OpsHttp], caplog: pytest.LogCaptureFixture
) -> None:
    path = socket_dir / "admin.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))  # bound, never listened: as a daemon killed with -9 leaves it
    with caplog.at_level(logging.INFO):
        await _start(started, path)
    assert await _status(path) == 200  # it answers: the dead one is gone (tmpfs reuses inodes)
    assert any(r.getMessage() == "removed a stale admin socket" for r in caplog.records)


@pytest.mark.parametrize("what", ["a file", "a live socket"])
async def test_given_something_else_at_the_path_then_it_is_left_alone_and_tcp_serves(
    socket_dir: Path, started: list[OpsHttp], caplog: pytest.LogCaptureFixture, what: str
) -> None:
    path = socket_dir / "admin.sock"
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if what == "a file":
        path.write_text("not ours")
    else:
        other.bind(str(path))
        other.listen()  # another daemon answers there
    try:
        before = path.stat().st_ino
        http = await _start(started, path)
        assert path.stat().st_ino == before
        [warning] = _warnings(caplog)
        assert "admin socket not opened" in warning
        assert await _tcp_status(http) == 200
        await http.stop()
        assert path.stat().st_ino == before  # not ours: not removed at stop either
    finally:
        other.close()


async def test_given_no_folder_then_a_warning_and_tcp_serves(
    socket_dir: Path, started: list[OpsHttp], caplog: pytest.LogCaptureFixture
) -> None:
    http = await _start(started, socket_dir / "missing" / "admin.sock")
    [warning] = _warnings(caplog)
    assert "admin socket not opened" in warning
    assert await _tcp_status(http) == 200


async def test_at_stop_the_socket_is_removed(socket_dir: Path, started: list[OpsHttp]) -> None:
    path = socket_dir / "admin.sock"
    http = await _start(started, path)
    assert path.exists()
    await http.stop()
    assert not path.exists()


async def test_at_stop_a_socket_another_daemon_put_there_meanwhile_is_left(
    socket_dir: Path, started: list[OpsHttp]
) -> None:
    path = socket_dir / "admin.sock"
    http = await _start(started, path)
    path.unlink()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as newer:
        newer.bind(str(path))
        await http.stop()
        assert path.exists()


def test_this_process_has_a_unix_user_name() -> None:
    assert ME  # the socket tests map it; a uid without a name could not be mapped
