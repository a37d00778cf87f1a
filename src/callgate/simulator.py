"""``callgate simulate``: a discrete-event simulator driving the very same ACD core.

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

from __future__ import annotations

import argparse
import csv
import datetime as dt
import heapq
import itertools
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from callgate.core import (
    AUTO_PAUSE_REASON,
    STRATEGIES,
    Acd,
    AcdConfig,
    AcdConfigError,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentState,
    AgentStateChanged,
    AgentUnpaused,
    Bridge,
    CallArrived,
    CallBridged,
    CallEnded,
    CallerHistory,
    CallerHungUp,
    CallScreened,
    CancelRing,
    Command,
    DestinationAnswered,
    Disposition,
    DispositionRecord,
    Event,
    KpiReport,
    Priority,
    RingAgent,
    Roster,
    ScreeningPolicy,
    SendToDestination,
    Shift,
    compute_kpis,
    history_key,
)
from callgate.core.kpi import NENA_TARGETS
from callgate.core.roster import TIME_ZONES, parse_time

#: Mean talk time in seconds by category when arrivals are generated.
TALK_TIMES = {"genuine": 150.0, "information": 60.0, "prank": 25.0, "ghost": 10.0}
#: Delay before an overflow destination (not the fallback queue) takes a call.
DESTINATION_DELAY = 5.0
#: Seconds before a call-taker auto-paused after missed offers notices and unpauses. Without
#: it a week-long run slowly loses call-takers to chance runs of missed offers.
AUTO_PAUSE_RECOVERY = 120.0


@dataclass(frozen=True, slots=True)
class TraceCall:
    """One call of a trace: when it arrives (seconds from the start) and how long it lasts."""

    arrival: float
    talk_time: float
    caller: str
    category: str


@dataclass(frozen=True, slots=True)
class ShiftSpec:
    """``--shift 22:00-06:00=2``: a daily shift and how many call-takers work it."""

    start: dt.time
    end: dt.time
    agents: int
    label: str


@dataclass
class Outcome:
    """What a simulation produced."""

    report: KpiReport
    "KPIs of every call."
    records: list[CallEnded]
    "The core's record of every call, in the order they ended, with its true category."
    duration: float
    "Simulated seconds from the start to the last event."
    per_shift: dict[str, KpiReport] = field(default_factory=dict)
    "KPIs by shift, when shifts were given."
    deprioritised: int = 0
    "Calls screening moved to a lower priority class."
    tagged: int = 0
    "Calls screening tagged on the call-taker's phone."


def parse_shift(text: str) -> ShiftSpec:
    """Parse ``HH:MM-HH:MM=N``."""
    try:
        hours, count = text.split("=")
        start, end = hours.split("-")
        agents = int(count)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad shift {text!r}, expected HH:MM-HH:MM=N") from exc
    try:
        return ShiftSpec(parse_time(start), parse_time(end), agents, hours)
    except AcdConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to ``parser``."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--trace", type=Path, help="CSV: arrival,talk_time,caller,category")
    source.add_argument(
        "--rate-per-hour", type=float, default=12.5, help="Poisson arrivals (default: Kendari's)"
    )
    parser.add_argument("--days", type=float, default=1.0, help="length of generated traffic")
    parser.add_argument("--prank-share", type=float, default=0.15, help="share of prank calls")
    parser.add_argument("--ghost-share", type=float, default=0.05, help="share of silent calls")
    parser.add_argument(
        "--info-share", type=float, default=0.15, help="share of information requests"
    )
    staff = parser.add_mutually_exclusive_group()
    staff.add_argument("--agents", type=int, default=None, help="call-takers on duty 24/7")
    staff.add_argument(
        "--shift",
        type=parse_shift,
        action="append",
        default=None,
        metavar="HH:MM-HH:MM=N",
        help="a daily shift and its head count; repeat for each shift (no shift: out of hours)",
    )
    parser.add_argument("--timezone", default="WITA", help="WIB, WITA, WIT or an IANA zone")
    parser.add_argument("--start", default="2025-06-01", help="local date of the first day")
    parser.add_argument("--strategy", default="longest-idle", choices=sorted(STRATEGIES))
    parser.add_argument("--ring-timeout", type=float, default=15.0)
    parser.add_argument("--wrap-up", type=float, default=30.0)
    parser.add_argument("--max-wait", type=float, default=60.0, help="0: never overflow on wait")
    parser.add_argument(
        "--overflow",
        default="supervisors,fallback-queue",
        help="comma-separated destinations, the last being the fallback queue",
    )
    parser.add_argument("--patience", type=float, default=45.0, help="mean seconds callers wait")
    parser.add_argument("--answer-delay", type=float, default=4.0, help="seconds to pick up")
    parser.add_argument("--no-answer-share", type=float, default=0.03, help="offers not answered")
    parser.add_argument("--seed", type=int, default=112)
    parser.add_argument(
        "--screening",
        choices=("off", "on", "compare"),
        default="off",
        help="prank/ghost screening on repeat-caller traffic; compare: off vs on, same calls",
    )
    parser.add_argument(
        "--prank-pool", type=int, default=30, help="numbers prank calls come from (screening)"
    )
    parser.add_argument(
        "--ghost-pool", type=int, default=30, help="numbers ghost calls come from (screening)"
    )
    parser.add_argument(
        "--genuine-from-nuisance",
        type=float,
        default=0.05,
        help="share of genuine/information calls from a prank or ghost number (screening)",
    )


def read_trace(stream: TextIO) -> list[TraceCall]:
    """Read a trace CSV; ``arrival`` is seconds from the start, ``talk_time`` seconds."""
    calls = [
        TraceCall(
            arrival=float(row["arrival"]),
            talk_time=float(row["talk_time"]),
            caller=row.get("caller", "") or "",
            category=row.get("category", "") or "genuine",
        )
        for row in csv.DictReader(stream)
    ]
    return sorted(calls, key=lambda c: c.arrival)


def generate_calls(
    rng: random.Random,
    rate_per_hour: float,
    seconds: float,
    shares: dict[str, float],
) -> list[TraceCall]:
    """Poisson arrivals over ``seconds`` with categories drawn from ``shares``."""
    categories = list(shares)
    weights = [shares[c] for c in categories]
    calls: list[TraceCall] = []
    t = 0.0
    while rate_per_hour > 0:
        t += rng.expovariate(rate_per_hour / 3600.0)
        if t >= seconds:
            break
        category = rng.choices(categories, weights)[0]
        talk = rng.expovariate(1.0 / TALK_TIMES[category])
        calls.append(TraceCall(t, talk, f"08{rng.randrange(10**9):09d}", category))
    return calls


def generate_repeat_calls(
    rng: random.Random,
    rate_per_hour: float,
    seconds: float,
    shares: dict[str, float],
    *,
    prank_pool: int,
    ghost_pool: int,
    genuine_from_nuisance: float,
) -> list[TraceCall]:
    """Poisson arrivals like :func:`generate_calls`, with the repeat-caller model above."""
    pools = {
        "prank": [f"0857{n:07d}" for n in range(max(1, prank_pool))],
        "ghost": [f"0878{n:07d}" for n in range(max(1, ghost_pool))],
    }
    nuisance = pools["prank"] + pools["ghost"]
    calls = generate_calls(rng, rate_per_hour, seconds, shares)
    for n, call in enumerate(calls):
        pool = pools.get(call.category)
        if pool is None and rng.random() < genuine_from_nuisance:
            pool = nuisance
        if pool is not None:
            calls[n] = replace(call, caller=rng.choice(pool))
    return calls


def write_trace(calls: Sequence[TraceCall], stream: TextIO) -> None:
    """Write calls in the trace CSV format."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["arrival", "talk_time", "caller", "category"])
    for c in calls:
        writer.writerow([f"{c.arrival:.1f}", f"{c.talk_time:.1f}", c.caller, c.category])


class Simulation:
    """One run: a queue of future events, the core, and simulated people reacting to it."""

    def __init__(
        self,
        config: AcdConfig,
        calls: Sequence[TraceCall],
        *,
        start: float,
        agents: int | None,
        shifts: Sequence[ShiftSpec],
        rng: random.Random,
        patience: float,
        answer_delay: float,
        no_answer_share: float,
        screening: ScreeningPolicy | None = None,
    ) -> None:
        # Screening is the core's, as in the daemon: the calls arrive with their history.
        self.acd = Acd(config if screening is None else replace(config, screening=screening))
        self.screening = screening
        #: Caller histories by history key, as the daemon would load them from storage.
        self.histories: dict[str, CallerHistory] = {}
        #: What the core decided for each call at arrival.
        self.screened: dict[str, CallScreened] = {}
        #: Each call's true category (screening replaces the one the core keeps).
        self.categories: dict[str, str] = {}
        self.deprioritised = 0
        self.tagged = 0
        self.start = start
        self.rng = rng
        self.patience = patience
        self.answer_delay = answer_delay
        self.no_answer_share = no_answer_share
        self._heap: list[tuple[float, int, Event, int]] = []
        self._seq = itertools.count()
        self._talk: dict[str, float] = {}
        self._ring_token: dict[tuple[str, str], int] = {}
        self._arrivals_left = len(calls)
        self.records: list[CallEnded] = []
        self.agent_changes: list[AgentStateChanged] = []
        for n, call in enumerate(calls):
            call_id = f"call-{n}"
            self._talk[call_id] = call.talk_time
            self.categories[call_id] = call.category
            when = start + call.arrival
            self._push(when, CallArrived(call_id, call.caller, category=call.category))
            self._push(when + rng.expovariate(1.0 / patience), CallerHungUp(call_id))
        horizon = start + (calls[-1].arrival if calls else 0.0)
        if agents is not None:
            for k in range(agents):
                self._push(start, AgentLoggedIn(f"agent-{k + 1}", f"SIM/agent-{k + 1}"))
        roster = config.roster
        if roster is not None:
            self._schedule_shifts(roster, shifts, horizon)

    def _push(self, when: float, event: Event, token: int = 0) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), event, token))

    def _schedule_shifts(self, roster: Roster, specs: Sequence[ShiftSpec], horizon: float) -> None:
        tz = roster.zone
        first = dt.datetime.fromtimestamp(self.start, tz).date() - dt.timedelta(days=1)
        days = int((horizon - self.start) // 86400) + 3
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            for index, (shift, spec) in enumerate(zip(roster.shifts, specs, strict=True)):
                begin = dt.datetime.combine(day, shift.start, tzinfo=tz).timestamp()
                end_day = day if shift.end > shift.start else day + dt.timedelta(days=1)
                end = dt.datetime.combine(end_day, shift.end, tzinfo=tz).timestamp()
                if end < self.start or begin > horizon + 86400:
                    continue
                for k in range(spec.agents):
                    agent_id = f"s{index + 1}-{k + 1}"
                    # Log in a minute early so the handover has no gap.
                    self._push(max(self.start, begin - 60.0), AgentLoggedIn(agent_id, agent_id))
                    self._push(end, AgentLoggedOut(agent_id))

    def run(self) -> Outcome:
        """Run until every call has ended; return the KPIs."""
        acd = self.acd
        heap = self._heap
        now = self.start
        while heap or acd.calls:
            deadline = acd.next_deadline()
            if deadline is not None and (not heap or deadline <= heap[0][0]):
                now = max(now, deadline)
                commands = acd.handle_timer(now)
            else:
                when, _, event, token = heapq.heappop(heap)
                now = max(now, when)
                if not self._still_relevant(event, token):
                    continue
                if isinstance(event, CallArrived) and self.screening is not None:
                    event = replace(event, history=self.history(event.caller))
                commands = acd.handle(event, now)
            self._react(commands, now)
            if not self._arrivals_left and not acd.calls:
                break
        report = compute_kpis(self.records, self.agent_changes, until=now)
        return Outcome(
            report,
            self.records,
            now - self.start,
            deprioritised=self.deprioritised,
            tagged=self.tagged,
        )

    def history(self, caller: str) -> CallerHistory:
        """The caller's history as the daemon's loader gives it: empty when nothing is known or
        the caller has no history key (simulated callers have no IMEI identity)."""
        key = history_key(caller, None)
        if key is None:
            return CallerHistory("")
        return self.histories.get(key) or CallerHistory(key)

    def _record_disposition(self, record: CallEnded) -> None:
        key = history_key(record.caller, None)
        if key is None or record.answered_at is None:
            return
        try:
            disposition = Disposition(record.category)
        except ValueError:
            return  # a trace category screening does not know: no disposition
        history = self.histories.get(key) or CallerHistory(key)
        self.histories[key] = history.with_disposition(
            DispositionRecord(record.ended_at, disposition, record.call_id)
        )

    def _still_relevant(self, event: Event, token: int) -> bool:
        if isinstance(event, CallArrived):
            self._arrivals_left -= 1
            return True
        if isinstance(event, AgentAnswered):
            return self._ring_token.get((event.call_id, event.agent_id)) == token
        if isinstance(event, CallerHungUp):
            # Patience only runs out while nobody is talking to the caller.
            call = self.acd.calls.get(event.call_id)
            return call is not None and call.answered_at is None
        if isinstance(event, AgentLoggedIn | AgentLoggedOut | AgentUnpaused):
            return True
        return event.call_id in self.acd.calls  # type: ignore[attr-defined]

    def _react(self, commands: list[Command], now: float) -> None:
        for command in commands:
            if isinstance(command, RingAgent):
                key = (command.call_id, command.agent_id)
                token = self._ring_token.get(key, 0) + 1
                self._ring_token[key] = token
                if self.rng.random() >= self.no_answer_share:
                    delay = self.rng.uniform(0.5, 1.5) * self.answer_delay
                    self._push(now + delay, AgentAnswered(*key), token)
            elif isinstance(command, CancelRing):
                self._ring_token.pop((command.call_id, command.agent_id), None)
            elif isinstance(command, Bridge):
                self._push(now, CallBridged(command.call_id))
                talk = self._talk[command.call_id]
                self._push(now + talk, AgentHungUp(command.call_id, command.agent_id))
            elif isinstance(command, SendToDestination) and not command.fallback:
                self._push(now + DESTINATION_DELAY, DestinationAnswered(command.call_id))
            elif isinstance(command, CallScreened):
                self.screened[command.call_id] = command
                self.deprioritised += command.priority > Priority.NORMAL
                self.tagged += bool(command.tag)
            elif isinstance(command, CallEnded):
                # The call's true category, so the KPIs can be split by it; screening's is in
                # ``screened``.
                true = self.categories.get(command.call_id, command.category)
                record = replace(command, category=true)
                self.records.append(record)
                if self.screening is not None:
                    self._record_disposition(record)
            elif isinstance(command, AgentStateChanged):
                self.agent_changes.append(command)
                if command.new is AgentState.PAUSED and command.reason == AUTO_PAUSE_REASON:
                    self._push(now + AUTO_PAUSE_RECOVERY, AgentUnpaused(command.agent_id))


def per_shift(
    records: Sequence[CallEnded], shifts: Sequence[ShiftSpec], tz: ZoneInfo
) -> dict[str, KpiReport]:
    """KPIs of the calls that arrived during each shift (by local time of day)."""
    groups: dict[str, list[CallEnded]] = {spec.label: [] for spec in shifts}
    groups["out of hours"] = []
    for record in records:
        local = dt.datetime.fromtimestamp(record.arrived_at, tz).time()
        groups[_shift_of(local, shifts)].append(record)
    return {label: compute_kpis(group) for label, group in groups.items() if group}


def _shift_of(local: dt.time, shifts: Sequence[ShiftSpec]) -> str:
    for spec in shifts:
        if spec.start < spec.end:
            inside = spec.start <= local < spec.end
        else:
            inside = local >= spec.start or local < spec.end
        if inside:
            return spec.label
    return "out of hours"


def format_report(outcome: Outcome, title: str) -> str:
    """The KPI table a centre manager reads."""
    r = outcome.report
    lines = [title, ""]

    def row(label: str, value: str, note: str = "") -> None:
        lines.append(f"  {label:<34}{value:>12}  {note}".rstrip())

    row("calls", f"{r.calls:,}")
    row("answered by call-takers", f"{r.answered:,}")
    row("abandoned", f"{r.abandoned:,}", f"({r.abandonment_rate:.1f}% abandonment)")
    row("overflow destination answered", f"{r.overflowed:,}")
    row("sent to the fallback queue", f"{r.fallback:,}")
    for seconds, pct in r.answered_within.items():
        target = NENA_TARGETS.get(seconds)
        note = "NFPA 1225 target 90%" if seconds == 10 else f"NENA target {target:.0f}%"
        verdict = "" if target is None else (" ok" if pct >= target else " MISSED")
        row(f"answered within {seconds} s", f"{pct:.1f}%", note + verdict)
    row("mean answer time", _seconds(r.mean_answer_time))
    row("longest 10% answer time, mean", _seconds(r.longest_10pct_mean))
    occupancy = sorted(r.occupancy.values())
    if occupancy:
        mean = sum(occupancy) / len(occupancy)
        spread = f"min {occupancy[0]:.0f}% / max {occupancy[-1]:.0f}%"
        row(f"occupancy ({len(occupancy)} call-takers), mean", f"{mean:.1f}%", spread)
    if outcome.per_shift:
        lines += ["", f"  {'by shift':<20}{'calls':>8}{'<=15 s':>9}{'<=20 s':>9}{'abandoned':>11}"]
        for label, k in outcome.per_shift.items():
            lines.append(
                f"  {label:<20}{k.calls:>8,}{k.answered_within[15]:>8.1f}%"
                f"{k.answered_within[20]:>8.1f}%{k.abandonment_rate:>10.1f}%"
            )
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f} s"


def run(args: argparse.Namespace) -> int:
    """Entry point of ``callgate simulate``."""
    rng = random.Random(args.seed)  # noqa: S311 - a repeatable simulation, not cryptography
    zone_name = TIME_ZONES.get(args.timezone, args.timezone)
    try:
        tz = ZoneInfo(zone_name)
        start = dt.datetime.combine(dt.date.fromisoformat(args.start), dt.time(), tzinfo=tz)
    except (ValueError, KeyError) as exc:
        print(f"callgate simulate: {exc}", file=sys.stderr)
        return 2
    if args.trace is not None:
        with args.trace.open(newline="") as stream:
            calls = read_trace(stream)
        source = f"trace {args.trace.name}"
    else:
        shares = {
            "prank": args.prank_share,
            "ghost": args.ghost_share,
            "information": args.info_share,
        }
        shares["genuine"] = max(0.0, 1.0 - sum(shares.values()))
        seconds = args.days * 86400.0
        source = f"{args.rate_per_hour:g} calls/h over {args.days:g} days"
        if args.screening == "off":
            calls = generate_calls(rng, args.rate_per_hour, seconds, shares)
        else:
            calls = generate_repeat_calls(
                rng,
                args.rate_per_hour,
                seconds,
                shares,
                prank_pool=args.prank_pool,
                ghost_pool=args.ghost_pool,
                genuine_from_nuisance=args.genuine_from_nuisance,
            )
            source += (
                f" ({args.prank_share:.0%} prank from {args.prank_pool} numbers,"
                f" {args.ghost_share:.0%} ghost from {args.ghost_pool},"
                f" {args.genuine_from_nuisance:.0%} of genuine from those numbers)"
            )
    shifts: list[ShiftSpec] = args.shift or []
    agents = args.agents if args.agents is not None or shifts else 4
    roster = None
    if shifts:
        roster = Roster(
            args.timezone,
            tuple(
                Shift(
                    s.start, s.end, agents=frozenset(f"s{i + 1}-{k + 1}" for k in range(s.agents))
                )
                for i, s in enumerate(shifts)
            ),
        )
    try:
        config = AcdConfig(
            strategy=args.strategy,
            ring_timeout=args.ring_timeout,
            wrap_up_time=args.wrap_up,
            max_wait=args.max_wait or None,
            overflow_destinations=tuple(d for d in args.overflow.split(",") if d),
            roster=roster,
        )
    except AcdConfigError as exc:
        print(f"callgate simulate: {exc}", file=sys.stderr)
        return 2
    # Both runs of a comparison start from the same generator state: same seed, same people.
    state = rng.getstate()

    def simulate(screening: ScreeningPolicy | None) -> Outcome:
        run_rng = rng
        if args.screening == "compare":
            run_rng = random.Random()  # noqa: S311 - repeatable simulation
            run_rng.setstate(state)
        outcome = Simulation(
            config,
            calls,
            start=start.timestamp(),
            agents=agents,
            shifts=shifts,
            rng=run_rng,
            patience=args.patience,
            answer_delay=args.answer_delay,
            no_answer_share=args.no_answer_share,
            screening=screening,
        ).run()
        if shifts:
            outcome.per_shift = per_shift(outcome.records, shifts, tz)
        return outcome

    staffing = ", ".join(f"{s.label}={s.agents}" for s in shifts) or f"{agents} call-takers 24/7"
    title = f"callgate simulate: {source}; {staffing}; strategy {args.strategy}"
    if args.screening == "compare":
        off, on = simulate(None), simulate(ScreeningPolicy())
        title += f"; {off.duration / 86400:.1f} simulated days; screening off vs on"
        print(format_comparison(off, on, calls, title))
        return 0
    outcome = simulate(ScreeningPolicy() if args.screening == "on" else None)
    title += f"; {outcome.duration / 86400:.1f} simulated days"
    if args.screening == "on":
        title += "; screening on"
    print(format_report(outcome, title))
    if args.screening == "on":
        genuine = genuine_kpis(outcome.records, calls)
        print(f"\n  genuine calls answered within 15 s  {genuine.all.answered_within[15]:.1f}%")
    return 0


@dataclass(frozen=True, slots=True)
class GenuineKpis:
    """KPIs of the genuine calls of a run, and of those from prank or ghost numbers."""

    all: KpiReport
    "Every genuine call."
    from_nuisance: KpiReport
    "Genuine calls from a number that also made prank or ghost calls in the traffic."
    nuisance: KpiReport
    "Prank and ghost calls."


def genuine_kpis(records: Sequence[CallEnded], calls: Sequence[TraceCall]) -> GenuineKpis:
    """Split a run's records by the callers' true category."""
    nuisance_numbers = {c.caller for c in calls if c.category in _NUISANCE and c.caller}
    genuine = [r for r in records if r.category == "genuine"]
    return GenuineKpis(
        compute_kpis(genuine),
        compute_kpis(r for r in genuine if r.caller in nuisance_numbers),
        compute_kpis(r for r in records if r.category in _NUISANCE),
    )


_NUISANCE = frozenset({"prank", "ghost"})


def format_comparison(off: Outcome, on: Outcome, calls: Sequence[TraceCall], title: str) -> str:
    """Screening off vs on, over the same calls: what happens to genuine callers."""
    a, b = genuine_kpis(off.records, calls), genuine_kpis(on.records, calls)
    lines = [title, "", f"  {'':<48}{'off':>9}{'on':>9}"]

    def row(label: str, first: str, second: str, note: str = "") -> None:
        lines.append(f"  {label:<48}{first:>9}{second:>9}  {note}".rstrip())

    def pct(label: str, x: float, y: float, note: str = "") -> None:
        row(label, f"{x:.1f}%", f"{y:.1f}%", note)

    row("genuine calls", f"{a.all.calls:,}", f"{b.all.calls:,}")
    pct(
        "genuine answered within 15 s",
        a.all.answered_within[15],
        b.all.answered_within[15],
        "NENA target 90%",
    )
    pct("genuine answered within 20 s", a.all.answered_within[20], b.all.answered_within[20])
    pct("genuine abandoned", a.all.abandonment_rate, b.all.abandonment_rate)
    row(
        "genuine mean answer time",
        _seconds(a.all.mean_answer_time),
        _seconds(b.all.mean_answer_time),
    )
    row(
        "genuine from prank/ghost numbers",
        f"{a.from_nuisance.calls:,}",
        f"{b.from_nuisance.calls:,}",
    )
    pct(
        "  of those answered within 15 s",
        a.from_nuisance.answered_within[15],
        b.from_nuisance.answered_within[15],
    )
    pct(
        "prank/ghost answered within 15 s",
        a.nuisance.answered_within[15],
        b.nuisance.answered_within[15],
    )
    pct("prank/ghost abandoned", a.nuisance.abandonment_rate, b.nuisance.abandonment_rate)
    pct(
        "all calls answered within 15 s",
        off.report.answered_within[15],
        on.report.answered_within[15],
    )
    row("calls tagged on the phone", f"{off.tagged:,}", f"{on.tagged:,}")
    row("calls moved to the nuisance class", f"{off.deprioritised:,}", f"{on.deprioritised:,}")
    return "\n".join(lines)
