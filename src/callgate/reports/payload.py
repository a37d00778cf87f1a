"""A report as JSON for the managers' report pages: the same figures as ``callgate report``
prints (one decimal where it prints one), under names the page and its tests read."""

from __future__ import annotations

from typing import Any

from callgate.reports.calltaker_figures import CallTakerFigures, CallTakerReport
from callgate.reports.figures import NENA_TARGETS, NUISANCE_DISPOSITIONS, Report, Share

JsonDict = dict[str, Any]


def _one(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _pct(share: Share) -> float | None:
    return _one(share.percent)


def report_json(report: Report) -> JsonDict:
    """Every figure of ``report``; times are local ISO 8601 of the centre's zone."""
    r = report
    p = r.period
    a = r.answer_times
    nuisance = sum(c.calls for c in r.dispositions if c.name in NUISANCE_DISPOSITIONS)
    summary: JsonDict = {
        "received": r.received,
        "in_progress": r.in_progress,
        "offered": r.ended,
        "answered": r.answered,
        "answered_pct": _pct(Share(r.answered, r.ended)),
        "answered_time_unknown": r.answered_time_unknown,
        "abandoned": r.abandoned.part,
        "abandoned_pct": _pct(r.abandoned),
        "abandon_wait_p50": _one(r.abandon_wait_p50),
        "overflowed": r.outcomes.get("OVERFLOWED", 0),
        "fallback": r.outcomes.get("FALLBACK", 0),
        "prank_ghost": nuisance,
        "prank_ghost_pct": _pct(Share(nuisance, r.ended)),
        "callbacks": r.callbacks.tasks,
        "callback_attempts": r.callbacks.attempts,
        "answer_mean": _one(a.mean),
        "answer_p50": _one(a.p50),
        "answer_p90": _one(a.p90),
        "answer_max": _one(a.max),
    }
    for s in NENA_TARGETS:
        offered, answered = r.nena.of_offered[s], r.nena.of_answered[s]
        summary[f"within_{s}"] = offered.part
        summary[f"within_{s}_pct"] = _pct(offered)
        summary[f"within_{s}_of_answered_pct"] = _pct(answered)
        summary[f"nena_{s}_target"] = NENA_TARGETS[s]
        summary[f"nena_{s}_met"] = r.nena.met(s)
    c = r.callbacks
    return {
        "label": p.label,
        "zone": p.tz.key,
        "start": p.start.astimezone(p.tz).isoformat(),
        "end": p.end.astimezone(p.tz).isoformat(),
        "summary": summary,
        "outcomes": dict(r.outcomes),
        "answer_times": [{"label": label, "calls": n} for label, n in a.buckets],
        "hours": [
            {
                "hour": h.hour,
                "offered": h.offered,
                "answered": h.answered,
                "within_15": h.within_15,
                "within_20": h.within_20,
                "abandoned": h.abandoned,
                "p50": _one(h.p50),
                "p90": _one(h.p90),
            }
            for h in r.hours
        ],
        "dispositions": [
            {"name": d.name, "calls": d.calls, "answered": d.answered, "abandoned": d.abandoned}
            for d in r.dispositions
        ],
        "screening": [
            {"name": d.name, "calls": d.calls, "answered": d.answered, "abandoned": d.abandoned}
            for d in r.screening
        ],
        "callbacks": {
            "available": c.available,
            "tasks": c.tasks,
            "by_reason": dict(c.by_reason),
            "by_state": dict(c.by_state),
            "nuisance_tasks": c.nuisance_tasks,
            "attempts": c.attempts,
            "attempts_by_outcome": dict(c.attempts_by_outcome),
            "first_attempt_p50": _one(c.first_attempt_p50),
            "pseudo_calls": c.pseudo_calls,
        },
        "nuisance": [
            {
                "caller": n.caller,
                "prank": n.prank,
                "ghost": n.ghost,
                "calls": n.calls,
                "last_call": n.last_call.astimezone(p.tz).isoformat(),
            }
            for n in r.nuisance
        ],
        "notes": list(r.notes),
    }


def figures_json(row: CallTakerFigures) -> JsonDict:
    """One call-taker's figures over one window (seconds rounded as the CSV rounds them)."""
    return {
        "handled": row.handled,
        "callbacks": row.callbacks,
        "talk_s": round(row.talk_seconds),
        "mean_talk_s": None if row.mean_talk is None else round(row.mean_talk),
        "logged_in_s": round(row.logged_in_seconds),
        "paused_s": round(row.paused_seconds),
        "available_s": round(row.available_seconds),
        "occupancy_pct": _one(row.occupancy),
        "missed_rings": row.missed_rings,
        "pauses": [
            {"reason": reason, "count": row.pause_counts.get(reason, 0), "seconds": round(s)}
            for reason, s in row.pause_seconds.items()
        ],
    }


def calltaker_json(report: CallTakerReport, agent_id: str) -> JsonDict:
    """Call-taker ``agent_id``'s figures over the period and per shift (zero when absent)."""
    p = report.period
    mine = next((r for r in report.calltakers if r.agent_id == agent_id), None)
    shifts = []
    for shift in report.shifts:
        row = next((r for r in shift.calltakers if r.agent_id == agent_id), None)
        if row is not None:
            shifts.append(
                {
                    "day": shift.day,
                    "shift": shift.shift,
                    "start": shift.start.astimezone(p.tz).isoformat(),
                    "end": shift.end.astimezone(p.tz).isoformat(),
                    "figures": figures_json(row),
                }
            )
    return {
        "label": p.label,
        "zone": p.tz.key,
        "start": p.start.astimezone(p.tz).isoformat(),
        "end": p.end.astimezone(p.tz).isoformat(),
        "calltaker": agent_id,
        "figures": figures_json(mine or CallTakerFigures(agent_id)),
        "shifts": shifts,
        "open": bool(report.notes),
        "notes": list(report.notes),
    }
