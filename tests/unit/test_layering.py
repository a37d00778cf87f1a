"""The configuration is a leaf: reading it loads no adapter.

``callgate.config`` gathers every section of the config file, so anything that validates a config
(``callgate check-config``, the report, the daemon before it connects) imports it. Each adapter's
sections live in that adapter's ``settings`` module, which imports only pydantic and the standard
library, so importing the config must load nothing else of callgate: no ARI, AMI or AGI client,
no publisher, no journal, no engine (and none of their libraries). The import graph as a whole
is checked by the import-linter contracts in ``pyproject.toml`` (``lint-imports``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import callgate

SRC = Path(callgate.__file__).resolve().parents[1]

#: What importing the config may load: the root package, the config, logs, which addresses are
#: loopback (``addresses``, shared by two settings modules), the ``[roster]`` section
#: (``rosters``), the ``[centre]`` and ``[wallboard]`` sections (``centre``), the pure core, and of
#: each other package only its ``__init__`` and its ``settings`` module.
#: ``_version`` is the version the build wrote (setuptools-scm), a constant that imports nothing;
#: it is there once the checkout was installed (scripts/setup, the lab), not in a bare clone.
ALLOWED = re.compile(
    r"^callgate(\._version|\.config|\.policy|\.auth|\.logs|\.addresses|\.rosters|\.centre"
    r"|\.core(\..+)?|\.[a-z_]+\.settings)?$",
)
#: The adapters' libraries: loading one would mean an adapter (or its client) came along.
HEAVY = ("sqlalchemy", "alembic", "aiohttp", "aiomqtt", "paho", "panoramisk", "prometheus_client")

PROBE = """
import json, sys
import callgate.config
loaded = {
    name: hasattr(module, "__path__")
    for name, module in sys.modules.items()
    if name == "callgate" or name.startswith("callgate.")
}
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps({"loaded": loaded, "heavy": heavy}))
"""


def _import_config_afresh() -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_given_a_fresh_interpreter_when_the_config_is_imported_then_no_adapter_is_loaded() -> None:
    result = _import_config_afresh()
    loaded = result["loaded"]
    assert isinstance(loaded, dict)
    assert "callgate.config" in loaded
    # A package's __init__ is allowed (it must stay light: the packages import nothing eagerly).
    outside = sorted(
        name
        for name, is_package in loaded.items()
        if not ALLOWED.match(name) and not (is_package and re.fullmatch(r"callgate\.[a-z_]+", name))
    )
    assert outside == [], f"importing callgate.config loaded {outside}"
    assert result["heavy"] == [], f"importing callgate.config loaded {result['heavy']}"


def test_given_the_config_then_each_adapter_section_comes_from_its_settings_module() -> None:
    # The sections config.py gathers come from the adapters' settings modules, not from the
    # adapters themselves (which would pull their clients in).
    from callgate.config import Settings

    home = {
        key: getattr(field.annotation, "__module__", "")
        for key, field in Settings.model_fields.items()
    }
    for key in ("ari", "ami", "agi", "recording"):
        assert home[key] == "callgate.asterisk.settings", key
    # The ACD's policy has one home (#20); a section with keys of both is made of two halves.
    for key in ("acd", "screening", "callbacks"):
        assert home[key] == "callgate.policy", key
    for key in ("calltakers", "announcements"):
        halves = {base.__module__ for base in Settings.model_fields[key].annotation.__bases__}  # type: ignore[union-attr]
        assert halves == {"callgate.asterisk.settings", "callgate.policy"}, key
    assert home["mqtt"] == "callgate.mqtt.settings"
    assert home["storage"] == "callgate.storage.settings"
    assert home["ops"] == "callgate.http.settings"


#: Longest a source file outside the migrations may grow (issue #12; the core too since #20):
#: past it a module has more than one job, and the folders stop showing what is where.
MAX_LINES = 600


def test_no_source_file_outside_the_migrations_is_over_600_lines() -> None:
    package = SRC / "callgate"
    long = {
        str(path.relative_to(package)): lines
        for path in package.rglob("*.py")
        if "migrations" not in path.relative_to(package).parts
        and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by responsibility: {long}"


def test_no_two_modules_share_a_name_unless_they_say_why() -> None:
    """A name used in two places is the same thing in two layers, never two different things:
    each adapter's ``settings`` and protocol ``client`` (and ``nodes``, that client over several
    Asterisk nodes), each tool's ``command``, the core's
    ``config`` beside the file's, the callback worklist's rules (core) beside its tables
    (storage), the call-takers and a reloaded configuration as the core decides them beside the
    daemon's side of them."""
    allowed = {
        *("__init__", "__main__", "settings", "config", "client", "command", "callbacks"),
        *("calltakers", "reload", "nodes"),
    }
    seen: dict[str, list[str]] = {}
    for path in (SRC / "callgate").rglob("*.py"):
        if "migrations" not in path.parts:
            seen.setdefault(path.stem, []).append(str(path.relative_to(SRC)))
    shared = {name: where for name, where in seen.items() if len(where) > 1 and name not in allowed}
    assert shared == {}
