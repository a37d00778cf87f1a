"""[auth]: users, roles and hashed secrets; ``callgate auth hash|token``."""

from __future__ import annotations

import io

import pytest

from callgate.auth import GRANTS, Authenticator, Identity, Permission, Role, split_token
from callgate.config import ConfigError, load_settings
from callgate.tools import credentials


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[[auth.users]]\nname = "a"\nrole = "call-taker"\n', "a call-taker needs agent_id"),
        ('[[auth.users]]\nname = "a"\nrole = "admin"\nagent_id = "1"\n', "only call-takers"),
        ('[[auth.users]]\nname = "a"\nrole = "admin"\ncommands = ["block"]\n', "only CAD"),
        ('[[auth.users]]\nname = "a"\nrole = "cad"\ncommands = ["reboot"]\n', "commands.0"),
        ('[[auth.users]]\nname = "a"\nrole = "cad"\npassword_hash = "$argon2id$x"\n', "broker"),
        ('[[auth.users]]\nname = "a"\nrole = "admin"\npassword_hash = "secret"\n', "argon2"),
        ('[[auth.users]]\nname = "a b"\nrole = "admin"\n', "auth.users.0.name"),
        ('[[auth.users]]\nname = "a.b"\nrole = "admin"\n', "auth.users.0.name"),
        ('[[auth.users]]\nname = "a"\nrole = "god"\n', "auth.users.0.role"),
        (
            '[[auth.users]]\nname = "a"\nrole = "admin"\n'
            '[[auth.users]]\nname = "a"\nrole = "cad"\n',
            "listed twice",
        ),
        ('[auth]\nlocal_users = { alice = "nobody" }\n', "alice = nobody: no [[auth.users]]"),
        ('[auth]\nlocal_users = { "a b" = "x" }\n', "auth.local_users.a b.[key]"),
        ('[auth]\nlocal_users = { alice = "a.b" }\n', "auth.local_users.alice"),
        (
            '[auth]\nlocal_users = { alice = "c" }\n[[auth.users]]\nname = "c"\nrole = "cad"\n',
            "alice = c: a CAD client is a user on MQTT only",
        ),
        ('[auth]\nlocal_user = { alice = "a" }\n', "auth.local_user: unknown key"),
    ],
)
def test_given_a_bad_user_then_the_config_is_refused_naming_it(
    tmp_path: pytest.TempPathFactory, toml: str, named: str
) -> None:
    path = tmp_path / "c.toml"  # type: ignore[operator]
    path.write_text(toml)
    with pytest.raises(ConfigError, match="auth") as refused:
        load_settings(path)
    assert named in str(refused.value)


def test_roles_grant_what_the_issue_says() -> None:
    assert GRANTS[Role.ADMIN] == frozenset(Permission)
    assert Permission.LOG_LEVEL not in GRANTS[Role.SUPERVISOR]
    assert {Permission.BLOCK, Permission.ANY_STATE, Permission.CALLBACK} <= GRANTS[Role.SUPERVISOR]
    assert GRANTS[Role.CALL_TAKER] == {
        Permission.VIEW_AGENTS,
        Permission.OWN_STATE,
        Permission.OWN_DISPOSITION,
    }
    assert GRANTS[Role.CAD] == frozenset()
    taker = Identity("budi", Role.CALL_TAKER, agent_id="1001")
    assert taker.may_act_for("1001")
    assert not taker.may_act_for("1002")
    assert not taker.may_send("block")
    cad = Identity("cad-a", Role.CAD, commands=frozenset({"block"}))
    assert cad.may_send("block")
    assert not cad.may_send("unblock")
    assert not cad.may_act_for("1001")


def test_split_token() -> None:
    assert split_token("sup.abc") == ("sup", "abc")
    assert split_token("abc") is None
    assert split_token(".abc") is None
    assert split_token("sup.") is None


def test_auth_token_prints_a_token_and_a_hash_that_accepts_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert credentials.main(["token", "sri"]) == 0
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert token.startswith("sri.")
    assert len(token) > 40
    [line] = [x for x in captured.err.splitlines() if x.startswith("token_hash = ")]
    stored = line.split('"')[1]
    config = load_settings_from(f'[[auth.users]]\nname = "sri"\nrole = "supervisor"\n{line}\n')
    auth = Authenticator(config)
    import asyncio

    assert asyncio.run(auth.check_token(token)) == Identity("sri", Role.SUPERVISOR)
    assert asyncio.run(auth.check_token(token + "x")) is None
    assert stored.startswith("$argon2id$")
    assert credentials.main(["token", "no.dots"]) == 2


def test_auth_hash_reads_the_password_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert credentials.main(["hash"]) == 0
    line = capsys.readouterr().out.strip()
    assert "correct horse" not in line
    users = load_settings_from(f'[[auth.users]]\nname = "ops"\nrole = "admin"\n{line}\n')
    import asyncio

    auth = Authenticator(users)
    assert asyncio.run(auth.check_password("ops", "correct horse battery")) is not None
    assert asyncio.run(auth.check_password("ops", "correct horse")) is None
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert credentials.main(["hash"]) == 2


def load_settings_from(toml: str) -> list:  # type: ignore[type-arg]
    import tomllib

    from callgate.auth import AuthSettings

    return AuthSettings.model_validate(tomllib.loads(toml)["auth"]).users


def test_the_lab_users_match_their_hashes_and_are_refused_outside_the_lab() -> None:
    import asyncio
    import importlib.util
    import sys
    from pathlib import Path

    from callgate.auth import UserSettings, hash_secret
    from callgate.config import LAB_TOKEN_HASH, Settings, lab_secrets_in_use

    path = Path(__file__).resolve().parents[2] / "scripts" / "labpeers.py"
    spec = importlib.util.spec_from_file_location("labpeers_for_auth", path)
    assert spec is not None
    assert spec.loader is not None
    labpeers = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = labpeers  # its dataclasses look their module up
    try:
        spec.loader.exec_module(labpeers)
    finally:
        del sys.modules[spec.name]
    assert labpeers.LAB_ADMIN_TOKEN_HASH == LAB_TOKEN_HASH
    users = [UserSettings.model_validate(u) for u in labpeers.LAB_USERS]
    who = asyncio.run(Authenticator(users).check_token(labpeers.LAB_ADMIN_TOKEN))
    assert who == Identity("lab-admin", Role.ADMIN)
    settings = Settings(auth={"users": labpeers.LAB_USERS}, lab=False)  # type: ignore[arg-type]
    # Every lab user's published secret, the supervisor's and call-taker's passwords too.
    assert [k for k in lab_secrets_in_use(settings) if k.startswith("auth.")] == [
        "auth.users.0.token_hash",
        "auth.users.1.password_hash",
        "auth.users.2.password_hash",
    ]
    # The same published password hashed again (another salt) is the same secret.
    again = [
        {**u, "password_hash": hash_secret(labpeers.LAB_SUPERVISOR[1])}
        for u in labpeers.LAB_USERS
        if u["name"] == labpeers.LAB_SUPERVISOR[0]
    ]
    rehashed = Settings(auth={"users": again}, lab=False)  # type: ignore[arg-type]
    assert lab_secrets_in_use(rehashed)[-1:] == ["auth.users.0.password_hash"]
    # A centre's own user of that name with its own password is not the lab's.
    own = [{**again[0], "password_hash": hash_secret("a-centre-supervisor-password")}]
    mine = Settings(auth={"users": own}, lab=False)  # type: ignore[arg-type]
    assert not [k for k in lab_secrets_in_use(mine) if k.startswith("auth.")]
    lab = Settings(auth={"users": labpeers.LAB_USERS}, lab=True)  # type: ignore[arg-type]
    assert lab_secrets_in_use(lab) == []


def test_a_unix_user_is_the_user_local_users_maps_it_to_and_nobody_else() -> None:
    from tests.unit.auth_users import USERS

    auth = Authenticator(USERS, local_users={"alice": "sup", "ops": "cad-a", "ghost": "gone"})
    alice = auth.local_identity("alice")
    assert alice is not None
    assert (alice.name, alice.role) == ("sup", Role.SUPERVISOR)
    assert auth.local_identity("ops") is None  # a CAD client is a user on MQTT only
    assert auth.local_identity("ghost") is None  # maps to no user
    assert auth.local_identity("root") is None  # not listed: nobody, root or not
    assert auth.local_identity("sup") is None  # a callgate user's name is not a Unix user's
