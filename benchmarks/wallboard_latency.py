#!/usr/bin/env python3
"""From a call entering callgate to its row on the wallboard, during a lab burst (#16).

Starts callgate against the lab (as the integration tests do, with the lab's supervisor user),
opens the wallboard in Debian's chromium (headless, through chromium-driver), logs in, and
places ``--calls`` 112 calls over the trunk at ``--rate`` a second (the burst: 200 in 20 s) with
call-takers 1009... answering. For each call: the time from the daemon's ``112 call entered``
log line to the arrival in the page of the first live message naming the call (the page keeps
it in ``window.callgateSeen``, set in the SSE message handler). Both clocks are this host's.
Prints p50, p90, p99 and max against the 1 s target; exit code 1 when p99 misses it.

    scripts/lab up && .venv/bin/python benchmarks/wallboard_latency.py [--calls 200 --rate 10]

Needs the lab (one user at a time: take the lab's lock) and scripts/setup's chromium and
chromium-driver.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import labpeers  # noqa: E402 - lives in scripts/, not a package
from wallboard_screenshots import browser, log_in  # noqa: E402

TARGET_SECONDS = 1.0
PREFIX = "08194"  # this benchmark's callers, told apart from the other benchmarks' and tests'


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="calls a second")
    parser.add_argument("--calltakers", type=int, default=8)
    parser.add_argument("--talk", type=float, default=6.0, help="seconds each call lasts")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="callgate-wallboard-bench-"))
    extensions = [str(1009 + n) for n in range(args.calltakers)]
    endpoints = ",".join(f'"PJSIP/{e}"' for e in extensions)
    daemon = labpeers.Daemon(
        work / "callgate.log",
        {
            "CALLGATE_OPS__COOKIE_SECURE": "false",
            "CALLGATE_CALLTAKERS__ENDPOINTS": f"[{endpoints}]",
            "CALLGATE_FALLBACK__QUEUE_LOG": "",
        },
    )
    phones: list[labpeers.Softphone] = []
    carrier: labpeers.CarrierCalls | None = None
    driver = None
    try:
        daemon.start()
        phones = labpeers.start_phones(extensions, work)
        driver = browser()
        port = daemon.env.get("CALLGATE_OPS__HTTP_PORT", "8089")
        log_in(driver, f"http://127.0.0.1:{port}/wallboard", *labpeers.LAB_SUPERVISOR)
        callers = [f"{PREFIX}{n:07d}" for n in range(args.calls)]
        carrier = labpeers.CarrierCalls(
            callers=callers,
            talk_seconds=args.talk,
            rate_per_second=args.rate,
            limit=args.calls,
            workdir=work / "sipp",
        )
        carrier.start()
        carrier.wait(timeout=args.calls / args.rate + args.talk + 180)
        time.sleep(2)
        seen: dict[str, float] = driver.execute_script("return window.callgateSeen")
        entered = daemon.records("112 call entered")
    finally:
        if driver is not None:
            driver.quit()
        if carrier is not None:
            carrier.stop()
        for phone in phones:
            phone.stop()
        daemon.stop()

    latencies: list[float] = []
    missing = 0
    for record in entered:
        shown = seen.get(str(record["call_id"]))
        if shown is None:
            missing += 1
            continue
        logged = datetime.fromisoformat(str(record["timestamp"])).timestamp()
        latencies.append(shown / 1000 - logged)
    print(
        f"calls entered: {len(entered)}; shown on the wallboard: {len(latencies)}; "
        f"never shown: {missing}; log and pages: {work}"
    )
    if not latencies:
        return 1
    print(f"{'figure':<8}{'seconds':>10}  target {TARGET_SECONDS:.1f} s")
    for name, value in (
        ("p50", percentile(latencies, 50)),
        ("p90", percentile(latencies, 90)),
        ("p99", percentile(latencies, 99)),
        ("max", max(latencies)),
    ):
        verdict = "ok" if value < TARGET_SECONDS else "MISSED"
        print(f"{name:<8}{value:>10.3f}  {verdict}")
    return 0 if missing == 0 and percentile(latencies, 99) < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
