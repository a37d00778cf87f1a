#!/usr/bin/env python3
"""The fault table (#13): run the lab fault suite and print what each fault cost.

    scripts/lab up                                   # as root; Asterisk 22 LTS
    .venv/bin/python benchmarks/faults.py            # runs tests/integration/test_faults_lab.py
    .venv/bin/python benchmarks/faults.py -k postgres             # one fault
    .venv/bin/python benchmarks/faults.py --from /tmp/faults.json # re-print a saved table

It runs the suite with pytest (which starts callgate, the call-takers, the carrier and the
faults, and stops all of them by PID), with ``CALLGATE_FAULT_TABLE`` pointing at a JSON file
the tests fill in, then prints the table as Markdown. The suite's own pass or fail is its exit
code; the table is printed either way (a failing fault shows where it failed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "tests" / "integration" / "test_faults_lab.py"
COLUMNS = [
    ("Fault", "fault"),
    ("Outage (s)", "outage_s"),
    ("Calls placed", "placed"),
    ("Served by callgate", "by_callgate"),
    ("By fallback queue", "by_fallback"),
    ("Callers lost", "lost"),
    ("Journal records lost", "records_lost"),
    ("Event streams broken", "events_lost"),
    ("Time to recover (s)", "recover_s"),
    ("Test (s)", "test_s"),
]


def table(figures: dict[str, dict[str, object]]) -> str:
    rows = ["| " + " | ".join(title for title, _ in COLUMNS) + " |"]
    rows.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    for entry in figures.values():
        cells = []
        for _, key in COLUMNS:
            value = entry.get(key)
            cells.append(
                "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
            )
        rows.append("| " + " | ".join(cells) + " |")
    versions = sorted({str(e.get("asterisk")) for e in figures.values()})
    notes = [f"- {e['fault']}: {n}" for e in figures.values() for n in e.get("notes") or []]  # type: ignore[union-attr]
    return "\n".join([f"Asterisk {', '.join(versions)}", "", *rows, "", *notes])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="saved", type=Path, help="print a saved table only")
    parser.add_argument("-k", dest="select", help="run only the faults pytest -k selects")
    args = parser.parse_args(argv)
    if args.saved is not None:
        print(table(json.loads(args.saved.read_text())))
        return 0
    out = Path(tempfile.mkdtemp(prefix="callgate-faults-")) / "faults.json"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(SUITE)]
    if args.select:
        command += ["-k", args.select]
    env = {**os.environ, "CALLGATE_FAULT_TABLE": str(out)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    rc = subprocess.run(command, cwd=REPO, env=env, check=False).returncode
    if out.exists():
        print(table(json.loads(out.read_text())))
        print(f"\n(saved in {out})")
    else:
        print("no fault figures were written", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
