"""Each of the daemon's services reaches at most one adapter; the few that join two say why.

The import-linter contracts in ``pyproject.toml`` keep the adapters apart and let only
``daemon/app.py`` wire them together, but they let any module of ``callgate.daemon`` import any
adapter. A service that imports two adapters is a second composition root in the making, so
this test reads every import of every daemon module (those inside functions and under
``TYPE_CHECKING`` too) and allows two adapters only where ``docs/architecture.md`` says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import callgate.daemon

DAEMON = Path(callgate.daemon.__file__).resolve().parent
DOC = DAEMON.parents[2] / "docs" / "architecture.md"
ADAPTERS = ("asterisk", "mqtt", "storage", "http")

#: The services allowed more than one adapter, each with the adapters it joins and why (the
#: same reasons stand in docs/architecture.md).
JOINS: dict[str, tuple[frozenset[str], str]] = {
    "app": (frozenset(ADAPTERS), "the composition root wires every adapter"),
    "fallback": (
        frozenset({"asterisk", "storage"}),
        "journals the calls the core never saw, from Asterisk's queue_log to the journal",
    ),
    "upkeep": (
        frozenset({"asterisk", "storage"}),
        "background chores: recordings expired in the journal, the fallback queue watched on AMI",
    ),
    "reload": (
        frozenset({"asterisk", "http"}),
        "a SIGHUP changes every part; it reads only a device state type and the session store",
    ),
    "view": (
        frozenset({"http", "storage"}),
        "the daemon as the admin port shows it: journal rows and the port's list of actions",
    ),
    "leadership": (
        frozenset({"asterisk", "storage", "http"}),
        "a clustered leader: the ARI client it fences and the journal it claims for its epoch;"
        " a standby's read-only admin port",
    ),
    "inquiry_service": (
        frozenset({"http", "storage"}),
        "the inquiry routes' service: past calls and recordings in the routes' own types",
    ),
    "browsers": (
        frozenset({"http", "storage"}),
        "the admin port's sessions and wall screens, built with the journal that keeps them",
    ),
}


def _adapters_imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if len(parts) > 1 and parts[0] == "callgate" and parts[1] in ADAPTERS:
                found.add(parts[1])
    return found


def _services() -> dict[str, set[str]]:
    return {
        path.stem: _adapters_imported(path)
        for path in sorted(DAEMON.glob("*.py"))
        if path.stem != "__init__"
    }


def test_given_the_daemon_services_then_each_imports_at_most_one_adapter_or_says_why() -> None:
    services = _services()
    assert len(services) > 10, "the daemon's modules were not found"
    over = {
        name: sorted(adapters)
        for name, adapters in services.items()
        if len(adapters) > 1 and not adapters <= JOINS.get(name, (frozenset(), ""))[0]
    }
    assert over == {}, f"these services import more than one adapter: {over}"


def test_given_the_allowed_joins_then_each_is_still_needed_and_the_doc_names_it() -> None:
    # An entry no longer needed is removed, so the list stays the true list of exceptions.
    services = _services()
    stale = sorted(name for name in JOINS if len(services.get(name, set())) < 2)
    assert stale == [], f"these services join no two adapters any more: {stale}"
    doc = DOC.read_text(encoding="utf-8")
    undocumented = sorted(name for name in JOINS if f"`{name}.py`" not in doc)
    assert undocumented == [], f"docs/architecture.md does not say why: {undocumented}"


def test_given_a_module_importing_two_adapters_then_both_are_found(tmp_path: Path) -> None:
    # The reader sees imports inside functions and plain ``import`` statements too.
    module = tmp_path / "service.py"
    module.write_text(
        "import callgate.mqtt.publisher\n"
        "def f() -> None:\n"
        "    from callgate.storage.journal import Journal\n"
        "from callgate.core import Acd\n"
        "from . import engine\n",
        encoding="utf-8",
    )
    assert _adapters_imported(module) == {"mqtt", "storage"}
