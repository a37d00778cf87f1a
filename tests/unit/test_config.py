"""Config: a bad file stops start-up with a message naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callgate.cli import main
from callgate.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callgate.toml"
    path.write_text(text)
    return path


def test_given_no_file_then_lab_defaults() -> None:
    settings = load_settings(None)
    assert settings.ari.url == "http://127.0.0.1:8088"
    assert settings.calltakers.endpoints[0] == "PJSIP/1001"


def test_given_the_shipped_sample_config_then_it_loads() -> None:
    sample = Path(__file__).resolve().parents[2] / "callgate.example.toml"
    assert load_settings(sample).ari.app == "callgate"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[ari]\nurl = 'ftp://x'\n", "ari.url"),
        ("[calltakers]\nring_timeout = 1\n", "calltakers.ring_timeout"),
        ("[calltakers]\nendpoints = ['1001']\n", "calltakers.endpoints"),
        ("[ari]\npasword = 'x'\n", "ari.pasword: unknown key"),
        ("[log]\nlevel = 'LOUD'\n", "log.level"),
        ("[agi]\nmax_sessions_per_peer = 0\n", "agi.max_sessions_per_peer: Input should be"),
        ("[agi]\nmax_reply_lines = 1\n", "agi.max_reply_lines: Input should be"),
        ("[agi]\nmax_line_bytes = 10\n", "agi.max_line_bytes: Input should be"),
        ("[agi]\nmax_session_bytes = 10\n", "agi.max_session_bytes: Input should be"),
        ("[agi]\nwarning_interval = -1\n", "agi.warning_interval: Input should be"),
        ("[ops]\nsession_idle_hours = 0\n", "ops.session_idle_hours: Input should be"),
        ("[ops]\nsession_lifetime_hours = 200\n", "ops.session_lifetime_hours: Input should"),
        ("[ops]\ncookie_secure = 'maybe'\n", "ops.cookie_secure"),
        (
            "[ops]\nsession_idle_hours = 10\nsession_lifetime_hours = 9\n",
            "session_idle_hours (10) must not exceed session_lifetime_hours (9)",
        ),
        ("[agi]\nlisten_host = '0.0.0.0'\n", "agi.listen_host: Value error, must be a loopback"),
        ("[agi]\nlisten_host = '10.1.2.3'\n", "agi.listen_host: Value error, must be a loopback"),
        ("[agi]\nlisten_host = 'callgate.example'\n", "agi.listen_host: Value error"),
        ("[ops]\nsocket_path = 'run/admin.sock'\n", "ops.socket_path: Value error, must be"),
        (f"[ops]\nsocket_path = '/{'x' * 107}'\n", "ops.socket_path: Value error, longer"),
        ("[ops]\nsocket_group = 'a b'\n", "ops.socket_group: String should match"),
        ("[ops]\nsocket_mode = '0666'\n", "ops.socket_mode: unknown key"),
    ],
)
def test_given_a_bad_value_then_the_error_names_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_settings(write(tmp_path, text))


def test_given_broken_toml_then_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("callgate.toml")):
        load_settings(write(tmp_path, "[ari\n"))


def test_given_a_missing_file_then_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_given_env_override_then_it_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLGATE_ARI__PASSWORD", "from-env")
    settings = load_settings(write(tmp_path, "[ari]\npassword = 'from-file'\n"))
    assert settings.ari.password.get_secret_value() == "from-env"
    assert "from-env" not in repr(settings)


def test_given_a_bad_config_when_run_then_exit_2_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["run", "--config", str(write(tmp_path, "[ari]\nurl = 'nope'\n"))])
    assert rc == 2
    assert "ari.url" in capsys.readouterr().err


def test_the_sample_config_names_every_key() -> None:
    """The sample is the reference for admins: a key missing there is undocumented."""
    import tomllib

    from callgate.config import Settings

    sample = Path(__file__).resolve().parents[2] / "callgate.example.toml"
    text = sample.read_text()
    written = tomllib.loads(text)
    for section, field in Settings.model_fields.items():
        assert section in written, f"[{section}] missing from the sample config"
        model = field.annotation
        if not hasattr(model, "model_fields"):
            continue  # a table of named entries (agencies): one example is enough
        # Keys with no default value to show (secrets, optional TLS) are documented commented out.
        missing = {
            key
            for key in set(model.model_fields) - set(written[section])  # type: ignore[union-attr]
            if f"# {key} =" not in text
        }
        assert not missing, f"[{section}] keys missing from the sample config: {missing}"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[dispositions]\ncodes = { '12' = 'prank' }\n", "dispositions.codes: Value error, key"),
        ("[dispositions]\ncodes = { 'x' = 'prank' }\n", "key 'x' is not one digit"),
        ("[dispositions]\ncodes = { '7' = 'joke' }\n", "dispositions.codes: Value error, 7 ="),
        ("[screening.blocking]\nhours = 0\n", "screening.blocking.hours"),
        ("[screening.blocking]\nvalve_calls = 0\n", "screening.blocking.valve_calls"),
        ("[screening.blocking]\nenable = true\n", "screening.blocking.enable: unknown key"),
    ],
)
def test_given_bad_disposition_codes_or_blocking_then_the_error_names_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_settings(write(tmp_path, text))


def test_blocking_is_off_by_default_and_builds_the_core_policy_when_enabled(
    tmp_path: Path,
) -> None:
    from callgate.config import screening_policy

    defaults = load_settings(None)
    assert defaults.dispositions.codes["3"] == "prank"
    assert screening_policy(defaults).blocking is None
    on = load_settings(
        write(
            tmp_path,
            "[screening.blocking]\nenabled = true\nhours = 12\nauto_score_threshold = 0\n"
            "valve_calls = 2\nvalve_minutes = 5\nannouncement = 'sound:custom/diblokir'\n",
        )
    )
    assert on.screening.blocking.announcement == "sound:custom/diblokir"
    blocking = screening_policy(on).blocking
    assert blocking is not None
    assert (blocking.duration, blocking.score_threshold) == (12 * 3600.0, None)
    assert (blocking.valve_calls, blocking.valve_window) == (2, 300.0)
    assert blocking.announcement == "sound:custom/diblokir"  # what the core plays to them


def test_the_core_gets_screening_silence_and_callbacks_from_their_sections(
    tmp_path: Path,
) -> None:
    from callgate.config import acd_config

    defaults = load_settings(None)
    config = acd_config(defaults, callback_prefix="cb-run-")
    assert config.screening is not None
    assert config.screening.blocking is None  # blocking is off by default
    assert config.silence is not None
    assert (config.silence.silence_seconds, config.silence.key_seconds) == (10.0, 10.0)
    assert config.silence.prompt == defaults.screening.silent_prompt
    assert config.callbacks is not None
    assert config.callbacks.id_prefix == "cb-run-"
    assert (config.callbacks.first_delay, config.callbacks.max_concurrent) == (60.0, 1)
    off = load_settings(
        write(
            tmp_path,
            "[screening]\nenabled = false\n[callbacks]\nenabled = false\n",
        )
    )
    assert (acd_config(off).screening, acd_config(off).silence, acd_config(off).callbacks) == (
        None,
        None,
        None,
    )
    quiet = load_settings(write(tmp_path, "[screening]\nsilence_detection = false\n"))
    assert acd_config(quiet).silence is None
    assert acd_config(quiet).screening is not None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_given_a_loopback_agi_listen_host_then_it_loads(tmp_path: Path, host: str) -> None:
    assert (
        load_settings(write(tmp_path, f"[agi]\nlisten_host = '{host}'\n")).agi.listen_host == host
    )


def test_given_the_lab_agi_secret_outside_the_lab_then_it_is_refused_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callgate.config import lab_secrets_in_use, refuse_outside_lab

    monkeypatch.delenv("CALLGATE_LAB", raising=False)
    monkeypatch.setenv("CALLGATE_ARI__PASSWORD", "a-centre-ari-password")
    monkeypatch.setenv("CALLGATE_AMI__PASSWORD", "a-centre-ami-password")
    monkeypatch.setenv("CALLGATE_MQTT__USERNAME", "callgate")
    monkeypatch.setenv("CALLGATE_MQTT__PASSWORD", "a-centre-broker-password")
    settings = load_settings(None)  # [agi] secret left at the lab's published default
    assert lab_secrets_in_use(settings) == ["agi.secret"]
    with pytest.raises(
        ConfigError, match=re.escape("agi.secret: the lab's published value")
    ) as refused:
        refuse_outside_lab(settings)
    assert "CALLGATE_AGI__SECRET=..." in str(refused.value)
    assert settings.agi.secret.get_secret_value() not in str(refused.value)
    # A centre's own secret, or the lab saying it is the lab, passes.
    monkeypatch.setenv("CALLGATE_AGI__SECRET", "a-centre-agi-secret-0123456789")
    refuse_outside_lab(load_settings(None))
    monkeypatch.delenv("CALLGATE_AGI__SECRET")
    monkeypatch.setenv("CALLGATE_LAB", "1")
    refuse_outside_lab(load_settings(None))


_OWN_SECRETS = '[ari]\npassword = "a1-long"\n[ami]\npassword = "a2-long"\n[agi]\nsecret = "' + (
    "a-centre-agi-secret-0123456789" + '"\n'
)


@pytest.mark.parametrize(
    ("mqtt", "named"),
    [
        # Anonymous: anyone who reaches the broker publishes commands under any CAD name.
        ("", ["mqtt.username"]),
        ('host = "broker.example"\n', ["mqtt.username", "mqtt.tls"]),
        ('username = "callgate"\n', ["mqtt.password"]),
        # A user, but in clear across the network.
        ('host = "10.1.2.3"\nusername = "callgate"\npassword = "p"\n', ["mqtt.tls"]),
        (
            'host = "broker.example"\nusername = "cg"\npassword = "p"\n'
            "[mqtt.tls]\ninsecure = true\n",
            ["mqtt.tls.insecure"],
        ),
        # Fit: a user on loopback; a user over TLS; a client certificate; no MQTT at all.
        ('username = "callgate"\npassword = "p"\n', []),
        ('host = "::1"\nusername = "callgate"\npassword = "p"\n', []),
        ('host = "broker.example"\nusername = "cg"\npassword = "p"\n[mqtt.tls]\n', []),
        ('host = "broker.example"\n[mqtt.tls]\ncert_file = "c.pem"\nkey_file = "k.pem"\n', []),
        ("enabled = false\n", []),
    ],
)
def test_given_a_broker_that_cannot_vouch_for_cad_outside_the_lab_then_refused_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mqtt: str, named: list[str]
) -> None:
    from callgate.config import refuse_outside_lab, unsafe_outside_lab

    monkeypatch.delenv("CALLGATE_LAB", raising=False)
    settings = load_settings(write(tmp_path, _OWN_SECRETS + "[mqtt]\n" + mqtt))
    assert [line.split(":")[0] for line in unsafe_outside_lab(settings)] == named
    if named:
        with pytest.raises(ConfigError, match=re.escape(f"{named[0]}: ")) as refused:
            refuse_outside_lab(settings)
        assert "lab = true" in str(refused.value)
        assert '"p"' not in str(refused.value)
    # The lab's anonymous loopback broker is the lab's to use.
    lab = load_settings(write(tmp_path, "lab = true\n" + _OWN_SECRETS + "[mqtt]\n" + mqtt))
    assert unsafe_outside_lab(lab) == []


@pytest.mark.parametrize("secret", ["short-secret", "a/secret/with/slashes", "secret;comment-here"])
def test_given_an_agi_secret_unfit_for_the_url_then_the_error_names_the_key_not_the_value(
    tmp_path: Path, secret: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape("agi.secret: Value error, must be 16")) as bad:
        load_settings(write(tmp_path, f"[agi]\nsecret = '{secret}'\n"))
    assert secret not in str(bad.value)


def test_the_lab_writes_the_agi_secret_that_the_settings_default_to() -> None:
    """scripts/lab writes Asterisk's copy of the lab's secret, and labpeers hands it to tests:
    all three must be the one value ``callgate.config`` refuses outside the lab."""
    from callgate.asterisk.settings import LAB_AGI_SECRET
    from callgate.config import LAB_SECRETS, Settings

    repo = Path(__file__).resolve().parents[2]
    assert Settings().agi.secret.get_secret_value() == LAB_AGI_SECRET
    assert LAB_SECRETS["agi.secret"] == LAB_AGI_SECRET
    assert f"AGI_SECRET={LAB_AGI_SECRET}\n" in (repo / "scripts/lab").read_text()
    assert f'LAB_AGI_SECRET = "{LAB_AGI_SECRET}"' in (repo / "scripts/labpeers.py").read_text()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[queue_log]\nqueue = 'a|b'\n", "queue_log.queue: Value error, must be non-empty"),
        ("[queue_log]\nagent = 'Operator'\n", "queue_log.agent: Value error, must contain"),
        ("[queue_log]\nagent = '{name}'\n", "queue_log.agent: Value error, only {endpoint}"),
        ("[queue_log]\nmax_buffered_lines = 1\n", "queue_log.max_buffered_lines"),
        (
            "[queue_log]\npath = '/var/log/asterisk/./queue_log'\n",
            "queue_log.path: /var/log/asterisk/./queue_log is Asterisk's own queue_log",
        ),
    ],
)
def test_given_a_bad_queue_log_section_then_the_error_names_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_settings(write(tmp_path, text))


def test_queue_log_is_off_by_default_and_may_not_share_asterisks_file() -> None:
    settings = load_settings(None)
    assert settings.queue_log.path == ""
    assert settings.queue_log.queue == "callgate"
    assert settings.queue_log.agent.format(endpoint="PJSIP/1001", id="1001") == "PJSIP/1001"


@pytest.mark.parametrize(
    ("say", "position", "wait"),
    [("both", True, True), ("position", True, False), ("wait", False, True)],
)
def test_the_core_announces_to_waiting_callers_only_when_enabled(
    tmp_path: Path, say: str, position: bool, wait: bool
) -> None:
    from callgate.config import acd_config

    assert acd_config(load_settings(None)).announcements is None  # off by default
    on = load_settings(
        write(
            tmp_path,
            f'[announcements]\nenabled = true\nfirst_after = 3\nperiod = 4\nsay = "{say}"\n',
        )
    )
    policy = acd_config(on).announcements
    assert policy is not None
    assert (policy.first_after, policy.period, policy.handling_time) == (3.0, 4.0, 120.0)
    assert (policy.position, policy.wait) == (position, wait)


def test_announcements_from_the_environment_as_the_lab_tests_set_them() -> None:
    import os
    from unittest import mock

    env = {
        "CALLGATE_ANNOUNCEMENTS__ENABLED": "1",
        "CALLGATE_ANNOUNCEMENTS__FIRST_AFTER": "3",
        "CALLGATE_ANNOUNCEMENTS__PERIOD": "4",
    }
    with mock.patch.dict(os.environ, env):
        settings = load_settings(None)
    assert (settings.announcements.enabled, settings.announcements.period) == (True, 4.0)
    with (
        mock.patch.dict(os.environ, {"CALLGATE_ANNOUNCEMENTS__SAY": "everything"}),
        pytest.raises(ConfigError, match=r"announcements\.say"),
    ):
        load_settings(None)


def test_given_no_admin_socket_setting_then_the_default_one_and_empty_means_none(
    tmp_path: Path,
) -> None:
    ops = load_settings(None).ops
    assert (ops.socket_path, ops.socket_group) == ("/run/callgate/admin.sock", "callgate-cli")
    off = load_settings(write(tmp_path, "[ops]\nsocket_path = ''\nsocket_group = ''\n")).ops
    assert (off.socket_path, off.socket_group) == ("", "")
