from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callgate.core.acd import Acd
from callgate.core.commands import AgentStateChanged, CallEnded, CallStateChanged, Command
from callgate.core.config import AcdConfig
from callgate.core.events import Event
from callgate.daemon.calltakers import CallTakerControl
from callgate.daemon.engine import Engine
from callgate.daemon.projection import Projection
from callgate.ports import Notification


class Clock:
    """An explicit clock the tests move by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Driven:
    """An Acd plus every notification it produced, as the engine would hand them out."""

    acd: Acd = field(default_factory=lambda: Acd(AcdConfig(wrap_up_time=0.0)))
    notes: list[Notification] = field(default_factory=list)
    #: What an observer keeps from every notification (the daemon's readers read it).
    projection: Projection = field(default_factory=Projection)

    def feed(self, event: Event, now: float) -> list[Command]:
        commands = self.acd.handle(event, now)
        for note in commands:
            self.projection.apply(note)
        self.notes.extend(
            c for c in commands if isinstance(c, CallStateChanged | AgentStateChanged | CallEnded)
        )
        return commands

    def timer(self, now: float) -> list[Command]:
        commands = self.acd.handle_timer(now)
        for note in commands:
            self.projection.apply(note)
        return commands


def projected(engine: Engine) -> Projection:
    """A projection kept from ``engine``'s notifications, heard first as app.py wires it."""
    projection = Projection()
    engine.observers.insert(0, projection.notification)
    return projection


def control_of(engine: Engine, endpoints: list[str]) -> CallTakerControl:
    """Call-takers' commands through ``engine``, hearing the core's answers as app.py wires it."""
    control = CallTakerControl(engine.feed, endpoints)
    engine.observers.append(control.notification)
    return control


class NoPhones:
    """The engine's executor when no phone system is involved: every command is a no-op."""

    async def execute(self, command: Command) -> Sequence[Event]:
        return ()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A folder for a Unix socket: tmp_path can be longer than a socket path may be (107)."""
    folder = Path(tempfile.mkdtemp(prefix="cg-sock-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


#: This test process's Unix user (root in CI): the tests map it explicitly, whichever it is.
ME = pwd.getpwuid(os.getuid()).pw_name
