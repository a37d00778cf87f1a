"""``callgate simulate``: a discrete-event simulator driving the very same ACD core.

Its parts: :mod:`.traffic` (the calls: a trace, generated arrivals or a preset, and shifts),
:mod:`.simulation` (the event loop around the real core, and the simulated callers),
:mod:`.results` (what it prints), :mod:`.recommend` and :mod:`.erlang` (``--recommend``) and
:mod:`.command` (the options and the run).

It answers a centre manager's question ("how many call-takers does the night shift need?")
by replaying a call trace or generated Poisson arrivals through :class:`callgate.core.Acd`
with a roster, simulated callers (who give up after a while) and simulated call-takers (who
answer after a few seconds, sometimes not at all), then printing the core's own KPIs.

Simulated time only: no clock, no sleeps, no asyncio. A seeded random generator makes every
run repeatable.

What the daemon does is the core's, run as the daemon configures it by default: ``--screening
on`` (the default; ``off`` or ``compare``) screens by history, warns repeat nuisances and runs
the silent-caller prompt; ``--callbacks on`` (the default) calls abandoned callers back;
``--blocking`` adds blocking with its safety valve. How simulated callers answer the prompt,
the warning, the announcement and a callback is :class:`.simulation.Callers`. For genuine
callers it reports answered within 15/20 s, hung up, and reached by a human within 2 minutes
(answered, or called back and reached), each genuine caller counted once with their redials.

``--recommend`` finds each shift's fewest call-takers meeting NENA's 90% within 15 s for genuine
callers, beside the Erlang C estimate (:mod:`.recommend`). ``--preset kendari`` generates a
month at Kendari 112's rate (:data:`.traffic.KENDARI_MONTH`) with a day-shaped rate.

The traffic model, made explicit because the result depends on it:

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
- not modelled: callers changing how often they call because of screening (a deterred
  prankster's later calls still come), redials of callers who gave up (callbacks reach them),
  and call-takers' breaks.

``compare`` runs the very same calls twice, screening off then on, with the same staffing and
seed, and prints the share of genuine calls answered within 15 s in each run.
"""

from callgate.tools.simulator.command import add_arguments, run
from callgate.tools.simulator.recommend import ShiftAdvice
from callgate.tools.simulator.results import (
    GenuineReport,
    format_comparison,
    format_report,
    genuine_kpis,
    genuine_report,
)
from callgate.tools.simulator.simulation import AUTO_PAUSE_RECOVERY, Callers, Outcome, Simulation
from callgate.tools.simulator.traffic import (
    KENDARI_MONTH,
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
    "KENDARI_MONTH",
    "Callers",
    "GenuineReport",
    "Outcome",
    "ShiftAdvice",
    "ShiftSpec",
    "Simulation",
    "TraceCall",
    "add_arguments",
    "format_comparison",
    "format_report",
    "generate_calls",
    "generate_repeat_calls",
    "genuine_kpis",
    "genuine_report",
    "parse_shift",
    "read_trace",
    "run",
    "write_trace",
]
