"""Storage: the call journal (SQLite by default, PostgreSQL by URL) and recording retention."""

# annotations, blocks, callbacks and outbox are imported here so their tables join the models'
# metadata, which the migrations check compares with the migrated schema.
from callgate.storage.annotations import CallAnnotation, JournalAnnotations
from callgate.storage.blocks import BlockRow
from callgate.storage.callbacks import CallbackAttemptRow, CallbackTaskRow
from callgate.storage.database import (
    JournalError,
    JournalUnavailable,
    UnknownCallError,
    redact_url,
)
from callgate.storage.fallback_calls import FallbackCallFacts, FallbackWrite
from callgate.storage.journal import Journal
from callgate.storage.outbox import Outbox, OutboxEntry
from callgate.storage.records import (
    AgentInvolvement,
    CallRecord,
    RecordingRecord,
    RecordingStatus,
    Transition,
)
from callgate.storage.retention import delete_expired_recordings
from callgate.storage.settings import StorageSettings

__all__ = [
    "AgentInvolvement",
    "BlockRow",
    "CallAnnotation",
    "CallRecord",
    "CallbackAttemptRow",
    "CallbackTaskRow",
    "FallbackCallFacts",
    "FallbackWrite",
    "Journal",
    "JournalAnnotations",
    "JournalError",
    "JournalUnavailable",
    "Outbox",
    "OutboxEntry",
    "RecordingRecord",
    "RecordingStatus",
    "StorageSettings",
    "Transition",
    "UnknownCallError",
    "delete_expired_recordings",
    "redact_url",
]
