"""``callgate doctor``: each check passes on a host set up as the README says and fails, with its
fix, on one that is not; a check that cannot run says why."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callgate.config import Settings, load_settings
from callgate.storage.journal import Journal
from callgate.tools.doctor import asterisk as ast
from callgate.tools.doctor import host as local
from callgate.tools.doctor import main
from callgate.tools.doctor.checks import Check, Host, Status, in_root

REPO = Path(__file__).resolve().parents[2]
OWN = {
    "CALLGATE_ARI__PASSWORD": "own-ari-secret",
    "CALLGATE_AMI__PASSWORD": "own-ami-secret",
    "CALLGATE_AGI__SECRET": "own-agi-secret-of-32-characters",
    "CALLGATE_MQTT__USERNAME": "callgate",
    "CALLGATE_MQTT__PASSWORD": "own-mqtt-secret",
}


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings(None)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An Asterisk root as the repo ships it: its config, dialplan and prompts."""
    etc = tmp_path / "root" / "etc" / "asterisk"
    etc.mkdir(parents=True)
    for name in ("modules.conf", "manager.conf", "ari.conf", "queues.conf"):
        (etc / name).write_text((REPO / "asterisk-conf" / name).read_text())
    (etc / "extensions.conf").write_text((REPO / "dialplan" / "extensions.conf").read_text())
    (etc / "callgate-agi-secret.conf").write_text(
        "CALLGATE_AGI_SECRET=own-agi-secret-of-32-characters\n"
    )
    sounds = tmp_path / "root" / "usr" / "share" / "asterisk" / "sounds"
    (sounds / "custom" / "callgate").mkdir(parents=True)
    for line in (REPO / "sounds" / "prompts-id.tsv").read_text().splitlines():
        name = line.split("\t", 1)[0]
        if name and not name.startswith("#"):
            (sounds / "custom" / "callgate" / f"{name}.wav").write_bytes(b"RIFF")
    # Debian's sounds/en is an absolute link (to /etc/alternatives/...): inside the root.
    (tmp_path / "root" / "etc" / "alternatives").mkdir()
    (tmp_path / "root" / "etc" / "alternatives" / "en").mkdir()
    for name in ("beep", "beeperr"):
        (tmp_path / "root" / "etc" / "alternatives" / "en" / f"{name}.gsm").write_bytes(b"x")
    (sounds / "en").symlink_to("/etc/alternatives/en")
    return tmp_path / "root"


def host(s: Settings, root: Path, **kw: Any) -> Host:
    return Host(settings=s, config_path=None, asterisk_root=root, timeout=2.0, **kw)


# -- Asterisk's files -------------------------------------------------------------------------


def test_given_modules_marked_for_22_then_they_are_expected_only_there() -> None:
    text = (REPO / "asterisk-conf" / "modules.conf").read_text()
    on_22, on_16 = ast.required_modules(text, "22"), ast.required_modules(text, "16")
    assert "res_websocket_client.so" in on_22
    assert "res_websocket_client.so" not in on_16
    assert "res_ari.so" in on_16
    assert "chan_pjsip.so" in on_16


def test_given_an_absolute_link_then_it_resolves_inside_the_root(root: Path) -> None:
    found = in_root(root, "/usr/share/asterisk/sounds/en/beep.gsm")
    assert found == root / "etc" / "alternatives" / "en" / "beep.gsm"
    assert in_root(root, "/../../etc/asterisk") == root / "etc" / "asterisk"


def test_given_every_module_running_then_modules_pass_else_they_are_named(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = host(settings(monkeypatch), root)
    wanted = ast.required_modules((root / "etc/asterisk/modules.conf").read_text(), "22")
    running = ast.Running(wanted)
    running.version = "22.10.1"
    assert ast.check_modules(h, running).status is Status.PASS
    running = ast.Running(m for m in wanted if m != "res_ari.so")
    running.version = "22.10.1"
    check = ast.check_modules(h, running)
    assert check.status is Status.FAIL
    assert "res_ari.so" in check.detail
    assert check.fix
    assert ast.check_modules(h, None).status is Status.SKIP
    (root / "etc/asterisk/modules.conf").unlink()
    assert ast.check_modules(h, running).status is Status.SKIP


def test_given_the_shipped_dialplan_then_guard_and_fallback_pass(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialplan = ast.conf_sections((root / "etc/asterisk/extensions.conf").read_text())
    queue = [{"Response": "Success"}, {"Event": "QueueParams", "Queue": "fallback-112"}]
    assert ast.judge_dialplan(dialplan, queue).status is Status.PASS
    assert ast.judge_dialplan(dialplan, None).status is Status.PASS  # AMI away: files only
    check = ast.judge_dialplan(dialplan, [{"Response": "Success"}])
    assert check.status is Status.FAIL
    assert "no queue fallback-112" in check.detail


def test_given_a_dialplan_without_the_guard_then_it_fails() -> None:
    text = (REPO / "dialplan" / "extensions.conf").read_text()
    unguarded = "\n".join(line for line in text.splitlines() if "IFMODULE" not in line)
    check = ast.judge_dialplan(ast.conf_sections(unguarded), None)
    assert check.status is Status.FAIL
    assert "no guard" in check.detail
    no_fallback = text.replace("Queue(${FALLBACK_QUEUE},t)", "Wait(1)")
    assert "no Queue()" in ast.judge_dialplan(ast.conf_sections(no_fallback), None).detail


def test_given_the_agi_secret_then_the_same_passes_and_another_fails_unshown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = host(settings(monkeypatch, **OWN), Path("/"))
    assert ast.judge_agi_secret(h, OWN["CALLGATE_AGI__SECRET"]).status is Status.PASS
    other = ast.judge_agi_secret(h, "somebody-elses-secret")
    assert other.status is Status.FAIL
    assert "somebody" not in other.detail + other.fix
    assert OWN["CALLGATE_AGI__SECRET"] not in other.detail + other.fix
    assert ast.judge_agi_secret(h, "").status is Status.FAIL


def test_given_prompts_then_present_ones_pass_and_missing_ones_are_named(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = host(settings(monkeypatch), root)
    assert ast.check_prompts(h).status is Status.PASS, ast.check_prompts(h)
    (root / "usr/share/asterisk/sounds/custom/callgate/salam-112.wav").unlink()
    check = ast.check_prompts(h)
    assert check.status is Status.FAIL
    assert "custom/callgate/salam-112" in check.detail
    assert "make-prompts" in check.fix


# -- ARI and AMI, against small stand-ins -----------------------------------------------------


@pytest.fixture
async def ari_server(root: Path) -> AsyncIterator[Callable[[int], str]]:
    """ARI answering 200 for user callgate / own-ari-secret, or the status a test sets."""
    answer = {"status": 200}

    async def info(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Basic Y2FsbGdhdGU6b3duLWFyaS1zZWNyZXQ=":
            return web.json_response({"message": "Authentication required"}, status=401)
        return web.json_response({"system": {"version": "22.10.1"}}, status=answer["status"])

    async def modules(_request: web.Request) -> web.Response:
        wanted = ast.required_modules((root / "etc/asterisk/modules.conf").read_text(), "22")
        return web.json_response([{"name": m, "status": "Running"} for m in wanted])

    app = web.Application()
    app.router.add_get("/ari/asterisk/info", info)
    app.router.add_get("/ari/asterisk/modules", modules)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    def url(status: int = 200) -> str:
        answer["status"] = status
        return f"http://127.0.0.1:{port}"

    yield url
    await runner.cleanup()


async def test_given_ari_answers_then_ari_and_modules_pass(
    root: Path, ari_server: Callable[[int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = host(settings(monkeypatch, CALLGATE_ARI__URL=ari_server(200), **OWN), root)
    check, running = await ast.check_ari(h)
    assert check.status is Status.PASS, check
    assert ast.check_modules(h, running).status is Status.PASS
    assert running is not None
    assert running.version == "22.10.1"


async def test_given_a_wrong_ari_password_or_a_read_only_account_then_ari_fails(
    root: Path, ari_server: Callable[[int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = {**OWN, "CALLGATE_ARI__PASSWORD": "wrong", "CALLGATE_ARI__URL": ari_server(200)}
    check, running = await ast.check_ari(host(settings(monkeypatch, **wrong), root))
    assert (check.status, running) == (Status.FAIL, None)
    assert "wrong user or password" in check.detail
    ari_conf = root / "etc/asterisk/ari.conf"
    ari_conf.write_text(ari_conf.read_text().replace("read_only = no", "read_only = yes"))
    h = host(settings(monkeypatch, CALLGATE_ARI__URL=ari_server(200), **OWN), root)
    check, _ = await ast.check_ari(h)
    assert check.status is Status.FAIL
    assert "read_only" in check.detail


async def test_given_no_ari_then_it_fails_and_modules_are_skipped(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = host(settings(monkeypatch, CALLGATE_ARI__URL="http://127.0.0.1:9", **OWN), root)
    check, running = await ast.check_ari(h)
    assert check.status is Status.FAIL
    assert "does not answer" in check.detail
    assert ast.check_modules(h, running).status is Status.SKIP


@pytest.fixture
async def ami_port() -> AsyncIterator[int]:
    """AMI accepting callgate / own-ami-secret; the fallback queue exists."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        while True:
            block = b""
            while not block.endswith(b"\r\n\r\n"):
                line = await reader.readline()
                if not line:
                    writer.close()
                    return
                block += line
            fields = dict(
                line.split(": ", 1) for line in block.decode().strip().split("\r\n") if ": " in line
            )
            aid = fields.get("ActionID", "")
            if fields["Action"] == "Login":
                ok = fields.get("Secret") == "own-ami-secret"
                reply = "Success" if ok else "Error\r\nMessage: Authentication failed"
                writer.write(f"Response: {reply}\r\nActionID: {aid}\r\n\r\n".encode())
            elif fields["Action"] == "QueueStatus":
                writer.write(
                    f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n\r\n"
                    f"Event: QueueParams\r\nQueue: {fields['Queue']}\r\nActionID: {aid}\r\n\r\n"
                    f"Event: QueueStatusComplete\r\nActionID: {aid}\r\nEventList: Complete\r\n"
                    "\r\n".encode()
                )
            else:
                writer.close()
                return
            await writer.drain()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_given_the_shipped_asterisk_then_every_asterisk_check_passes(
    root: Path,
    ari_server: Callable[[int], str],
    ami_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = settings(
        monkeypatch, CALLGATE_ARI__URL=ari_server(200), CALLGATE_AMI__PORT=str(ami_port), **OWN
    )
    checks = await ast.asterisk_checks(host(s, root))
    assert {c.name: c.status for c in checks} == {
        "ARI": Status.PASS,
        "AMI": Status.PASS,
        "modules": Status.PASS,
        "dialplan": Status.PASS,
        "FastAGI secret": Status.PASS,
        "prompts (id)": Status.PASS,
    }, checks


async def test_given_a_wrong_ami_password_then_ami_fails_and_the_queue_is_not_asked(
    root: Path, ami_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**OWN, "CALLGATE_AMI__PASSWORD": "wrong", "CALLGATE_AMI__PORT": str(ami_port)}
    checks = {
        c.name: c for c in await ast.asterisk_checks(host(settings(monkeypatch, **env), root))
    }
    assert checks["AMI"].status is Status.FAIL
    assert "refused" in checks["AMI"].detail
    assert "not asked" in checks["dialplan"].detail


def test_given_manager_conf_then_missing_classes_fail(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = host(settings(monkeypatch, **OWN), root)
    login = {"Response": "Success"}
    assert ast.check_ami_account(h, login, None).status is Status.PASS
    manager = root / "etc/asterisk/manager.conf"
    manager.write_text(manager.read_text().replace("read = system,call,agent", "read = system"))
    check = ast.check_ami_account(h, login, None)
    assert check.status is Status.FAIL
    assert "agent" in check.detail
    assert ast.check_ami_account(h, None, "ConnectionRefusedError").status is Status.FAIL


# -- this host ------------------------------------------------------------------------------


def test_given_lab_secrets_then_they_fail_by_key_and_own_ones_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lab = local.check_lab_secrets(host(settings(monkeypatch), Path("/")))
    assert lab.status is Status.FAIL
    assert "ari.password" in lab.detail
    assert "lab-ari-secret" not in lab.detail
    assert local.check_lab_secrets(host(settings(monkeypatch, **OWN), Path("/"))).status is (
        Status.PASS
    )
    labbed = settings(monkeypatch, CALLGATE_LAB="1")
    assert local.check_lab_secrets(host(labbed, Path("/"))).status is Status.WARN


def test_given_the_recordings_folder_then_owner_mode_and_setgid_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = host(settings(monkeypatch, CALLGATE_RECORDING__ASTERISK_DIR=str(tmp_path)), Path("/"))
    assert local.check_recordings_folder(h).status is Status.FAIL  # missing
    folder = tmp_path / "callgate"
    folder.mkdir()
    monkeypatch.setattr(local, "_user_name", lambda uid: "asterisk")
    folder.chmod(0o2770)
    assert local.check_recordings_folder(h).status is Status.PASS
    folder.chmod(0o0770)
    check = local.check_recordings_folder(h)
    assert check.status is Status.FAIL
    assert "setgid" in check.detail
    assert "install -d -m 2770" in check.fix
    folder.chmod(0o2775)
    assert "others" in local.check_recordings_folder(h).detail


def test_given_the_service_user_then_its_group_comes_from_etc_group_or_the_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import grp
    import pwd

    folder = tmp_path / "callgate"
    folder.mkdir()
    h = host(settings(monkeypatch, CALLGATE_RECORDING__ASTERISK_DIR=str(tmp_path)), Path("/"))
    group = grp.getgrgid(folder.stat().st_gid)
    stranger = next(
        p.pw_name
        for p in pwd.getpwall()
        if p.pw_name not in group.gr_mem and p.pw_gid != group.gr_gid
    )
    h = Host(settings=h.settings, config_path=None, service_user=stranger)
    unit = tmp_path / "callgate.service"
    assert local.check_asterisk_group(h, (unit,)).status is Status.FAIL
    unit.write_text(f"[Service]\nSupplementaryGroups={group.gr_name}\n")
    assert local.check_asterisk_group(h, (unit,)).status is Status.PASS
    nobody = Host(settings=h.settings, config_path=None, service_user="no-such-user-here")
    assert local.check_asterisk_group(nobody, (unit,)).status is Status.FAIL


def _answers(**by_program: tuple[int, str]) -> local.Runner:
    def run(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
        answer = by_program.get(argv[0])
        if answer is None:
            return None
        return subprocess.CompletedProcess(argv, answer[0], answer[1], "")

    return run


@pytest.mark.parametrize(
    ("answers", "status"),
    [
        ({"timedatectl": (0, "yes\n")}, Status.PASS),
        ({"timedatectl": (0, "no\n")}, Status.FAIL),
        ({"chronyc": (0, "Reference ID : 1\nLeap status     : Normal\n")}, Status.PASS),
        ({"chronyc": (0, "Leap status     : Not synchronised\n")}, Status.FAIL),
        ({"timedatectl": (1, "")}, Status.WARN),
        ({}, Status.WARN),
    ],
)
def test_given_the_clock_then_synchronised_passes_and_unknown_warns(
    answers: dict[str, tuple[int, str]], status: Status
) -> None:
    check = local.check_clock(_answers(**answers))
    assert check.status is status
    if status is not Status.PASS:
        assert "set-ntp" in check.fix


def test_given_recordings_then_the_disk_must_hold_days_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings(monkeypatch, CALLGATE_RECORDING__ASTERISK_DIR=str(tmp_path))
    assert local.check_disk(host(s, Path("/"))).status is Status.SKIP
    (tmp_path / "callgate").mkdir()
    (tmp_path / "callgate" / "a.wav").write_bytes(b"x" * 7000)  # 1000 bytes a day
    old = tmp_path / "callgate" / "old.wav"
    old.write_bytes(b"x" * 10**6)
    os.utime(old, (0, 0))  # older than the week: not the current rate
    assert local.check_disk(host(s, Path("/"), days=30)).status is Status.PASS
    check = local.check_disk(host(s, Path("/"), days=10**15))
    assert check.status is Status.FAIL
    assert "retention_days" in check.fix


async def test_given_a_journal_then_migrated_passes_missing_warns_and_old_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    h = host(settings(monkeypatch, CALLGATE_STORAGE__URL=url), Path("/"), service_user="root")
    assert (await local.check_journal(h)).status is Status.WARN
    (tmp_path / "journal.db").write_bytes(b"")  # an empty SQLite file: no revision
    old = await local.check_journal(h)
    assert old.status is Status.FAIL
    assert "revision None" in old.detail
    (tmp_path / "journal.db").unlink()
    journal = await Journal.open(url)
    await journal.close()
    check = await local.check_journal(h)
    assert check.status is Status.PASS, check
    stranger = host(h.settings, Path("/"), service_user="nobody")
    assert (await local.check_journal(stranger)).status is Status.FAIL


async def test_given_no_broker_then_it_fails_and_mqtt_off_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = settings(monkeypatch, CALLGATE_MQTT__PORT="9")
    check = await local.check_broker(host(s, Path("/")))
    assert check.status is Status.FAIL
    assert "127.0.0.1:9" in check.detail
    off = settings(monkeypatch, CALLGATE_MQTT__ENABLED="false")
    assert (await local.check_broker(host(off, Path("/")))).status is Status.SKIP


# -- the command ------------------------------------------------------------------------------


def test_given_checks_then_the_table_and_json_say_the_same_and_exit_1_on_a_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = [
        Check("ARI", Status.PASS, "fine"),
        Check("clock", Status.WARN, "unknown", "enable NTP"),
        Check("disk", Status.FAIL, "full", "more disk"),
    ]

    async def fake(_host: Host) -> list[Check]:
        return checks

    monkeypatch.setattr("callgate.tools.doctor.run_checks", fake)
    assert main([]) == 1
    table = capsys.readouterr().out
    assert "fix: more disk" in table
    assert "fix: enable NTP" in table
    assert table.rstrip().endswith("1 failed")
    assert main(["--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is False
    assert [c["status"] for c in body["checks"]] == ["pass", "pass", "warn", "fail"]
    checks.pop()
    assert main([]) == 0


def test_given_a_bad_config_then_doctor_says_so_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("[ari]\nnope = 1\n")
    assert main(["--config", str(bad), "--json"]) == 2
    body = json.loads(capsys.readouterr().out)
    assert body["checks"][0]["name"] == "config"
    assert "ari.nope" in body["checks"][0]["detail"]


def test_given_secrets_env_beside_the_config_then_the_checks_get_its_values_unshown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The package's layout: the template's config, the passwords in secrets.env beside it.
    config = tmp_path / "callgate.toml"
    config.write_text('[ari]\nusername = "callgate"\n')
    (tmp_path / "secrets.env").write_text(
        "# the unit's EnvironmentFile\n"
        "CALLGATE_ARI__PASSWORD='own-ari-secret'\n"
        "CALLGATE_AGI__SECRET=own-agi-secret-of-32-characters\n"
    )
    monkeypatch.delenv("CALLGATE_ARI__PASSWORD", raising=False)
    monkeypatch.setenv("CALLGATE_AGI__SECRET", "set-by-the-admin-of-32-characters")
    seen: list[Settings] = []

    async def fake(h: Host) -> list[Check]:
        seen.append(h.settings)
        return []

    monkeypatch.setattr("callgate.tools.doctor.run_checks", fake)
    assert main(["--config", str(config)]) == 0
    assert seen[0].ari.password.get_secret_value() == "own-ari-secret"
    # A variable already set wins, as the admin meant it to.
    assert seen[0].agi.secret.get_secret_value() == "set-by-the-admin-of-32-characters"
    out = capsys.readouterr().out
    assert "secrets.env" in out
    assert "own-ari-secret" not in out
    # Only while the settings were read: the environment is as it was.
    assert "CALLGATE_ARI__PASSWORD" not in os.environ


async def test_given_a_database_that_never_answers_then_the_journal_check_keeps_to_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Accepts the connection and says nothing: asyncpg alone would wait 60 s.
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"postgresql+asyncpg://callgate:db-secret@127.0.0.1:{port}/callgate"
    s = settings(monkeypatch, CALLGATE_STORAGE__URL=url)
    h = Host(settings=s, config_path=None, asterisk_root=Path("/"), timeout=0.3)
    try:
        check = await asyncio.wait_for(local.check_journal(h), 10)
    finally:
        for writer in held:
            writer.close()
        server.close()
    assert check.status is Status.FAIL
    assert "db-secret" not in check.detail
