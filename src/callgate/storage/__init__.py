"""Storage: the call journal (SQLite by default, PostgreSQL by URL) and recording retention."""

from callgate.storage.journal import (
    Journal,
    JournalError,
    UnknownCallError,
    delete_expired_recordings,
    redact_url,
)
from callgate.storage.records import (
    AgentInvolvement,
    CallRecord,
    RecordingRecord,
    RecordingStatus,
    Transition,
)
from callgate.storage.settings import StorageSettings

__all__ = [
    "AgentInvolvement",
    "CallRecord",
    "Journal",
    "JournalError",
    "RecordingRecord",
    "RecordingStatus",
    "StorageSettings",
    "Transition",
    "UnknownCallError",
    "delete_expired_recordings",
    "redact_url",
]
