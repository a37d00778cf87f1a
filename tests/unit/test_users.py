"""``callgate users``: the users file it writes is the one the daemon reads, hashes only."""

from __future__ import annotations

import argparse
import io
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callgate.auth import verify_secret
from callgate.config import ConfigError, load_settings
from callgate.tools import admin_client
from callgate.tools import users as users_cli
from callgate.tools.users import main

PASSWORD = "a-long-enough-password"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callgate.toml"
    path.write_text(
        '[auth]\nusers_file = "users.toml"\n'
        '[[auth.users]]\nname = "old"\nrole = "supervisor"\n'
        'password_hash = "$argon2id$v=19$m=65536,t=3,p=4$AAAA$AAAA"\n'
    )
    return path


Answer = tuple[int, dict[str, object]] | admin_client.AdminExit


@dataclass
class FakeDaemon:
    """The admin API as `callgate users` reaches it: ``answers`` are given in turn (none left:
    the daemon is not running); ``asked`` is what was asked (config, method, path)."""

    answers: list[Answer] = field(default_factory=list)
    asked: list[tuple[str, str, str]] = field(default_factory=list)

    def call(
        self, args: argparse.Namespace, method: str, path: str, body: object = None
    ) -> tuple[int, dict[str, object]]:
        self.asked.append((args.config, method, path))
        if not self.answers:
            raise admin_client.AdminExit(admin_client.UNREACHABLE, "connection refused")
        answer = self.answers.pop(0)
        if isinstance(answer, admin_client.AdminExit):
            raise answer
        return answer


@pytest.fixture(autouse=True)
def daemon(monkeypatch: pytest.MonkeyPatch) -> FakeDaemon:
    fake = FakeDaemon()
    monkeypatch.setattr(users_cli.admin_client, "call", fake.call)
    return fake


def users(config: Path, *argv: str, stdin: str = "") -> int:
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return main(["--config", str(config), *argv])
    finally:
        sys.stdin = old


def test_given_add_then_the_daemon_reads_the_user_with_the_password_hash_only(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = users(
        config, "add", "sri", "--role", "admin", "--password-stdin", "--unix-user", "sri",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0
    file = config.parent / "users.toml"
    assert PASSWORD not in file.read_text()
    assert stat.S_IMODE(file.stat().st_mode) == 0o640
    assert file.stat().st_gid == config.stat().st_gid
    auth = load_settings(config).auth
    assert [u.name for u in auth.users] == ["old", "sri"]
    assert verify_secret(auth.users[1].password_hash or "", PASSWORD)
    assert auth.local_users == {"sri": "sri"}
    err = capsys.readouterr().err
    assert "not running or not reachable" in err
    assert "next start or reload" in err


def test_given_a_running_daemon_then_it_is_asked_to_reload_through_its_admin_api(
    config: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.answers.append((200, {"result": "ok", "applied": ["auth"], "restart_needed": []}))
    assert users(config, "add", "cad1", "--role", "cad", "--commands", "block,unblock") == 0
    assert daemon.asked == [(str(config), "POST", "/api/reload")]
    assert "applies now" in capsys.readouterr().err
    assert load_settings(config).auth.users[1].commands == ["block", "unblock"]


def test_given_the_daemon_refuses_the_file_then_users_says_so_and_fails(
    config: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    # systemctl reload would have said 0 here: a refused SIGHUP reload still ends READY=1.
    daemon.answers.append((400, {"result": "refused", "error": "[auth] users: lab hash"}))
    assert users(config, "add", "prog", "--role", "admin", "--no-password") == 1
    err = capsys.readouterr().err
    assert "NOT applied" in err
    assert "[auth] users: lab hash" in err
    assert "applies now" not in err


def test_given_our_credential_refused_then_users_says_it_is_not_applied(
    config: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.answers.append(
        admin_client.AdminExit(admin_client.USAGE, "not authenticated (no token)")
    )
    assert users(config, "add", "prog", "--role", "admin", "--no-password") == 1
    assert "NOT applied" in capsys.readouterr().err


def test_given_a_reload_that_fails_otherwise_then_users_fails(
    config: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.answers.append((403, {"error": "supervisor may not reload"}))
    assert users(config, "add", "prog", "--role", "admin", "--no-password") == 1
    assert "may not reload" in capsys.readouterr().err


def test_given_no_reload_then_the_daemon_is_not_asked(config: Path, daemon: FakeDaemon) -> None:
    assert users(config, "--no-reload", "add", "prog", "--role", "admin", "--no-password") == 0
    assert daemon.asked == []


def test_given_a_token_then_it_is_printed_once_and_only_its_hash_kept(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert users(config, "add", "prog", "--role", "admin", "--no-password") == 0
    capsys.readouterr()
    assert users(config, "token", "prog") == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("prog.")
    text = (config.parent / "users.toml").read_text()
    assert token.rpartition(".")[2] not in text
    user = load_settings(config).auth.users[1]
    assert verify_secret(user.token_hash or "", token.rpartition(".")[2])


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["add", "old", "--role", "admin", "--no-password"], "exists already"),
        (["add", "ct", "--role", "call-taker", "--no-password"], "needs agent_id"),
        (
            [
                "add",
                "ct",
                "--role",
                "call-taker",
                "--agent-id",
                "1",
                "--phone",
                "PJSIP/2",
                "--no-password",
            ],
            "only supervisors and admins have a phone",
        ),
        (["token", "old"], "in the config's [[auth.users]]"),
        (["remove", "nobody"], "no user nobody"),
        (["add", "x", "--role", "admin", "--password-stdin"], "needs 12 characters"),
    ],
)
def test_given_a_wrong_request_then_it_is_refused_and_nothing_written(
    config: Path, argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert users(config, *argv, stdin="short\n") == 2
    assert says in capsys.readouterr().err
    assert not (config.parent / "users.toml").exists()


def test_given_a_supervisors_phone_then_it_is_kept_for_the_wallboards_listening(
    config: Path,
) -> None:
    argv = ["add", "sri", "--role", "supervisor", "--phone", "PJSIP/2001", "--no-password"]
    assert users(config, *argv) == 0
    (sri,) = [u for u in load_settings(config).auth.users if u.name == "sri"]
    assert sri.phone == "PJSIP/2001"
    assert sri.identity().phone == "PJSIP/2001"


def test_given_remove_then_the_user_and_their_unix_mapping_go(config: Path) -> None:
    argv = ["add", "budi", "--role", "call-taker", "--agent-id", "1001", "--no-password"]
    assert users(config, *argv, "--unix-user", "budi") == 0
    assert users(config, "remove", "budi") == 0
    auth = load_settings(config).auth
    assert [u.name for u in auth.users] == ["old"]
    assert auth.local_users == {}


def test_given_list_then_no_hash_is_shown(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert users(config, "add", "prog", "--role", "admin", "--no-password") == 0
    capsys.readouterr()
    assert users(config, "list") == 0
    out = capsys.readouterr().out
    assert "old" in out
    assert "prog" in out
    assert "argon2" not in out


def test_given_no_users_file_key_then_users_says_how_to_set_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("")
    assert users(config, "list") == 2
    assert "users_file" in capsys.readouterr().err


def test_given_a_bad_users_file_then_the_config_error_names_the_key(config: Path) -> None:
    (config.parent / "users.toml").write_text('[[users]]\nname = "x"\nrole = "boss"\n')
    with pytest.raises(ConfigError, match=r"auth.users_file .*users.toml:\n  users.0.role"):
        load_settings(config)


def test_given_a_name_in_both_then_the_config_is_refused(config: Path) -> None:
    (config.parent / "users.toml").write_text('[[users]]\nname = "old"\nrole = "admin"\n')
    with pytest.raises(ConfigError, match="old is listed twice"):
        load_settings(config)


def test_given_a_unix_user_mapped_in_both_then_the_config_is_refused(config: Path) -> None:
    text = config.read_text().replace("[[auth.users]]", 'local_users = {a = "old"}\n[[auth.users]]')
    config.write_text(text)
    (config.parent / "users.toml").write_text('local_users = {a = "old"}\n')
    with pytest.raises(ConfigError, match="a mapped in both"):
        load_settings(config)


def test_given_an_absent_users_file_then_it_holds_no_user(config: Path) -> None:
    assert [u.name for u in load_settings(config).auth.users] == ["old"]
