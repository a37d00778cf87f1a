"""Per-event cost of the ACD core with a long queue and 500 call-takers.

Run: ``.venv/bin/python benchmarks/core_bench.py`` (prints a table; not a test).

Set-up for each queue length: 500 call-takers all on calls and N calls waiting. Then a steady
cycle keeps the queue at N: two calls arrive, one waiting caller hangs up, one call-taker ends
a call, wrap-up ends (a timer), the head of the queue is offered, answered and bridged. Every
``handle``/``handle_timer`` call is timed on its own.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections import defaultdict

from callgate.core import (
    Acd,
    AcdConfig,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    CallArrived,
    CallBridged,
    CallerHungUp,
    Event,
    RingAgent,
)

AGENTS = 500
TARGET_P99_US = 100.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(waiting: int, cycles: int, seed: int = 1) -> dict[str, list[float]]:
    rng = random.Random(seed)
    acd = Acd(AcdConfig(max_wait=None, wrap_up_time=0.0, ring_timeout=3600.0))
    now = 0.0
    ids = iter(range(10**9))
    queued: list[str] = []
    talking: list[tuple[str, str]] = []
    for k in range(AGENTS):
        acd.handle(AgentLoggedIn(f"a{k}", f"PJSIP/a{k}"), now)
    for _ in range(AGENTS):
        call_id = f"c{next(ids)}"
        for command in acd.handle(CallArrived(call_id, "0812"), now):
            if isinstance(command, RingAgent):
                acd.handle(AgentAnswered(call_id, command.agent_id), now)
                acd.handle(CallBridged(call_id), now)
                talking.append((call_id, command.agent_id))
    for _ in range(waiting):
        call_id = f"c{next(ids)}"
        acd.handle(CallArrived(call_id, "0812", priority=rng.choice((0, 1, 1, 1, 2))), now)
        queued.append(call_id)
    assert acd.waiting == waiting

    timings: dict[str, list[float]] = defaultdict(list)
    clock = time.perf_counter_ns

    def timed(name: str, event: Event | None) -> list[object]:
        start = clock()
        out = acd.handle_timer(now) if event is None else acd.handle(event, now)
        timings[name].append((clock() - start) / 1000.0)
        return list(out)

    gc.collect()
    for _ in range(cycles):
        now += 1.0
        for _ in range(2):
            call_id = f"c{next(ids)}"
            timed("CallArrived", CallArrived(call_id, "0812", priority=rng.choice((0, 1, 1, 1, 2))))
            queued.append(call_id)
        # A random waiting caller gives up (swap-remove keeps this bookkeeping O(1)).
        index = rng.randrange(len(queued))
        queued[index], queued[-1] = queued[-1], queued[index]
        timed("CallerHungUp", CallerHungUp(queued.pop()))
        call_id, agent_id = talking.pop(rng.randrange(len(talking)))
        timed("AgentHungUp", AgentHungUp(call_id, agent_id))
        (ring,) = [c for c in timed("handle_timer", None) if isinstance(c, RingAgent)]
        timed("AgentAnswered", AgentAnswered(ring.call_id, ring.agent_id))
        timed("CallBridged", CallBridged(ring.call_id))
        talking.append((ring.call_id, ring.agent_id))
        queued.remove(ring.call_id)  # driver bookkeeping, outside the timed calls
    assert abs(acd.waiting - waiting) <= 1, acd.waiting
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=3000, help="cycles (7 events each)")
    args = parser.parse_args()
    print(f"ACD core, {AGENTS} call-takers, {args.cycles:,} cycles of 7 events per queue length")
    print(f"target: p99 < {TARGET_P99_US:.0f} µs per event, growth at most logarithmic\n")
    header = f"{'waiting calls':>13} {'p50 µs':>8} {'p99 µs':>8} {'max µs':>9}  {'p99 target':<14}"
    header += " slowest event type at p99"
    print(header)
    for waiting in (100, 1_000, 10_000):
        timings = measure(waiting, args.cycles)
        everything = [t for values in timings.values() for t in values]
        p99 = _percentile(everything, 0.99)
        worst = max(timings, key=lambda name: _percentile(timings[name], 0.99))
        verdict = "ok" if p99 < TARGET_P99_US else "MISSED"
        print(
            f"{waiting:>13,} {statistics.median(everything):>8.1f} {p99:>8.1f} "
            f"{max(everything):>9.1f}  <{TARGET_P99_US:.0f} {verdict:<9}"
            f" {worst} ({_percentile(timings[worst], 0.99):.1f} µs)"
        )
    print("\nper event type at 10,000 waiting (p50 / p99 µs):")
    timings = measure(10_000, args.cycles)
    for name, values in timings.items():
        p50, p99 = statistics.median(values), _percentile(values, 0.99)
        print(f"  {name:<14} {p50:>6.1f} / {p99:>6.1f}")


if __name__ == "__main__":
    main()
