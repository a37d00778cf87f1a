"""A clustered daemon (#21): a standby until it leads, then fenced ARI and journal; a single
callgate runs as before."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from callgate.asterisk.ari.client import AriClient, AriUnavailable
from callgate.asterisk.ari.nodes import AriNodes
from callgate.asterisk.settings import NodeSettings
from callgate.cluster.election import Leadership
from callgate.cluster.etcd import EtcdUnavailable
from callgate.config import Settings
from callgate.daemon import leadership as module
from callgate.daemon.leadership import FencedAriClient, ari_client, lead
from callgate.http.standby_port import StandbyHttp
from callgate.ports import JournalUnavailable
from callgate.storage.journal import Journal, JournalFenced
from tests.unit.cluster.fake_etcd import FakeEtcd


@pytest.fixture
async def ari() -> AsyncIterator[str]:
    async def info(_request: web.Request) -> web.Response:
        return web.json_response({"system": {}})

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"type": "ApplicationReplaced", "application": "callgate"}')
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ari/asterisk/info", info)
    app.router.add_get("/ari/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def _leadership(etcd: FakeEtcd, lost: list[str]) -> Leadership:
    return Leadership(etcd, centre="c", name="n", ttl=3, on_lost=lost.append, clock=etcd.clock)  # type: ignore[arg-type]


async def test_given_no_cluster_then_the_plain_ari_client_and_serve_at_once(
    tmp_path: Path,
) -> None:
    settings = Settings()
    assert type(ari_client(settings, None)) is AriClient
    served: list[object] = []

    async def serve(*args: Any) -> int:
        served.append(args[-1])
        return 7

    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    try:
        assert await lead(serve, settings, journal, asyncio.Event(), None) == 7
    finally:
        await journal.close()
    assert served == [None]
    assert journal.epoch is None


async def test_given_a_fenced_leader_then_no_ari_request_goes_out(ari: str) -> None:
    etcd, lost = FakeEtcd(), []
    leadership = _leadership(etcd, lost)
    client = FencedAriClient(ari, "u", "p", "callgate", leadership=leadership)
    async with client:
        with pytest.raises(AriUnavailable, match="fenced"):
            await client.info()  # not leading yet
        await leadership.campaign()
        assert (await client.info()) == {"system": {}}
        etcd.now += 10  # paused past its lease
        with pytest.raises(AriUnavailable, match="fenced"):
            await client.info()
    assert len(lost) == 1


async def test_given_application_replaced_then_the_leader_is_fenced(ari: str) -> None:
    etcd, lost = FakeEtcd(), []
    leadership = _leadership(etcd, lost)
    await leadership.campaign()
    async with FencedAriClient(ari, "u", "p", "callgate", leadership=leadership) as client:
        async for event in client.events():
            if isinstance(event, dict):
                assert event["type"] == "ApplicationReplaced"
                break
    assert lost == ["ARI ApplicationReplaced: another leader took the app"]


async def test_given_a_leader_past_its_lease_then_its_event_stream_does_not_reconnect(
    ari: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Reconnecting registers the Stasis app, taking it from the new leader: a leader resumed
    # after a pause must not, however soon its stream retries.
    etcd, lost = FakeEtcd(), []
    leadership = _leadership(etcd, lost)
    await leadership.campaign()
    etcd.now += 10  # paused past its lease
    async with FencedAriClient(
        ari, "u", "p", "callgate", leadership=leadership, backoff_initial=0.01, backoff_max=0.01
    ) as client:
        stream = client.events()
        waiting = asyncio.ensure_future(anext(stream))
        async with asyncio.timeout(5):
            while "ARI events not connected" not in caplog.text:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert not waiting.done()  # a connection would have yielded Connected first
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await stream.aclose()


def _clustered(ari: str, port: int = 0) -> Settings:
    return Settings.model_validate(
        {
            "ari": {"url": ari},
            "ami": {"port": 1},
            "ops": {"http_port": port},
            "cluster": {"etcd": ["http://127.0.0.1:1"], "node_name": "n1", "lease_ttl": 3},
        }
    )


async def test_given_a_cluster_then_a_standby_claims_the_journal_once_it_leads(
    ari: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etcd = FakeEtcd()
    etcd.close = lambda: asyncio.sleep(0)  # type: ignore[attr-defined]
    timeouts: list[float] = []
    monkeypatch.setattr(
        module, "EtcdClient", lambda urls, timeout: timeouts.append(timeout) or etcd
    )
    other = await etcd.grant(3)
    await etcd.create("/callgate/callgate/leader", "n0", other[0])  # someone leads
    served: list[Leadership | None] = []

    async def serve(*args: Any) -> int:
        served.append(args[-1])
        return 0

    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    try:
        running = asyncio.create_task(lead(serve, _clustered(ari), journal, asyncio.Event(), None))
        await asyncio.sleep(0.3)
        assert served == []  # a standby: the daemon not started
        await etcd.revoke(other[0])  # the leader stopped cleanly
        assert await asyncio.wait_for(running, timeout=5) == 0
        leader = served[0]
        assert leader is not None
        assert journal.epoch == leader.epoch
        assert journal.fenced is module.fenced
        assert "/callgate/callgate/leader" not in etcd.keys  # resigned at the stop
        assert timeouts == [1.0]  # a third of the 3 s lease: a renewal never outlasts it
    finally:
        await journal.close()


async def test_given_a_stop_while_standby_then_it_ends_without_serving(
    ari: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etcd = FakeEtcd()
    etcd.close = lambda: asyncio.sleep(0)  # type: ignore[attr-defined]
    monkeypatch.setattr(module, "EtcdClient", lambda urls, timeout: etcd)
    other = await etcd.grant(3)
    await etcd.create("/callgate/callgate/leader", "n0", other[0])
    stop = asyncio.Event()

    async def serve(*args: Any) -> int:
        raise AssertionError("a standby does not serve")

    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    try:
        running = asyncio.create_task(lead(serve, _clustered(ari), journal, stop, None))
        await asyncio.sleep(0.2)
        stop.set()
        assert await asyncio.wait_for(running, timeout=5) == 0
    finally:
        await journal.close()


async def test_given_a_standby_then_it_reports_what_it_can_reach(ari: str) -> None:
    found = await module._reachable(_clustered(ari))
    assert found["ari"] is None
    assert found["ami"] is not None  # nothing on port 1


def test_given_a_fence_then_the_process_ends_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    codes: list[int] = []
    monkeypatch.setattr(module.os, "_exit", codes.append)
    module.fenced("test")
    assert codes == [module.EXIT_FENCED]


class _Claims:
    """A journal whose claim fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def claim_epoch(self, epoch: int) -> None:
        raise self.error


async def test_given_the_journal_locked_at_the_claim_then_no_fence_and_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # An old leader paused mid-transaction holds a SQLite journal's lock: the new one serves,
    # and its first write that gets through claims the epoch (tests/unit/storage/test_fence.py).
    told: list[str] = []
    monkeypatch.setattr(module, "fenced", told.append)
    await module._claim(_Claims(JournalUnavailable("database is locked")), 4)  # type: ignore[arg-type]
    assert told == []
    assert "journal not claimed yet" in caplog.text


async def test_given_a_newer_leader_at_the_claim_then_fenced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    told: list[str] = []
    monkeypatch.setattr(module, "fenced", told.append)
    await module._claim(_Claims(JournalFenced("a leader newer than epoch 4 holds it")), 4)  # type: ignore[arg-type]
    assert told == ["a leader newer than epoch 4 holds it"]


def test_given_a_fence_then_the_hook_runs_before_the_exit_and_its_failure_stops_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(module.os, "_exit", lambda code: seen.append(f"exit {code}"))
    monkeypatch.setattr(module, "_before_exit", None)
    module.spool_at_fence(lambda: seen.append("spooled"))
    module.fenced("test")
    assert seen == ["spooled", f"exit {module.EXIT_FENCED}"]

    def broken() -> None:
        raise OSError("disk gone")

    module.spool_at_fence(broken)
    module.fenced("test")
    assert seen[-1] == f"exit {module.EXIT_FENCED}"
    module.spool_at_fence(None)


def _with_nodes(ari: str) -> Settings:
    settings = _clustered(ari)
    return settings.model_copy(
        update={
            "nodes": {
                "node1": NodeSettings(ari_url=ari, ami_host="127.0.0.1", ami_port=1),
                "node2": NodeSettings(
                    ari_url="http://127.0.0.1:1", ami_host="127.0.0.2", ami_port=1
                ),
            }
        }
    )


async def test_given_nodes_then_one_client_over_fenced_node_clients(ari: str) -> None:
    etcd = FakeEtcd()
    lost: list[str] = []
    client = ari_client(_with_nodes(ari), _leadership(etcd, lost))
    assert isinstance(client, AriNodes)
    assert list(client.nodes) == ["node1", "node2"]
    assert all(type(c) is FencedAriClient for c in client.nodes.values())
    assert client.node_states() == {"node1": False, "node2": False}


async def test_given_nodes_then_a_standby_checks_every_node(ari: str) -> None:
    found = await module._reachable(_with_nodes(ari))
    assert set(found) == {"ari:node1", "ami:node1", "ari:node2", "ami:node2"}
    assert found["ari:node1"] is None
    assert found["ari:node2"] is not None  # nothing on port 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_given_a_standby_then_its_admin_port_says_standby_read_only_and_is_freed_to_lead(
    ari: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The on-call admin and the load balancer see "standby", not a connection refused; the
    # port is released before the daemon binds it on winning.
    etcd = FakeEtcd()
    etcd.close = lambda: asyncio.sleep(0)  # type: ignore[attr-defined]
    monkeypatch.setattr(module, "EtcdClient", lambda urls, timeout: etcd)
    other = await etcd.grant(3)
    await etcd.create("/callgate/callgate/leader", "n0", other[0])
    port = _free_port()
    free_when_served: list[bool] = []

    async def serve(*args: Any) -> int:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", port))  # raises if the standby still held it
        free_when_served.append(True)
        return 0

    url = f"http://127.0.0.1:{port}"
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    try:
        running = asyncio.create_task(
            lead(serve, _clustered(ari, port), journal, asyncio.Event(), None)
        )
        async with aiohttp.ClientSession() as http:
            ready: dict[str, Any] = {"components": {}}
            status = 0
            # Bounded by a deadline, not a count: a loaded CI machine may be slow to bind.
            async with asyncio.timeout(20):
                while not ready["components"]:  # until its first warm check is in
                    try:
                        async with http.get(f"{url}/readyz") as resp:
                            ready, status = await resp.json(), resp.status
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.02)
            assert status == 503
            assert (ready["role"], ready["ready"], ready["leader"]) == ("standby", False, "n0")
            assert ready["components"]["ari"]["connected"] is True
            assert ready["components"]["ami"]["connected"] is False  # nothing on port 1
            async with http.get(f"{url}/api/status") as resp:
                assert resp.status == 200
                assert (await resp.json())["role"] == "standby"
            async with http.get(f"{url}/metrics") as resp:
                metrics = await resp.text()
            assert "callgate_leader 0.0" in metrics
            assert 'callgate_connection_up{component="ari"} 1.0' in metrics
            async with http.get(f"{url}/healthz") as resp:
                assert (resp.status, (await resp.json())["role"]) == (200, "standby")
            # No log-in, no state change, no API: the leader serves those.
            for method, path in [
                ("POST", "/api/session"),
                ("POST", "/api/agents/1001/login"),
                ("GET", "/api/agents"),
                ("GET", "/wallboard"),
            ]:
                async with http.request(method, f"{url}{path}", json={}) as resp:
                    assert resp.status == 503
                    assert (await resp.json())["role"] == "standby"
        await etcd.revoke(other[0])  # the leader stopped: this one wins
        assert await asyncio.wait_for(running, timeout=5) == 0
        assert free_when_served == [True]
    finally:
        await journal.close()


async def test_given_the_admin_port_taken_then_the_standby_retries_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tries: list[int] = []

    class _Port:
        port = 8089
        closed = False

        async def start(self) -> None:
            tries.append(1)
            if len(tries) < 3:
                raise OSError(98, "Address already in use")

    await asyncio.wait_for(module._bind(_Port(), 0.001), timeout=2)  # type: ignore[arg-type]
    assert len(tries) == 3
    assert caplog.text.count("standby: admin port not bound") == 1


async def test_given_the_standby_port_stopped_for_the_winner_then_it_never_binds_again() -> None:
    # A bind retry that outlived its cancel must not take the port back from the new leader.
    port = StandbyHttp(dict, CollectorRegistry(), host="127.0.0.1", port=0)
    await port.start()
    await port.stop()
    with pytest.raises(OSError, match="closed for good"):
        await port.start()
    await asyncio.wait_for(module._bind(port, 0.001), timeout=2)  # returns, binds nothing
    assert port.closed


async def test_given_standby_work_that_swallows_its_cancel_then_the_winner_still_leads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Python 3.11's wait_for can lose a cancel in a race; seen once in the lab as a winner
    # that never led (its warm check went on). The winner waits a bounded time, then leads.
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.set()
        await asyncio.sleep(3600)  # goes on as if never cancelled

    async def obedient() -> None:
        await asyncio.sleep(3600)

    tasks = [
        asyncio.create_task(stubborn(), name="keep-warm"),
        asyncio.create_task(obedient(), name="standby-watchdog"),
    ]
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await module._cancel_all(tasks, bound=0.1)
    assert swallowed.is_set()
    assert tasks[1].cancelled()
    assert "did not end when cancelled" in caplog.text
    assert caplog.records[-1].tasks == ["keep-warm"]  # type: ignore[attr-defined]
    tasks[0].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tasks[0]


class _Revisions:
    """etcd's current revision, or down."""

    def __init__(self, revision: int | None) -> None:
        self.revision = revision
        self.asked = 0

    async def current_revision(self) -> int:
        self.asked += 1
        if self.revision is None:
            raise EtcdUnavailable("etcd /v3/kv/range: connection refused")
        return self.revision


async def _journal_at(tmp_path: Path, epoch: int) -> Journal:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    await journal.claim_epoch(epoch)
    journal.epoch = None
    return journal


async def test_given_etcd_rebuilt_then_the_alarm_says_so_once_with_the_figures_and_fences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    told: list[str] = []
    monkeypatch.setattr(module, "fenced", told.append)
    journal = await _journal_at(tmp_path, 9000)
    try:
        await module._check_history(journal, _Revisions(14), 12, 1.0)
    finally:
        await journal.close()
    alarms = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert len(alarms) == 1
    text = alarms[0].getMessage()
    assert "the journal's epoch 9000 is newer than etcd's whole history (revision 14)" in text
    assert "was etcd rebuilt?" in text
    assert "`callgate cluster reset-fence`" in text
    assert told == ["journal epoch 9000 is newer than etcd's revision 14: etcd rebuilt?"]


async def test_given_a_newer_leader_of_this_etcd_then_the_claim_fences_as_ever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A leader that paused: the journal's epoch 20 was given by this etcd (revision 25).
    told: list[str] = []
    monkeypatch.setattr(module, "fenced", told.append)
    journal = await _journal_at(tmp_path, 20)
    try:
        await module._check_history(journal, _Revisions(25), 12, 1.0)
    finally:
        await journal.close()
    assert told == []
    assert "CRITICAL" not in caplog.text


async def test_given_the_journal_at_or_below_the_epoch_then_etcd_is_not_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    told: list[str] = []
    monkeypatch.setattr(module, "fenced", told.append)
    etcd = _Revisions(1)
    journal = await _journal_at(tmp_path, 12)
    try:
        await module._check_history(journal, etcd, 12, 1.0)
    finally:
        await journal.close()
    assert (told, etcd.asked) == ([], 0)


async def test_given_etcd_away_at_the_history_check_then_a_warning_and_the_claim_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    told: list[str] = []
    monkeypatch.setattr(module, "fenced", told.append)
    journal = await _journal_at(tmp_path, 9000)
    try:
        await module._check_history(journal, _Revisions(None), 12, 1.0)
    finally:
        await journal.close()
    assert told == []
    assert "journal fence not compared with etcd's history" in caplog.text


async def test_given_a_rebuilt_etcd_then_the_winner_is_fenced_before_it_serves(
    ari: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etcd = FakeEtcd()  # a new cluster: its revisions start at 1
    etcd.close = lambda: asyncio.sleep(0)  # type: ignore[attr-defined]
    monkeypatch.setattr(module, "EtcdClient", lambda urls, timeout: etcd)

    class Fenced(Exception):
        pass

    def fence(why: str) -> None:
        raise Fenced(why)  # the real one ends the process

    monkeypatch.setattr(module, "fenced", fence)

    async def serve(*args: Any) -> int:
        raise AssertionError("a leader fenced before serving does not serve")

    journal = await _journal_at(tmp_path, 9000)
    try:
        with pytest.raises(Fenced, match="etcd rebuilt"):
            await lead(serve, _clustered(ari), journal, asyncio.Event(), None)
    finally:
        await journal.close()
