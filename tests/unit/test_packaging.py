"""The Debian package's parts that can be checked without building it (scripts/test-deb builds,
installs, upgrades and purges it in a clean root)."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest

from callgate.auth import users_file_path
from callgate.config import ConfigError, acd_config, load_settings, refuse_outside_lab

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "packaging" / "callgate.toml"
#: What the package's postinst writes to secrets.env, and the broker's password an admin adds.
SECRETS = {
    "CALLGATE_ARI__PASSWORD": "Zr8v0kQ2bX4mW6yT1uN3pL5sD7fH9jA0cE2gI4kM6oQ",
    "CALLGATE_AMI__PASSWORD": "Yq7u9jP1aW3lV5xS0tM2oK4rC6eG8iB9dF1hJ3nL5pR",
    "CALLGATE_AGI__SECRET": "Xp6t8iO0zV2kU4wR9sL1nJ3qB5dF7hA8cE0gI2mK4oQ",
    "CALLGATE_MQTT__PASSWORD": "broker-password-of-this-centre",
}


def test_given_the_packages_secrets_then_the_template_is_a_valid_production_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(TEMPLATE)
    refuse_outside_lab(settings)
    acd_config(settings)
    assert not settings.lab
    # Absolute paths: the unit's working directory must not decide where the journal lives.
    assert settings.storage.url.get_secret_value() == (
        "sqlite+aiosqlite:////var/lib/callgate/journal.db"
    )
    assert str(settings.storage.spool_dir).startswith("/var/lib/callgate/")
    # `callgate users add` (install step 5, postinst's NEXT) needs [auth] users_file.
    config = Path("/etc/callgate/callgate.toml")
    assert users_file_path(settings.auth, config) == Path("/etc/callgate/users.toml")


def test_given_the_template_with_the_labs_secret_then_it_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CALLGATE_ARI__PASSWORD", "lab-ari-secret")
    with pytest.raises(ConfigError, match=r"ari\.password"):
        refuse_outside_lab(load_settings(TEMPLATE))


def test_the_unit_runs_the_venv_the_package_installs() -> None:
    unit = (REPO / "systemd" / "callgate.service").read_text()
    build = (REPO / "scripts" / "build-deb").read_text()
    exec_start = re.search(r"^ExecStart=(\S+)", unit, re.MULTILINE)
    assert exec_start is not None
    assert exec_start.group(1) == "/opt/venvs/callgate/bin/callgate"
    assert "/opt/venvs/callgate" in build
    # Documentation= names a file the package installs.
    assert "Documentation=file:///usr/share/doc/callgate/README.md" in unit
    assert '"$REPO/README.md"' in build
    assert "usr/share/doc/callgate" in build


def test_the_queue_log_logrotate_rotates_is_the_templates() -> None:
    settings_path = load_settings(TEMPLATE).queue_log.path
    rotated = (REPO / "packaging" / "debian" / "logrotate").read_text()
    assert f"{settings_path} {{" in rotated


@pytest.mark.parametrize("script", ["postinst", "prerm", "postrm"])
def test_the_maintainer_scripts_are_posix_sh(script: str) -> None:
    path = REPO / "packaging" / "debian" / script
    assert path.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(path)], check=True)


def _write_secrets(shell: str, folder: Path, generator: str) -> subprocess.CompletedProcess[str]:
    """postinst's write_secrets alone, run by ``shell`` under ``set -e`` into ``folder``, with
    ``generator`` as gen_secret (and chown a no-op: the test host has no callgate group)."""
    postinst = (REPO / "packaging" / "debian" / "postinst").read_text()
    function = re.search(r"^write_secrets\(\) \{\n.*?^\}\n", postinst, re.MULTILINE | re.DOTALL)
    assert function is not None
    script = f"set -e\ngen_secret() {{ {generator}; }}\nchown() {{ :; }}\n{function.group(0)}"
    script += 'write_secrets "$1"\necho "agi=$agi"\n'
    return subprocess.run(
        [shell, "-c", script, "postinst", str(folder)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("shell", ["sh", "dash"])
@pytest.mark.parametrize("generator", ["false", "echo", "echo s3cret; false"])
def test_postinst_makes_no_secrets_env_when_a_secret_cannot_be_made(
    tmp_path: Path, shell: str, generator: str
) -> None:
    done = _write_secrets(shell, tmp_path, generator)

    assert done.returncode != 0
    # None left behind: the next configure makes it again, rather than keeping empty secrets.
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shell", ["sh", "dash"])
def test_postinst_writes_every_secret_with_mode_0640(tmp_path: Path, shell: str) -> None:
    done = _write_secrets(shell, tmp_path, 'echo "secret-$$"')

    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.env"]
    secrets = tmp_path / "secrets.env"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o640
    values = dict(
        line.split("=", 1) for line in secrets.read_text().splitlines() if line[:1] != "#"
    )
    assert set(values) == set(SECRETS) - {"CALLGATE_MQTT__PASSWORD"}
    assert all(values.values())
    assert f"agi={values['CALLGATE_AGI__SECRET']}" in done.stdout
