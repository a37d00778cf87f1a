"""``callgate simulate``: a discrete-event simulator driving the very same ACD core.

Its parts: :mod:`.traffic` (the calls: a trace or generated arrivals, and shifts),
:mod:`.simulation` (the event loop around the real core), :mod:`.results` (what it prints) and
:mod:`.command` (the options and the run).

It answers a centre manager's question ("how many call-takers does the night shift need?")
by replaying a call trace or generated Poisson arrivals through :class:`callgate.core.Acd`
with a roster, simulated callers (who give up after a while) and simulated call-takers (who
answer after a few seconds, sometimes not at all), then printing the core's own KPIs.

Simulated time only: no clock, no sleeps, no asyncio. A seeded random generator makes every
run repeatable.

``--screening on|compare`` adds prank and ghost screening (:mod:`callgate.core.screening`) on
traffic with repeat callers. The caller model, made explicit because the result depends on it:

- prank calls come from a small pool of numbers (``--prank-pool``), ghost calls from another
  (``--ghost-pool``), each number equally likely: the same children and the same phone in a
  pocket call again and again;
- genuine calls and information requests come from new numbers, except a share
  (``--genuine-from-nuisance``) from a number of those pools: a real emergency from a number
  that pranked yesterday, which screening must not harm much;
- after every call a call-taker answered, the call-taker records its true category as the
  disposition (perfect classification; abandoned calls get none, nobody heard them), at the
  end of the call, into that number's history; every later call from it arrives with that
  history, and the core screens it with the default :class:`ScreeningPolicy` exactly as in
  the daemon (deprioritised calls wait in the lower class);
- not modelled: the few seconds of the warning announcement, blocking (off by default), the
  key-press prompt for silent calls, and callers changing behaviour because of screening.

``compare`` runs the very same calls twice, screening off then on, with the same staffing and
seed, and prints the share of genuine calls answered within 15 s in each run.
"""

from callgate.tools.simulator.command import add_arguments, run
from callgate.tools.simulator.results import format_comparison, format_report, genuine_kpis
from callgate.tools.simulator.simulation import AUTO_PAUSE_RECOVERY, Outcome, Simulation
from callgate.tools.simulator.traffic import (
    ShiftSpec,
    TraceCall,
    generate_calls,
    generate_repeat_calls,
    parse_shift,
    read_trace,
    write_trace,
)

__all__ = [
    "AUTO_PAUSE_RECOVERY",
    "Outcome",
    "ShiftSpec",
    "Simulation",
    "TraceCall",
    "add_arguments",
    "format_comparison",
    "format_report",
    "generate_calls",
    "generate_repeat_calls",
    "genuine_kpis",
    "parse_shift",
    "read_trace",
    "run",
    "write_trace",
]
