"""A call's timeline and its summary in Bahasa Indonesia, from what the journal knows of it
(:class:`~callgate.storage.inquiries.CallFile`), for an inquiry (#23): the admin API's
``/api/calls/{id}/timeline``, the export bundle's ``call.json`` and ``ringkasan.txt``.

Each event has a stable English ``kind`` (for programs) and an Indonesian ``text`` (for people);
times are ISO 8601 with the centre's UTC offset. Nothing here reads a clock or a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from callgate.storage.agent_events import CALL_ANSWERED, CALL_ENDED, RING_MISSED
from callgate.storage.inquiries import AuditEntry, CallFile, CallSummary
from callgate.storage.records import SUPERVISOR_ROLE, RecordingStatus

JsonDict = dict[str, Any]

#: The outcomes as a person in the centre says them.
OUTCOMES = {
    "COMPLETED": "selesai dilayani",
    "ABANDONED": "ditinggalkan penelepon sebelum dijawab",
    "OVERFLOWED": "dialihkan ke tujuan luapan",
    "FALLBACK": "dilayani antrean cadangan Asterisk",
}
#: The audit trail's steps as the timeline tells them.
ACCESS = {
    "played": "Rekaman diputar",
    "exported": "Bundel bukti diekspor",
    "hold": "Rekaman ditahan (legal hold)",
    "unhold": "Penahanan rekaman dicabut",
    "refused": "Akses ditolak",
    "mismatch": "PERINGATAN: hash rekaman tidak cocok dengan jurnal",
}
#: Actions of the trail that a call's timeline lists (a search names no call).
SHOWN = tuple(ACCESS)
#: A supervisor's ways on a conversation, as the board says them (Dengar, Bisik, Gabung).
MONITOR_MODES = {"listen": "dengar", "whisper": "bisik", "barge": "gabung"}


def recording_url(call_id: str) -> str:
    """Where the admin API serves the call's recording (also in CAD's ``recording-ready``)."""
    return f"/api/calls/{call_id}/recording"


@dataclass(frozen=True, slots=True)
class Clock:
    """How times are shown: the centre's zone."""

    zone: tzinfo

    def show(self, at: datetime | None) -> str | None:
        return None if at is None else at.astimezone(self.zone).isoformat(timespec="seconds")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 1)


def summary_json(s: CallSummary, clock: Clock) -> JsonDict:
    """The API's CallSummary."""
    return {
        "call_id": s.call_id,
        "started_at": clock.show(s.started_at),
        "ended_at": clock.show(s.ended_at),
        "caller_sent": s.caller_sent,
        "caller": s.caller,
        "calltaker": s.calltaker,
        "outcome": s.outcome,
        "disposition": s.disposition,
        "tags": list(s.tags),
        "fallback": s.fallback,
        "wait_s": _seconds(s.started_at, s.answered_at),
        "talk_s": _seconds(s.answered_at, s.ended_at),
        "recording": s.recording,
        "hold": s.hold,
    }


def _events(f: CallFile) -> list[tuple[datetime, str, str, str | None]]:
    c = f.call
    events: list[tuple[datetime, str, str, str | None]] = []
    add = events.append
    add((c.started_at, "entered", f"Panggilan masuk dari {c.caller_sent or 'nomor tersembunyi'}"
         f" (dinormalkan {c.caller or '-'}) ke {c.dialed}", None))  # fmt: skip
    if f.summary.tags or c.priority != 1:
        tags = ", ".join(f.summary.tags) or "-"
        add((c.started_at, "screened", f"Penyaringan: prioritas {c.priority}, tanda {tags}", None))
    rings = [e for e in f.agent_events if e.event in (RING_MISSED, CALL_ANSWERED)]
    for t in c.transitions:
        if t.to_state == "OFFERED":
            # The ring's end (missed or answered) after the offer says to whom and how long.
            ring = next((e for e in rings if e.at >= t.at), None)
            if ring is None:
                add((t.at, "offered", "Ditawarkan ke petugas", None))
            else:
                rings.remove(ring)
                rang = (ring.at - t.at).total_seconds()
                how = "tidak dijawab" if ring.event == RING_MISSED else "dijawab"
                add((t.at, "offered", f"Ditawarkan ke petugas {ring.agent_id}; berdering"
                     f" {rang:.0f} detik, {how}", ring.agent_id))  # fmt: skip
        elif t.to_state == "OVERFLOWING":
            add((t.at, "overflow", "Dialihkan: tidak ada petugas yang dapat menjawab", None))
    for e in f.agent_events:
        if e.event == RING_MISSED:
            add((e.at, "missed", f"Petugas {e.agent_id} tidak menjawab dering", e.agent_id))
        elif e.event == CALL_ANSWERED:
            add((e.at, "answered", f"Dijawab oleh petugas {e.agent_id}", e.agent_id))
        elif e.event == CALL_ENDED:
            ender = f" ({e.cause})" if e.cause else ""
            add((e.at, "calltaker-ended", f"Petugas {e.agent_id} selesai{ender}", e.by))
    if c.answered_at is not None and not any(e.event == CALL_ANSWERED for e in f.agent_events):
        add((c.answered_at, "answered", f"Dijawab oleh petugas {c.answered_by or '-'}",
             c.answered_by))  # fmt: skip
    for a in c.agents:
        if a.role.startswith(SUPERVISOR_ROLE):
            add(_supervisor_step(a.role.removeprefix(SUPERVISOR_ROLE), a.agent_id, a.at))
        elif a.role != "call-taker":
            add((a.at, "handoff", f"Instansi {a.agent_id} dihubungkan ke panggilan", None))
    if c.ended_at is not None:
        outcome = OUTCOMES.get(c.outcome or "", c.outcome or "-")
        wait = _seconds(c.started_at, c.answered_at)
        waited = "" if wait is None else f"; menunggu {wait:g} detik"
        add((c.ended_at, "ended", f"Panggilan berakhir: {outcome}{waited}", None))
    n = f.annotation
    if n is not None and n.disposition is not None and n.disposition_at is not None:
        add((n.disposition_at, "disposition", f"Diklasifikasikan sebagai {n.disposition}",
             n.disposition_by))  # fmt: skip
    if n is not None and n.callback_requested_at is not None:
        add((n.callback_requested_at, "callback", "Panggil balik diminta", n.callback_by))
    for task in f.callbacks:
        for at, result, agent in task.attempts:
            add((at, "callback", f"Panggilan balik oleh {agent}: {result}", agent))
    r = c.recording
    if r is not None:
        if r.status == RecordingStatus.FAILED:
            add((r.at, "recording", f"Rekaman gagal: {r.reason or '-'}", None))
        else:
            sealed = "tersegel" if r.reason is None else f"TIDAK tersegel ({r.reason})"
            add((r.at, "recording", f"Rekaman {r.duration_s or 0:.0f} detik, {sealed}, SHA-256"
                 f" {r.sha256}", None))  # fmt: skip
        if r.deleted_at is not None:
            add((r.deleted_at, "recording", "Berkas rekaman dihapus oleh retensi", None))
    for entry in f.access:
        if entry.action in ACCESS:
            why = f": {entry.reason}" if entry.reason else ""
            add((entry.at, entry.action, f"{ACCESS[entry.action]}{why}", entry.by))
    events.sort(key=lambda e: e[0])
    return events


def _supervisor_step(step: str, by: str, at: datetime) -> tuple[datetime, str, str, str | None]:
    """A supervisor's step (:data:`~callgate.storage.records.SUPERVISOR_ROLE`)."""
    action, _, detail = step.partition(":")
    if action == "assign":
        to = f" ke petugas {detail}" if detail else ""
        return (at, "supervisor-assigned", f"Supervisor {by} memberikan penelepon{to}", by)
    mode = MONITOR_MODES.get(action, action)
    if detail == "joined":
        return (at, "supervisor-joined", f"Supervisor {by} masuk ke percakapan ({mode})", by)
    if detail == "left":
        return (at, "supervisor-left", f"Supervisor {by} keluar dari percakapan ({mode})", by)
    return (at, "supervisor-requested", f"Supervisor {by} meminta {mode}: teleponnya berdering",
            by)  # fmt: skip


def _access(entry: AuditEntry, clock: Clock) -> JsonDict:
    return {"at": clock.show(entry.at), "by": entry.by, "action": entry.action,
            "reason": entry.reason}  # fmt: skip


def timeline_json(
    f: CallFile, clock: Clock, retention_days: int, *, access: bool = True
) -> JsonDict:
    """The API's timeline of the call; ``access`` False: its ``access`` list is empty and its
    hold names no one and no reason (a call-taker reading their own call is not shown who
    investigated them, nor why)."""
    recording: JsonDict | None = None
    r = f.call.recording
    if r is not None and r.status == RecordingStatus.READY:
        hold = None
        if f.hold is not None:
            # That the recording is kept, yes; who held it and why only with ``access``.
            hold = {"reason": f.hold.reason if access else None,
                    "by": f.hold.by if access else None, "at": clock.show(f.hold.at)}  # fmt: skip
        expires = None if hold is not None else r.at + timedelta(days=retention_days)
        recording = {
            "url": recording_url(f.call.call_id),
            "duration_s": r.duration_s,
            "sha256": r.sha256,
            "sealed": r.reason is None,
            "expires_at": clock.show(expires),
            "hold": hold,
        }
    return {
        "call": summary_json(f.summary, clock),
        "events": [
            {"at": clock.show(at), "kind": kind, "text": text, "by": by}
            for at, kind, text, by in _events(f)
        ],
        "recording": recording,
        "access": [_access(e, clock) for e in f.access if access and e.action in SHOWN],
    }


def summary_text(timeline: JsonDict, *, exported_by: str, exported_at: str, reason: str) -> str:
    """``ringkasan.txt``: the timeline for a reader of the bundle, in Bahasa Indonesia."""
    call = timeline["call"]
    lines = [
        "RINGKASAN PANGGILAN 112",
        "",
        f"ID panggilan      : {call['call_id']}",
        f"Nomor penelepon   : {call['caller_sent']} (dinormalkan {call['caller']})",
        f"Mulai             : {call['started_at']}",
        f"Selesai           : {call['ended_at'] or '-'}",
        f"Petugas           : {call['calltaker'] or '-'}",
        f"Hasil             : {OUTCOMES.get(call['outcome'] or '', call['outcome'] or '-')}",
        f"Klasifikasi       : {call['disposition'] or '-'}",
        f"Tanda             : {', '.join(call['tags']) or '-'}",
        "",
        "KRONOLOGI",
    ]
    for event in timeline["events"]:
        by = f" [{event['by']}]" if event["by"] else ""
        lines.append(f"{event['at']}  {event['text']}{by}")
    recording = timeline["recording"]
    lines += ["", "REKAMAN"]
    if recording is None:
        lines.append("Tidak ada berkas rekaman.")
    else:
        lines.append(f"Durasi {recording['duration_s']} detik; SHA-256 di jurnal:")
        lines.append(str(recording["sha256"]))
        lines.append("Tersegel." if recording["sealed"] else "TIDAK tersegel.")
    lines += [
        "",
        f"Diekspor oleh {exported_by} pada {exported_at}.",
        f"Alasan: {reason}",
        "Periksa keutuhan berkas dengan SHA-256 di manifest.json.",
        "",
    ]
    return "\n".join(lines)
