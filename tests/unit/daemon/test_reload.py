"""Reloading the configuration (daemon/reload.py) over a real engine, core, authenticator and
session store: what changes live is applied, what needs a restart is named and kept, a bad
file is refused naming the key; and ``callgate reload`` through the admin API."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callgate.asterisk.ami.messages import AsteriskDeviceState, DeviceStatus
from callgate.auth import Authenticator
from callgate.config import Settings, acd_config
from callgate.core.acd import Acd
from callgate.core.agents import AgentState, DeviceState
from callgate.core.events import AgentLoggedIn, CallArrived
from callgate.daemon.calltakers import CallTakerControl, PhoneRegistrations
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.reload import LiveParts, Reloader, changed_keys, is_live, read_config
from callgate.daemon.view import LiveDaemonView
from callgate.http.server import OpsHttp
from callgate.http.session_store import SessionStore
from callgate.tools.admin import main
from tests.unit.auth_users import _CHEAP
from tests.unit.daemon.conftest import NoPhones, control_of, projected


@dataclass
class Phones:
    """The ARI adapter as a reload sees it: the settings it reads per call, the phones it
    follows (every new one online and idle)."""

    settings: Settings | None = None
    followed: list[dict[str, str]] = field(default_factory=list)

    def reconfigure(self, settings: Settings) -> None:
        self.settings = settings

    async def follow_calltakers(self, endpoints: Mapping[str, str]) -> dict[str, DeviceState]:
        known = self.followed[-1] if self.followed else {"1001": "PJSIP/1001"}
        self.followed.append(dict(endpoints))
        return {a: DeviceState.NOT_INUSE for a in endpoints if a not in known}


def config_text(
    *,
    endpoints: tuple[str, ...] = ("1001",),
    tag_threshold: float = 0.5,
    token_secret: str = "old-secret",
    users: tuple[str, ...] = ("root", "sup"),
    extra: str = "",
) -> str:
    """A config file (TOML) with the settings these tests change."""
    lines = [
        "lab = true",
        "[calltakers]",
        "endpoints = [" + ", ".join(f'"PJSIP/{e}"' for e in endpoints) + "]",
        "[screening]",
        f"tag_threshold = {tag_threshold}",
    ]
    roles = {"root": "admin", "sup": "supervisor"}
    for name in users:
        lines += [
            "[[auth.users]]",
            f'name = "{name}"',
            f'role = "{roles[name]}"',
            f'token_hash = "{_hash(token_secret if name == "root" else "sup-secret")}"',
        ]
    return "\n".join(lines) + "\n" + extra


_HASHES: dict[str, str] = {}


def _hash(secret: str) -> str:
    if secret not in _HASHES:
        _HASHES[secret] = _CHEAP.hash(secret)
    return _HASHES[secret]


@dataclass
class Running:
    path: Path
    reloader: Reloader
    engine: Engine
    phones: Phones
    authenticator: Authenticator
    sessions: SessionStore
    control: CallTakerControl
    levels: list[str]

    def write(self, text: str) -> None:
        self.path.write_text(text)

    async def reload(self) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
        outcome = await self.reloader.reload("test")
        return outcome.applied, outcome.restart_needed, outcome.error


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    path = tmp_path / "callgate.toml"
    path.write_text(config_text())
    settings = read_config(path)
    engine = Engine(Acd(acd_config(settings, callback_prefix="cb-run-")), NoPhones())
    await engine.feed(AgentLoggedIn("1001", "PJSIP/1001"))
    auth = Authenticator(settings.auth.users, local_users={"ops": "root"})
    sessions = SessionStore(idle_timeout=3600.0, lifetime=7200.0)
    control = control_of(engine, settings.calltakers.endpoints)
    phones = Phones()
    levels: list[str] = []
    health = Health()
    parts = LiveParts(
        engine,
        phones,
        auth,
        sessions,
        control,
        callback_prefix="cb-run-",
        registrations=PhoneRegistrations(settings.calltakers.endpoints),
        metrics=Metrics(projected(engine), health, calltakers=["1001"]),
        live=(LiveDaemonView(engine, control, health, None, set_log_level=levels.append),),
        set_log_level=levels.append,
    )
    yield Running(
        path, Reloader(path, settings, parts), engine, phones, auth, sessions, control, levels
    )
    engine.close()


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


async def test_given_a_call_taker_and_thresholds_changed_then_both_apply_while_a_call_waits(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    await running.engine.feed(CallArrived("c1", caller="0812"))  # rings 1001
    table = running.control.endpoints  # the queue_log writer names call-takers from it
    running.write(config_text(endpoints=("1001", "1002"), tag_threshold=0.9))
    with caplog.at_level(logging.INFO):
        assert await running.reload() == (("calltakers", "screening"), (), None)
    acd = running.engine.acd
    assert acd.agents["1002"].state is AgentState.AVAILABLE  # logged in, as at start
    assert acd.config.screening is not None
    assert acd.config.screening.tag_threshold == 0.9
    assert acd.calls["c1"].ringing == ["1001"]  # the call in progress is untouched
    assert running.control.endpoints is table
    assert table == {"1001": "PJSIP/1001", "1002": "PJSIP/1002"}
    assert running.phones.followed == [{"1001": "PJSIP/1001", "1002": "PJSIP/1002"}]
    assert running.phones.settings is running.reloader.running  # prompts read per call
    assert running.reloader.parts.metrics is not None
    assert running.reloader.parts.metrics.calltakers == ("1001", "1002")
    infos = messages(caplog, logging.INFO)
    assert "configuration reloaded: [calltakers] changed" in infos
    assert "configuration reloaded: [screening] changed" in infos
    # The callback ids keep the run's prefix: they are the journal's keys.
    assert acd.config.callbacks is not None
    assert acd.config.callbacks.id_prefix == "cb-run-"


async def test_given_a_call_taker_removed_during_a_call_then_logged_out_after_it(
    running: Running,
) -> None:
    running.write(config_text(endpoints=("1001", "1002")))
    await running.reload()
    await running.engine.feed(CallArrived("c1", caller="0812"))
    ringing = running.engine.acd.calls["c1"].ringing[0]
    others = {"1001", "1002"} - {ringing}
    running.write(config_text(endpoints=tuple(others)))
    assert (await running.reload())[0] == ("calltakers",)
    agent = running.engine.acd.agents[ringing]
    assert agent.state is AgentState.RINGING  # the ring goes on ...
    assert agent.pending_logout  # ... and the call-taker leaves after it
    assert ringing not in running.control.endpoints


async def test_given_a_roster_then_an_added_call_taker_not_on_duty_starts_logged_out(
    running: Running,
) -> None:
    roster = (
        '[roster]\ntimezone = "WITA"\n[[roster.shifts]]\nname = "all-day"\n'
        'start = "00:00"\nend = "24:00"\ncalltakers = ["1001"]\n'
    )
    running.write(config_text(endpoints=("1001", "1002"), extra=roster))
    applied, _, error = await running.reload()
    assert (applied, error) == (("calltakers", "roster"), None)
    agents = running.engine.acd.agents
    assert agents["1001"].state is AgentState.AVAILABLE
    assert agents["1002"].state is AgentState.LOGGED_OUT  # rostered off: logs in when on
    assert [s.shift for s in running.engine.acd.shift_staffing] == ["all-day"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[acd]\nstrategy = "nope"\n', "acd.strategy"),
        ("[acd]\nmax_wait = 1\n", "acd.max_wait"),
        ("[acd]\nmispelt = 1\n", "acd.mispelt"),
        ("[acd\n", "callgate.toml"),
        (
            '[[roster.shifts]]\nname = "x"\nstart = "08:00"\nend = "16:00"\ncalltakers = ["9"]\n',
            "roster",
        ),
    ],
)
async def test_given_a_bad_file_then_refused_naming_the_key_and_the_running_one_is_kept(
    running: Running, caplog: pytest.LogCaptureFixture, text: str, key: str
) -> None:
    before, config = running.reloader.running, running.engine.acd.config
    running.write(config_text(endpoints=("1001", "1002")) + text)
    applied, restart, error = await running.reload()
    assert (applied, restart) == ((), ())
    assert error is not None
    assert key in error
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.getMessage() == "configuration reload refused; the running configuration is kept"
    assert key in line.__dict__["error"]
    assert running.reloader.running is before
    assert running.engine.acd.config is config
    assert "1002" not in running.control.endpoints


async def test_given_a_lab_secret_outside_the_lab_then_refused(running: Running) -> None:
    running.write(config_text().replace("lab = true", "lab = false"))
    _, _, error = await running.reload()
    assert error is not None
    assert "ari.password" in error


async def test_given_keys_that_need_a_restart_then_named_in_one_warning_and_kept(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    running.write(
        config_text(endpoints=("1001", "1002"))
        + '[ari]\nurl = "http://10.0.0.9:8088"\n[ops]\nhttp_port = 9999\n'
        + '[callbacks]\nenabled = false\n[call]\nfallback_queue = "other"\ngreeting = "sound:x"\n'
    )
    applied, restart, error = await running.reload()
    assert error is None
    assert applied == ("call", "calltakers")
    assert restart == ("ari.url", "call.fallback_queue", "callbacks.enabled", "ops.http_port")
    [warning] = messages(caplog, logging.WARNING)
    assert warning == (
        "configuration changed, needs a restart: ari.url, call.fallback_queue,"
        " callbacks.enabled, ops.http_port"
    )
    kept = running.reloader.running
    assert (kept.ari.url, kept.ops.http_port, kept.callbacks.enabled) == (
        "http://127.0.0.1:8088",
        8089,
        True,
    )
    assert kept.call.greeting == "sound:x"  # read per call: live
    assert running.engine.acd.config.callbacks is not None  # not turned off while running
    # Reloaded again unchanged: still named, until the restart.
    assert (await running.reload())[1] == restart


async def test_given_a_rotated_token_then_the_old_one_stops_and_the_new_one_works_at_once(
    running: Running,
) -> None:
    auth = running.authenticator
    assert await auth.check_token("root.old-secret") is not None  # accepted, remembered
    running.write(config_text(token_secret="new-secret"))
    assert await running.reload() == (("auth",), (), None)
    assert await auth.check_token("root.old-secret") is None
    identity = await auth.check_token("root.new-secret")
    assert identity is not None
    assert identity.name == "root"
    assert await auth.check_token("sup.sup-secret") is not None  # unchanged users go on


async def test_given_a_user_removed_then_their_sessions_end_and_the_socket_forgets_them(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    running.sessions.start("sup", 0.0)
    running.sessions.start("sup", 0.0)
    running.sessions.start("root", 0.0)
    running.write(config_text(users=("root",)))
    with caplog.at_level(logging.INFO):
        await running.reload()
    assert len(running.sessions) == 1  # root's
    [line] = [r for r in caplog.records if "removed or changed" in r.getMessage()]
    assert (line.__dict__["user"], line.__dict__["sessions_ended"]) == ("sup", 2)
    assert running.authenticator.identity("sup") is None
    assert running.authenticator.local_identity("ops") is None  # local_users from the file
    assert await running.authenticator.check_token("sup.sup-secret") is None


async def test_a_credential_checked_while_its_user_is_reloaded_away_is_not_accepted(
    running: Running,
) -> None:
    checking = asyncio.create_task(running.authenticator.check_token("sup.sup-secret"))
    await asyncio.sleep(0)  # the check runs in a worker thread now
    running.write(config_text(users=("root",)))
    await running.reload()
    assert await checking is None


async def test_the_log_level_follows_the_file_only_when_it_changed_there(
    running: Running,
) -> None:
    running.write(config_text())
    assert await running.reload() == ((), (), None)  # nothing changed: a level set by hand stays
    running.write(config_text(extra='[log]\nlevel = "DEBUG"\n'))
    assert await running.reload() == (("log",), (), None)
    assert running.levels == ["DEBUG"]


async def test_reloads_run_one_at_a_time_and_the_last_file_wins(running: Running) -> None:
    running.write(config_text(endpoints=("1001", "1002")))
    first = asyncio.create_task(running.reload())
    second = asyncio.create_task(running.reload())
    await asyncio.sleep(0)
    running.write(config_text(endpoints=("1001", "1003")))
    assert (await first)[0] == ("calltakers",)
    assert (await second)[0] in ((), ("calltakers",))
    assert set(running.control.endpoints) == {"1001", "1003"}


def test_which_keys_are_live() -> None:
    assert is_live("calltakers.endpoints")
    assert is_live("screening.tag_threshold")
    assert not is_live("screening.enabled")
    assert not is_live("ari.url")
    assert not is_live("storage.url")
    assert not is_live("agi.port")
    assert is_live("agi.pause_reasons")
    before = Settings()
    after = before.model_copy(update={"log": before.log.model_copy(update={"level": "DEBUG"})})
    assert changed_keys(before, after) == ["log.level"]


# -- callgate reload, through the admin API ----------------------------------------------------


async def test_callgate_reload_reports_what_it_applied_and_exits_2_on_a_bad_file(
    running: Running, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def reload(by: str) -> dict[str, object]:
        return (await running.reloader.reload(by)).to_json()

    health = Health()
    view = LiveDaemonView(
        running.engine, running.control, health, None, set_log_level=print, reload=reload
    )
    metrics = Metrics(projected(running.engine), health)
    http = OpsHttp(view, health, metrics.registry, authenticator=running.authenticator, port=0)
    await http.start()
    monkeypatch.setenv("CALLGATE_TOKEN", "root.old-secret")
    try:
        running.write(config_text(endpoints=("1001", "1002")) + '[ari]\nurl = "http://x:1"\n')
        assert await asyncio.to_thread(main, ["reload", "--url", http.url]) == 0
        out = capsys.readouterr().out
        assert "configuration reloaded: [calltakers]" in out
        assert "changed, needs a restart: ari.url" in out
        running.write(config_text() + "[acd]\nstrategy = 3\n")
        assert await asyncio.to_thread(main, ["reload", "--url", http.url]) == 2
        err = capsys.readouterr().err
        assert "reload refused, the running configuration is kept" in err
        assert "acd.strategy" in err
        assert await asyncio.to_thread(main, ["reload", "--json", "--url", http.url]) == 2
        assert json.loads(capsys.readouterr().out)["result"] == "refused"
        running.write(config_text(endpoints=("1001", "1002")))
        assert await asyncio.to_thread(main, ["reload", "--json", "--url", http.url]) == 0
        body = json.loads(capsys.readouterr().out)
        assert body == {"result": "ok", "applied": [], "restart_needed": []}
        monkeypatch.setenv("CALLGATE_TOKEN", "sup.sup-secret")
        assert await asyncio.to_thread(main, ["reload", "--url", http.url]) == 2  # 403
        assert "may not reload" in capsys.readouterr().err
    finally:
        await http.stop()


def test_a_call_taker_added_by_reload_has_their_phone_registration_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registrations = PhoneRegistrations(["PJSIP/1001"])
    now = {"PJSIP/1002": DeviceStatus(AsteriskDeviceState.NOT_INUSE, registered=True)}
    with caplog.at_level(logging.INFO):
        registrations.follow(["PJSIP/1001", "PJSIP/1002"], now.get)
        registrations("PJSIP/1002", now["PJSIP/1002"])  # the same again: not logged twice
        registrations.follow(["PJSIP/1002"], now.get)
        registrations("PJSIP/1001", now["PJSIP/1002"])  # no longer a call-taker's phone
    lines = [(r.getMessage(), r.__dict__.get("endpoint")) for r in caplog.records]
    assert lines == [("call-taker phone registered", "PJSIP/1002")]
