"""The admin port's browser sessions and wall screens, kept in the journal (#24): built here so
that the composition root wires them in one line."""

from __future__ import annotations

from callgate.auth import Authenticator
from callgate.config import Settings
from callgate.http.displays import Displays
from callgate.http.sessions import BrowserSessions
from callgate.http.streams import LiveStreams
from callgate.storage.browser_sessions import JournalSessions
from callgate.storage.journal import Journal


def browser_sessions(
    settings: Settings, authenticator: Authenticator, journal: Journal, streams: LiveStreams
) -> tuple[BrowserSessions, Displays]:
    """The sessions (surviving restarts in ``journal``) and the displays' routes (a revoked
    screen's live ``streams`` end at once)."""
    records = JournalSessions(journal)
    sessions = BrowserSessions.from_settings(settings.ops, authenticator, records)
    return sessions, Displays(records, sessions, streams.end_streams)
