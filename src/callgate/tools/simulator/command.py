"""``callgate simulate``'s options and its run."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from callgate.core import (
    STRATEGIES,
    AcdConfig,
    AcdConfigError,
    BlockingPolicy,
    CallbackPolicy,
    Roster,
    ScreeningPolicy,
    Shift,
    SilencePolicy,
)
from callgate.core.roster import TIME_ZONES
from callgate.tools.simulator.recommend import format_advice, recommend
from callgate.tools.simulator.results import (
    format_comparison,
    format_report,
    genuine_report,
    per_shift,
)
from callgate.tools.simulator.simulation import Callers, Outcome, Simulation
from callgate.tools.simulator.traffic import (
    DEFAULT_TRAFFIC,
    PRESETS,
    PROFILES,
    THREE_SHIFTS,
    ShiftSpec,
    TraceCall,
    generate_calls,
    generate_repeat_calls,
    parse_shift,
    read_trace,
)

_T = TypeVar("_T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to ``parser``."""
    traffic = parser.add_argument_group("traffic")
    source = traffic.add_mutually_exclusive_group()
    source.add_argument("--trace", type=Path, help="CSV: arrival,talk_time,caller,category")
    source.add_argument("--preset", choices=sorted(PRESETS), help="generated traffic (see docs)")
    traffic.add_argument("--rate-per-hour", type=float, help="Poisson arrivals (default 12.5)")
    traffic.add_argument("--days", type=float, help="length of generated traffic (default 1)")
    traffic.add_argument("--profile", choices=sorted(PROFILES), help="rate by hour (flat)")
    traffic.add_argument("--prank-share", type=float, help="share of prank calls (0.15)")
    traffic.add_argument("--ghost-share", type=float, help="share of silent calls (0.05)")
    traffic.add_argument("--info-share", type=float, help="share of information requests (0.15)")
    traffic.add_argument("--prank-pool", type=int, help="numbers prank calls come from (30)")
    traffic.add_argument("--ghost-pool", type=int, help="numbers ghost calls come from (30)")
    traffic.add_argument(
        "--genuine-from-nuisance",
        type=float,
        default=0.05,
        help="share of genuine/information calls from a prank or ghost number",
    )
    staff = parser.add_argument_group("staffing").add_mutually_exclusive_group()
    staff.add_argument("--agents", type=int, default=None, help="call-takers on duty 24/7")
    staff.add_argument(
        "--shift",
        type=parse_shift,
        action="append",
        default=None,
        metavar="[NAME=]HH:MM-HH:MM=N",
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
    parser.add_argument("--answer-delay", type=float, default=4.0, help="seconds to pick up")
    parser.add_argument("--no-answer-share", type=float, default=0.03, help="offers not answered")
    parser.add_argument("--seed", type=int, default=112)
    daemon = parser.add_argument_group("what the daemon does (its defaults)")
    daemon.add_argument(
        "--screening",
        choices=("off", "on", "compare"),
        default="on",
        help="[screening]: history screening, the warning and the silent-caller prompt;"
        " compare: off vs on, same calls",
    )
    daemon.add_argument(
        "--blocking", action="store_true", help="[screening.blocking] enabled, with its valve"
    )
    daemon.add_argument("--callbacks", choices=("off", "on"), default="on", help="[callbacks]")
    people = parser.add_argument_group("callers (assumptions: see the simulator's docs)")
    people.add_argument("--patience", type=float, default=45.0, help="mean seconds callers wait")
    c = Callers()
    people.add_argument("--min-patience", type=float, default=c.min_patience)
    people.add_argument("--speak-after", type=float, default=c.speak_after)
    people.add_argument("--cannot-speak", type=float, default=c.cannot_speak)
    people.add_argument("--warning-deters", type=float, default=c.warning_deters)
    people.add_argument("--redials", type=int, default=c.redials)
    people.add_argument("--callback-reach", type=float, default=c.callback_reach)
    parser.add_argument(
        "--recommend",
        action="store_true",
        help="the fewest call-takers per shift for NENA's 90%% within 15 s, beside Erlang C",
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of ``callgate simulate``."""
    rng = random.Random(args.seed)  # noqa: S311 - a repeatable simulation, not cryptography
    zone_name = TIME_ZONES.get(args.timezone, args.timezone)
    try:
        tz = ZoneInfo(zone_name)
        start = dt.datetime.combine(dt.date.fromisoformat(args.start), dt.time(), tzinfo=tz)
    except (ValueError, KeyError) as exc:
        return _fail(exc)
    calls, source, span = _traffic(args, rng)
    shifts: list[ShiftSpec] = args.shift or []
    if args.recommend and not shifts:
        shifts = list(THREE_SHIFTS)
    try:
        config = _config(args, shifts)
    except AcdConfigError as exc:
        return _fail(exc)
    screening = _screening(args)
    # Every run starts from the same generator state: same seed, same people.
    state = rng.getstate()

    def simulate(on: bool, staffing: Sequence[ShiftSpec] = shifts) -> Outcome:
        run_rng = random.Random()  # noqa: S311 - repeatable simulation
        run_rng.setstate(state)
        run_config = config if not staffing else replace(config, roster=_roster(args, staffing))
        if not on:
            run_config = replace(run_config, silence=None)
        agents = args.agents if args.agents is not None or staffing else 4
        outcome = Simulation(
            run_config,
            calls,
            start=start.timestamp(),
            agents=agents,
            shifts=staffing,
            rng=run_rng,
            patience=args.patience,
            answer_delay=args.answer_delay,
            no_answer_share=args.no_answer_share,
            screening=screening if on else None,
            callers=_callers(args),
        ).run()
        if staffing:
            outcome.per_shift = per_shift(outcome.records, staffing, tz)
        return outcome

    if args.recommend:
        return _recommend(args, calls, shifts, tz, start, span, source, simulate)
    staffing = ", ".join(f"{s.label}={s.agents}" for s in shifts)
    staffing = staffing or f"{args.agents if args.agents is not None else 4} call-takers 24/7"
    title = f"callgate simulate: {source}; {staffing}; strategy {args.strategy}"
    if args.screening == "compare":
        off, on = simulate(False), simulate(True)
        title += f"; {off.duration / 86400:.1f} simulated days; screening off vs on"
        print(format_comparison(off, on, calls, title))
        return 0
    outcome = simulate(args.screening == "on")
    title += f"; {outcome.duration / 86400:.1f} simulated days"
    title += f"; {_features(args)}"
    print(format_report(outcome, title, genuine_report(outcome, calls)))
    return 0


def _fail(exc: Exception) -> int:
    print(f"callgate simulate: {exc}", file=sys.stderr)
    return 2


def _traffic(args: argparse.Namespace, rng: random.Random) -> tuple[list[TraceCall], str, float]:
    """The calls, how to name them, and the seconds they span."""
    if args.trace is not None:
        with args.trace.open(newline="") as stream:
            calls = read_trace(stream)
        last = calls[-1].arrival if calls else 0.0
        return calls, f"trace {args.trace.name}", max(3600.0, math.ceil(last / 3600) * 3600.0)
    # An option given on the command line wins over the preset, the preset over the default.
    base = PRESETS[args.preset] if args.preset else DEFAULT_TRAFFIC
    rate: float = _given(args.rate_per_hour, base.rate_per_hour)
    days: float = _given(args.days, base.days)
    shares = {
        "prank": _given(args.prank_share, base.shares["prank"]),
        "ghost": _given(args.ghost_share, base.shares["ghost"]),
        "information": _given(args.info_share, base.shares["information"]),
    }
    shares["genuine"] = max(0.0, 1.0 - sum(shares.values()))
    profile_name: str = _given(args.profile, base.profile)
    profile = PROFILES[profile_name]
    seconds = days * 86400.0
    source = f"{rate:g} calls/h over {days:g} days"
    if args.preset:
        source = f"preset {args.preset} ({base.note}): {source}"
    if profile_name != "flat":
        source += f", {profile_name} profile"
    if args.screening == "off":
        return generate_calls(rng, rate, seconds, shares, profile), source, seconds
    prank_pool: int = _given(args.prank_pool, base.prank_pool)
    ghost_pool: int = _given(args.ghost_pool, base.ghost_pool)
    calls = generate_repeat_calls(
        rng,
        rate,
        seconds,
        shares,
        prank_pool=prank_pool,
        ghost_pool=ghost_pool,
        genuine_from_nuisance=args.genuine_from_nuisance,
        profile=profile,
    )
    source += (
        f" ({shares['prank']:.0%} prank from {prank_pool} numbers,"
        f" {shares['ghost']:.0%} ghost from {ghost_pool},"
        f" {args.genuine_from_nuisance:.0%} of genuine from those numbers)"
    )
    return calls, source, seconds


def _given(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def _roster(args: argparse.Namespace, shifts: Sequence[ShiftSpec]) -> Roster:
    return Roster(
        args.timezone,
        tuple(
            Shift(
                s.start,
                s.end,
                agents=frozenset(f"s{i + 1}-{k + 1}" for k in range(s.agents)),
                name=s.label,
            )
            for i, s in enumerate(shifts)
        ),
    )


def _config(args: argparse.Namespace, shifts: Sequence[ShiftSpec]) -> AcdConfig:
    """The core's configuration, as the daemon's ``acd_config`` builds it from its defaults."""
    return AcdConfig(
        strategy=args.strategy,
        ring_timeout=args.ring_timeout,
        wrap_up_time=args.wrap_up,
        max_wait=args.max_wait or None,
        overflow_destinations=tuple(d for d in args.overflow.split(",") if d),
        roster=_roster(args, shifts) if shifts else None,
        # The daemon's silent-caller watch: 10 s of silence, then 10 s for a key.
        silence=SilencePolicy(prompt="tekan-tombol") if args.screening != "off" else None,
        # The daemon's [callbacks] defaults: first attempt a minute after the abandon.
        callbacks=CallbackPolicy(first_delay=60.0) if args.callbacks == "on" else None,
    )


def _screening(args: argparse.Namespace) -> ScreeningPolicy:
    blocking = BlockingPolicy(announcement="diblokir") if args.blocking else None
    return ScreeningPolicy(blocking=blocking)


def _callers(args: argparse.Namespace) -> Callers:
    return Callers(
        min_patience=args.min_patience,
        speak_after=args.speak_after,
        cannot_speak=args.cannot_speak,
        warning_deters=args.warning_deters,
        redials=args.redials,
        callback_reach=args.callback_reach,
    )


def _features(args: argparse.Namespace) -> str:
    parts = [
        "screening " + ("off" if args.screening == "off" else "on (warning, silent-caller prompt)")
    ]
    if args.blocking and args.screening != "off":
        parts.append("blocking with its valve")
    parts.append(f"callbacks {args.callbacks}")
    return ", ".join(parts)


def _recommend(
    args: argparse.Namespace,
    calls: list[TraceCall],
    shifts: Sequence[ShiftSpec],
    tz: ZoneInfo,
    start: dt.datetime,
    span: float,
    source: str,
    simulate: Callable[[bool, Sequence[ShiftSpec]], Outcome],
) -> int:
    def staffed(heads: Sequence[int]) -> Outcome:
        staffing = [replace(s, agents=n) for s, n in zip(shifts, heads, strict=True)]
        return simulate(args.screening != "off", staffing)

    def progress(text: str) -> None:
        print(f"callgate simulate --recommend: {text}", file=sys.stderr, flush=True)

    advice = recommend(
        calls,
        shifts,
        tz=tz,
        start=start.timestamp(),
        span=span,
        wrap_up=args.wrap_up,
        simulate=staffed,
        progress=progress,
    )
    title = (
        f"callgate simulate --recommend: {source}; {len(calls):,} calls; seed {args.seed};"
        f" {args.timezone}; {_features(args)}"
    )
    print(format_advice(advice, title))
    if all(a.heads is not None for a in advice):
        final = staffed([a.heads or 0 for a in advice])
        report = genuine_report(final, calls)
        counts = ", ".join(f"{a.label}={a.heads}" for a in advice)
        print(
            f"\n  all shifts so staffed ({counts}), genuine callers: answered within 15 s"
            f" {report.answered_within[15]:.1f}%,\n  within 20 s"
            f" {report.answered_within[20]:.1f}%, reached by a human within 2 min"
            f" {report.reached:.1f}%"
        )
    return 0
