"""CAD events between the report and the outbox: queued, numbered, and spooled at a stop.

The publisher queues an event the moment the daemon reports it, with ``seq`` 1 standing in:
its writer numbers it (:func:`number`) only when it stores it in the outbox, so the stream's
``seq`` has no gap whatever waited in between. An event still queued at a stop (the database
away) is spooled as it is, before numbering (:func:`to_json`), and numbered at the next start
when it is stored, after the stream's last stored ``seq``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from callgate.mqtt.schema import EVENT_ADAPTER, EventBase
from callgate.ports import OutboxEntry, OutboxStore
from callgate.spool import JsonObject


@dataclass(frozen=True, slots=True)
class Pending:
    """An event waiting for the writer, which gives it its ``seq`` (1 until then)."""

    event: EventBase
    stream: str
    topic: str
    retain: bool
    if_new: bool = False
    """Store only if the stream had no event before this batch: a restored call's
    ``received`` and ``screened``, which a killed process may or may not have stored."""
    spooled: bool = False
    """Read back from the spool: a process killed while writing it may have stored it."""


def to_json(pending: Pending) -> JsonObject:
    """The spool's line of ``pending`` (the event as CAD would get it, ``type`` naming it)."""
    return {
        "event": pending.event.model_dump(mode="json"),
        "stream": pending.stream,
        "topic": pending.topic,
        "retain": pending.retain,
        "if_new": pending.if_new,
    }


def from_json(data: JsonObject) -> Pending:
    """The event :func:`to_json` spooled; ``ValueError`` if the schema does not take it."""
    stream, topic, retain, if_new = data["stream"], data["topic"], data["retain"], data["if_new"]
    texts, flags = (stream, topic), (retain, if_new)
    if not all(isinstance(v, str) for v in texts) or not all(isinstance(v, bool) for v in flags):
        raise TypeError(f"not a spooled event: {data!r}")
    event = EVENT_ADAPTER.validate_python(data["event"])
    return Pending(event, stream, topic, retain, if_new, spooled=True)


async def number(
    batch: Sequence[Pending], remembered: Mapping[str, int], outbox: OutboxStore
) -> tuple[list[OutboxEntry], dict[str, int]]:
    """Number ``batch`` after each stream's last ``seq`` (``remembered``, else the outbox's):
    its entries for the outbox and the streams' new last ``seq``.

    A spooled event the outbox already has (stored by a process killed before it removed the
    spool) is left out, so it neither appears twice nor takes a ``seq``.
    """
    # A stream not in memory continues from the outbox: a late event of a forgotten call
    # (a disposition, a recording) must not start again at 1, which CAD would take as old.
    unknown = {q.stream for q in batch if q.stream not in remembered}
    seqs = await outbox.last_seqs(unknown)
    spooled = [q.event.event_id for q in batch if q.spooled]
    stored = await outbox.known(spooled) if spooled else set()
    # Streams with an event that is not an ``if_new`` one, stored or earlier in this batch.
    started = {q.stream for q in batch if seqs.get(q.stream, remembered.get(q.stream, 0))}
    entries = []
    for q in batch:
        if (q.if_new and q.stream in started) or q.event.event_id in stored:
            continue
        if not q.if_new:
            started.add(q.stream)
        seq = seqs.get(q.stream, remembered.get(q.stream, 0)) + 1
        seqs[q.stream] = seq
        event = q.event.model_copy(update={"seq": seq})
        entries.append(
            OutboxEntry(
                event_id=event.event_id,
                stream=q.stream,
                seq=seq,
                topic=q.topic,
                payload=event.model_dump_json(),
                retain=q.retain,
                created_at=event.at,
            )
        )
    return entries, seqs
