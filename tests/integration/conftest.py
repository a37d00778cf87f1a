"""Fixtures for integration tests against the real lab (scripts/lab up): Asterisk 22 or 16
(whichever is up; scripts/test runs the suite on both), Mosquitto, baresip call-takers and SIPp as
the carrier. Nothing here stands in for any of them. callgate runs as the callgate user
(scripts/as-service), as systemd runs it.

The lab must be up before pytest starts (scripts/test does it). A missing lab fails the tests;
it never skips them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import labpeers  # noqa: E402

from callgate.storage.journal import Journal  # noqa: E402
from callgate.storage.records import CallRecord  # noqa: E402

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # An integration test that skips proves nothing about Asterisk: count it as a failure.
    report = yield
    if report.skipped and item.get_closest_marker("integration") is not None:
        report.outcome = "failed"
        report.longrepr = f"integration tests must not skip: {report.longrepr}"
    if report.failed:
        item.stash[_FAILED] = True
        if summary := os.environ.get("CALLGATE_FAILURE_LOG"):
            _daemon_log_tail(item, Path(summary))
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    # After a failed test's own teardown (its daemons and phones stopped), hang up what it left
    # in Asterisk: a caller left in the fallback queue once took the next test's call-taker and
    # failed that test too.
    yield
    if item.stash.get(_FAILED, False) and (gone := labpeers.hang_up_every_channel()):
        print(f"\nafter the failed {item.nodeid}: {gone} channels left in Asterisk hung up")


def _daemon_log_tail(item: pytest.Item, summary: Path, lines: int = 40) -> None:
    """The last lines of each daemon log of a failed test, short, for ``scripts/test`` to print
    at the end of the run (a long run's log is read at its head and tail)."""
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if not isinstance(tmp_path, Path):
        return
    with summary.open("a") as out:
        for log in sorted(tmp_path.glob("*.log")):
            out.write(f"--- {item.nodeid}: last {lines} lines of {log.name}\n")
            for line in log.read_text(errors="replace").splitlines()[-lines:]:
                try:
                    r = json.loads(line)
                except ValueError:
                    out.write(f"  {line[:200]}\n")
                    continue
                if not isinstance(r, dict):
                    continue
                keys = ("call_id", "agent_id", "endpoint", "error", "reason")
                extra = " ".join(f"{k}={r[k]}" for k in keys if r.get(k) is not None)
                stamp = str(r.get("timestamp", ""))[11:23]
                out.write(f"  {stamp} {r.get('level', '')} {r.get('event', '')} {extra}"[:300])
                out.write("\n")


def pytest_report_header() -> str:
    try:
        info = labpeers.ari_get("/asterisk/info")
    except OSError as exc:
        return f"lab: ARI unreachable ({exc})"
    assert isinstance(info, dict)
    return f"lab: Asterisk {info['system']['version']} (ARI http://127.0.0.1:8088)"


@pytest.fixture(scope="session", autouse=True)
def lab() -> None:
    state = labpeers.endpoint_state("1001")
    if state == "unreachable":
        pytest.fail("the lab is not up (ARI unreachable): run `scripts/lab up`", pytrace=False)


@pytest.fixture
def phones(tmp_path: Path) -> Iterator[Callable[..., list[labpeers.Softphone]]]:
    started: list[labpeers.Softphone] = []

    def start(*extensions: str) -> list[labpeers.Softphone]:
        new = labpeers.start_phones(extensions, tmp_path)
        started.extend(new)
        return new

    yield start
    for phone in started:
        phone.stop()
    # baresip un-registers when stopped; wait for that so the next test starts with no call-taker
    # registered (a stale contact would be rung).
    for phone in started:
        wait_for(
            lambda p=phone: labpeers.endpoint_state(p.extension) != "online",  # type: ignore[misc]
            10,
            f"softphone {phone.extension} to unregister",
        )


@pytest.fixture
def carrier(tmp_path: Path) -> Iterator[Callable[..., labpeers.CarrierCalls]]:
    started: list[labpeers.CarrierCalls] = []

    def place(callers: list[str], talk_seconds: float = 8.0) -> labpeers.CarrierCalls:
        calls = labpeers.CarrierCalls(
            callers=callers, talk_seconds=talk_seconds, workdir=tmp_path / f"sipp-{len(started)}"
        )
        calls.start()
        started.append(calls)
        return calls

    yield place
    for calls in started:
        calls.stop()


class Daemon(labpeers.Daemon):
    """``callgate run`` against the lab, with a journal of the test's own."""

    def __init__(self, log_path: Path, config: str | None = None, **env: str) -> None:
        """``config``: a config file's text (see labpeers.Daemon); ``env`` overrides it."""
        super().__init__(
            log_path,
            {
                "CALLGATE_RECORDING__ASTERISK_DIR": str(labpeers.RECORDINGS),
                # Off unless a test asks (daemon_env): the lab's queue_log holds the fallback
                # calls of earlier tests, which would otherwise land in this test's journal.
                "CALLGATE_FALLBACK__QUEUE_LOG": "",
                **env,
            },
            config,
        )
        self.journal_path = self.state_dir / "journal.db"

    @asynccontextmanager
    async def journal(self) -> AsyncIterator[Journal]:
        """The daemon's journal, opened beside it (as an admin's tool would)."""
        journal = await Journal.open(f"sqlite+aiosqlite:///{self.journal_path}")
        try:
            yield journal
        finally:
            await journal.close()

    def admin_url(self) -> str:
        """Its admin port, where the browser pages and the API are."""
        return f"http://127.0.0.1:{self.env.get('CALLGATE_OPS__HTTP_PORT', '8089')}"

    def calls(self) -> list[CallRecord]:
        """Every call in the daemon's journal, oldest first."""

        async def read() -> list[CallRecord]:
            async with self.journal() as journal:
                return list(reversed(await journal.recent_calls(limit=1000)))

        return asyncio.run(read())


def run_cli(
    *args: str, token: str | None = labpeers.LAB_ADMIN_TOKEN
) -> subprocess.CompletedProcess[str]:
    """``callgate <args>`` as an admin runs it (talks to the daemon's admin port), with the
    lab admin's token in ``CALLGATE_TOKEN`` (``token=None``: without any credential)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_TOKEN")}
    if token is not None:
        env["CALLGATE_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "callgate", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )


@pytest.fixture
def daemon(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Daemon]:
    """callgate running; ``@pytest.mark.daemon_env(KEY="value")`` adds environment settings."""
    marker = request.node.get_closest_marker("daemon_env")
    d = Daemon(tmp_path / "callgate.log", **(marker.kwargs if marker else {}))
    d.start()
    yield d
    d.stop()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
