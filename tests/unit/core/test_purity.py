"""The core must stay pure: no asyncio, sockets, clocks, databases or adapters."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import callgate.core

CORE = Path(callgate.core.__file__).parent
ALLOWED_STDLIB = {
    "__future__",
    "collections",
    "collections.abc",
    "dataclasses",
    "datetime",
    "enum",
    "heapq",
    "itertools",
    "math",
    "typing",
    "zoneinfo",
}
#: Calls that read the clock from allowed modules (the time module itself is not allowed).
CLOCK_READS = {"now", "utcnow", "today", "monotonic", "perf_counter", "time_ns"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: use absolute imports"
            found.add(node.module or "")
    return found


def test_core_modules_import_only_pure_stdlib_and_the_core_itself() -> None:
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) >= 10
    for path in modules:
        for name in _imports(path):
            assert name in ALLOWED_STDLIB or name.startswith("callgate.core"), (path.name, name)
            assert name.split(".")[0] in sys.stdlib_module_names or name.startswith("callgate.core")


def test_core_modules_never_read_the_clock() -> None:
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in CLOCK_READS, (path.name, node.func.attr)
