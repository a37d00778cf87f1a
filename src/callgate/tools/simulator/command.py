"""``callgate simulate``'s options and its run."""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from callgate.core import (
    STRATEGIES,
    AcdConfig,
    AcdConfigError,
    Roster,
    ScreeningPolicy,
    Shift,
)
from callgate.core.roster import TIME_ZONES
from callgate.tools.simulator.results import (
    format_comparison,
    format_report,
    genuine_kpis,
    per_shift,
)
from callgate.tools.simulator.simulation import Outcome, Simulation
from callgate.tools.simulator.traffic import (
    ShiftSpec,
    generate_calls,
    generate_repeat_calls,
    parse_shift,
    read_trace,
)


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
