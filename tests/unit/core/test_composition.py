"""The core's composition (#20): a small ``Acd`` over sub-machines, each with its own table of
events, and a vocabulary at the ground floor that imports nothing above it."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import callgate.core
from callgate.core import events
from callgate.core.acd import Acd
from callgate.core.agent_requests import AgentRequests
from callgate.core.blocking import Blocking
from callgate.core.callback_attempts import CallbackAttempts
from callgate.core.calltakers import CallTakers
from callgate.core.conversations import Conversations
from callgate.core.events import Event
from callgate.core.floor import Timer
from callgate.core.incall_keys import InCallKeys
from callgate.core.offers import Offers
from callgate.core.reload import Reload
from callgate.core.silent import SilentCallers
from callgate.core.supervision import Supervision

CORE = Path(callgate.core.__file__).parent
PYTHONPATH = os.environ.get("PYTHONPATH", "")
MACHINES = (
    Conversations,
    Offers,
    CallTakers,
    Blocking,
    SilentCallers,
    CallbackAttempts,
    Reload,
    AgentRequests,
    InCallKeys,
    Supervision,
)
#: Each module of the core imported first, alone, in one fresh interpreter.
PROBE = """
import importlib, json, sys
failed = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "callgate" or m.startswith("callgate.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as error:  # an import circle shows as an ImportError here
        failed[name] = repr(error)
print(json.dumps(failed))
"""


def _core_events() -> set[type[Event]]:
    return {
        kind
        for _, kind in inspect.getmembers(events, inspect.isclass)
        if issubclass(kind, Event) and kind is not Event
    }


def test_given_an_acd_then_every_core_event_is_routed_to_one_sub_machine() -> None:
    acd = Acd()
    handlers = acd._handlers
    # Acd refuses to start with an event in two tables, so each has exactly one handler here.
    assert set(handlers) == _core_events()
    owners = {type(handler.__self__) for handler in handlers.values()}  # type: ignore[attr-defined]
    assert owners == set(MACHINES)


def test_given_an_acd_then_every_timer_kind_fires_and_tells_whether_it_is_live() -> None:
    assert set(Acd()._timer_kinds) == set(Timer)


def test_acd_only_composes_at_most_30_methods() -> None:
    methods = [n for n, v in vars(Acd).items() if callable(v) or isinstance(v, property)]
    assert len(methods) <= 30, methods


def test_given_a_fresh_interpreter_then_each_core_module_imports_first_and_alone() -> None:
    names = sorted(f"callgate.core.{path.stem}" for path in CORE.glob("*.py"))
    assert len(names) > 20
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(names)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(CORE.parents[1]), PYTHONPATH])},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == {}


def test_the_core_needs_no_import_that_only_the_type_checker_sees() -> None:
    # A ``TYPE_CHECKING`` import in the core would hide an import circle (the layers contract in
    # pyproject.toml orders the modules).
    for path in sorted(CORE.glob("*.py")):
        assert "TYPE_CHECKING" not in path.read_text(), path.name


def test_each_sub_machine_module_names_in_its_docstring_every_event_of_its_table() -> None:
    acd = Acd()
    for kind, handler in acd._handlers.items():
        module = sys.modules[type(handler.__self__).__module__]  # type: ignore[attr-defined]
        assert kind.__name__ in (module.__doc__ or ""), (module.__name__, kind.__name__)
