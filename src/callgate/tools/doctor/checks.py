"""What ``callgate doctor`` reports: one :class:`Check` per row, and the host it looks at."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from callgate.config import Settings


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a result, not a password
    WARN = "warn"
    """Not known to be wrong, not known to be right (e.g. the clock's state cannot be read)."""
    FAIL = "fail"
    SKIP = "skip"
    """The check could not run; ``detail`` says why (another check's failure, usually)."""


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""
    """What to do about a failure or a warning (empty when it passed)."""


def passed(name: str, detail: str) -> Check:
    return Check(name, Status.PASS, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, Status.FAIL, detail, fix)


@dataclass(frozen=True)
class Host:
    """What the checks look at: the config, and where this host keeps Asterisk's files."""

    settings: Settings
    config_path: Path | None
    asterisk_root: Path = Path("/")
    """The root Asterisk sees (``/``; a chroot: its folder). Its /etc/asterisk and
    /usr/share/asterisk/sounds are read, absolute links resolved inside it."""
    service_user: str = "callgate"
    """The Unix user the daemon runs as (the unit's ``User=``)."""
    days: int = 30
    """Days of recordings the free disk must hold at the current rate."""
    timeout: float = 5.0
    """Seconds to wait for each peer (Asterisk, the broker, the database)."""

    def asterisk_path(self, path: str) -> Path:
        """``path`` as Asterisk sees it, on this host (see :func:`in_root`)."""
        return in_root(self.asterisk_root, path)

    @property
    def asterisk_etc(self) -> Path:
        return self.asterisk_path("/etc/asterisk")

    @property
    def sounds_dir(self) -> Path:
        return self.asterisk_path("/usr/share/asterisk/sounds")


def in_root(root: Path, path: str) -> Path:
    """Absolute ``path`` under ``root`` as a process chrooted there sees it: a symbolic link to
    an absolute target (Debian's sounds/en -> /etc/alternatives/...) starts again at ``root``,
    ``..`` never leaves it. A missing part ends the walk (the path then does not exist)."""
    parts = list(PurePosixPath(path).parts[1:])
    current, hops = root, 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if candidate.is_symlink() and hops < 40:
            hops += 1
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                current, parts = root, [*target.parts[1:], *parts]
            else:
                parts = [*target.parts, *parts]
            continue
        current = candidate
    return current
