"""The AMI adapter against the real lab Asterisk and a real baresip phone (extensions 1007 and
1008 only: the lab is shared). A network blip is a TCP proxy in the test that is cut, never a
restart of the shared Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import labpeers  # scripts/, put on sys.path by conftest
import pytest

from callgate.asterisk.ami.client import AmiClient
from callgate.asterisk.ami.messages import AsteriskDeviceState, DeviceStatus, QueueSummary

AMI = ("127.0.0.1", 5038)
FREE = DeviceStatus(AsteriskDeviceState.NOT_INUSE, registered=True)
GONE = DeviceStatus(AsteriskDeviceState.UNAVAILABLE, registered=False)


@dataclass
class Recorder:
    statuses: list[tuple[float, str, DeviceStatus]] = field(default_factory=list)
    connection: list[tuple[float, bool]] = field(default_factory=list)

    def device(self, endpoint: str, status: DeviceStatus) -> None:
        self.statuses.append((time.monotonic(), endpoint, status))

    def connected(self, up: bool) -> None:
        self.connection.append((time.monotonic(), up))

    def last(self, endpoint: str) -> DeviceStatus | None:
        seen = [s for _, e, s in self.statuses if e == endpoint]
        return seen[-1] if seen else None


async def until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    try:
        async with asyncio.timeout(seconds):
            # Polls: the predicates read what the client's callbacks recorded.
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}") from None


class Proxy:
    """A TCP proxy to the lab's AMI that a test can cut, black-hole or hold closed."""

    def __init__(self) -> None:
        self.accepting = True
        self.black_hole = False
        self.port = 0
        self.refused: list[float] = []
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            self.refused.append(time.monotonic())
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*AMI)
        self._writers += [writer, up_writer]
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        await asyncio.gather(*pipes)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                if not self.black_hole:
                    sink.write(data)
        except ConnectionError:
            pass
        finally:
            sink.close()

    def cut(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def stop(self) -> None:
        self.cut()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    p = Proxy()
    await p.start()
    yield p
    await p.stop()


@contextlib.asynccontextmanager
async def running(client: AmiClient) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(client.run())
    try:
        yield task
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)


def client_for(
    port: int, recorder: Recorder, secret: str = "lab-ami-secret", **kw: float
) -> AmiClient:
    return AmiClient(
        AMI[0],
        port,
        "callgate",
        secret,
        on_device_state=recorder.device,
        on_connection=recorder.connected,
        **kw,
    )


@pytest.mark.smoke
async def test_given_the_lab_when_1007_registers_and_stops_then_its_status_follows(
    phones: Callable[..., list[labpeers.Softphone]], recorder: Recorder
) -> None:
    client = client_for(AMI[1], recorder)
    async with running(client):
        await until(lambda: client.connected, 10, "AMI login")
        assert recorder.last("PJSIP/1007") == GONE  # nobody else uses 1007

        (phone,) = await asyncio.to_thread(phones, "1007")
        await until(lambda: recorder.last("PJSIP/1007") == FREE, 10, "1007 registered, free")

        await asyncio.to_thread(phone.stop)
        await until(lambda: recorder.last("PJSIP/1007") == GONE, 10, "1007 unregistered")
    assert [up for _, up in recorder.connection] == [True, False]


async def test_given_a_wrong_secret_then_one_clear_error_and_the_client_keeps_trying(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(AMI[1], recorder, secret="not-the-lab-secret", backoff_initial=0.2)
    async with running(client) as task:
        # Asterisk answers a wrong secret after about a second, then hangs up.
        await until(
            lambda: any(r.levelno >= logging.ERROR for r in caplog.records), 10, "the error"
        )
        await asyncio.sleep(2.5)  # long enough for further refused attempts
        assert not task.done()

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "login refused" in errors[0].getMessage()
    assert getattr(errors[0], "ami_user", None) == "callgate"
    assert all("not-the-lab-secret" not in f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert recorder.connection == []
    assert not client.connected


async def test_given_a_network_blip_then_the_client_reconnects_with_backoff_and_resyncs(
    proxy: Proxy, recorder: Recorder, phones: Callable[..., list[labpeers.Softphone]]
) -> None:
    client = client_for(proxy.port, recorder, backoff_initial=0.5, backoff_max=2.0)
    async with running(client):
        await until(lambda: client.connected, 10, "AMI login through the proxy")
        assert recorder.last("PJSIP/1008") == GONE

        # The link goes down and stays down while the phone registers: its events are lost.
        proxy.accepting = False
        proxy.cut()
        await until(lambda: not client.connected, 5, "the client to notice")
        await asyncio.to_thread(phones, "1008")
        assert recorder.last("PJSIP/1008") == GONE
        proxy.accepting = True

        await until(lambda: client.sessions == 2 and client.connected, 20, "the reconnect")
        # Re-synced from Asterisk's own listing, not from events.
        assert recorder.last("PJSIP/1008") == FREE
        (down_at, down), (up_at, up) = recorder.connection[1], recorder.connection[2]
        assert (down, up) == (False, True)
        assert up_at - down_at >= 0.25  # 0.5 s initial backoff, jittered x0.5..1.5
        # Attempts while the link was down came with growing gaps, not in a tight loop.
        gaps = [b - a for a, b in itertools.pairwise(proxy.refused)]
        assert 1 <= len(proxy.refused) <= 8
        assert all(gap >= 0.25 for gap in gaps)


async def test_given_asterisk_stops_answering_then_the_missing_pong_reconnects(
    proxy: Proxy, recorder: Recorder
) -> None:
    client = client_for(
        proxy.port, recorder, ping_interval=0.5, action_timeout=1.0, backoff_initial=0.1
    )
    async with running(client):
        await until(lambda: client.connected, 10, "AMI login through the proxy")

        # Half-open link: the socket stays up, nothing comes back (a lost AMI response).
        proxy.black_hole = True
        await until(lambda: not client.connected, 5, "the lost Pong to be noticed")
        proxy.black_hole = False
        proxy.cut()

        await until(lambda: client.sessions == 2 and client.connected, 10, "the reconnect")


async def test_given_the_fallback_queue_then_its_summary_is_sane(recorder: Recorder) -> None:
    client = client_for(AMI[1], recorder)
    async with running(client):
        await until(lambda: client.connected, 10, "AMI login")
        summary = await client.queue_summary("fallback-112")

    assert isinstance(summary, QueueSummary)
    assert summary.queue == "fallback-112"
    # queues.conf has the eight call-takers as static members; app_queue counts only those whose
    # phone is not unavailable, and other engineers' phones come and go.
    assert 0 <= summary.available <= summary.logged_in <= 8
    assert summary.callers >= 0
    assert summary.longest_hold_time >= 0
