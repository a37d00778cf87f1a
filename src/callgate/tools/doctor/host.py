"""The doctor's checks of this host: published lab secrets, the recordings folder and its group,
the clock, the free disk; and the services beside Asterisk: the journal and the broker."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from callgate.config import unsafe_outside_lab
from callgate.tools.doctor.checks import Check, Host, Status, failed, passed

#: Recordings of the last this many days give the current rate.
RATE_DAYS = 7
#: systemd units that may give callgate Asterisk's group (``SupplementaryGroups=``).
UNIT_FILES = (
    Path("/etc/systemd/system/callgate.service"),
    Path("/lib/systemd/system/callgate.service"),
    Path("/usr/lib/systemd/system/callgate.service"),
)

Runner = Callable[[list[str]], "subprocess.CompletedProcess[str] | None"]


def check_lab_secrets(host: Host) -> Check:
    name = "lab secret"
    if host.settings.lab:
        return Check(name, Status.WARN, "lab = true: the lab's published secrets are allowed",
                     "never on a 112 host: remove lab = true (and CALLGATE_LAB)")  # fmt: skip
    found = unsafe_outside_lab(host.settings)
    if found:
        keys = [line.partition(":")[0] for line in found]
        return failed(
            name,
            f"{len(found)} published or unsafe: {', '.join(keys)}",
            "make your own secrets (secrets.env CALLGATE_..._PASSWORD, callgate users), "
            "a broker user and TLS: callgate check-config names each",
        )
    return passed(name, "none of the lab's published secrets or users")


def recordings_folder(host: Host) -> Path:
    return Path(host.settings.recording.asterisk_dir) / "callgate"


def check_recordings_folder(host: Host) -> Check:
    name, folder = "recordings folder", recordings_folder(host)
    fix = f"install -d -m 2770 -o asterisk -g asterisk {folder}"
    try:
        info = folder.stat()
    except OSError as exc:
        return failed(name, f"{folder}: {exc.strerror or exc}", fix)
    owner, group = _user_name(info.st_uid), _group_name(info.st_gid)
    mode = stat.S_IMODE(info.st_mode)
    problems = []
    if owner != "asterisk":
        problems.append(f"owner {owner}, not asterisk")
    if not mode & stat.S_ISGID:
        problems.append("no setgid bit (new recordings would not get the folder's group)")
    if mode & 0o070 != 0o070:
        problems.append("the group may not read, write and enter it")
    if mode & 0o007:
        problems.append("others have access")
    detail = f"{folder} {owner}:{group} {mode:04o}"
    if problems:
        return failed(name, f"{detail}: {'; '.join(problems)}", fix)
    return passed(name, detail)


def check_asterisk_group(host: Host, unit_files: tuple[Path, ...] = UNIT_FILES) -> Check:
    """The service user reaches the recordings through their group: a member in /etc/group,
    or given it by the unit (``SupplementaryGroups=``)."""
    name = "Asterisk group"
    try:
        gid = recordings_folder(host).stat().st_gid
        group = grp.getgrgid(gid)
    except (OSError, KeyError):
        try:
            group = grp.getgrnam("asterisk")
        except KeyError:
            return failed(name, "no group asterisk on this host", "install Asterisk")
    user = host.service_user
    try:
        primary = pwd.getpwnam(user).pw_gid
    except KeyError:
        return failed(name, f"no user {user}", "systemd-sysusers (the package's sysusers file)")
    if user in group.gr_mem or primary == group.gr_gid:
        return passed(name, f"{user} is in group {group.gr_name}")
    for unit in unit_files:
        try:
            text = unit.read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "SupplementaryGroups" and group.gr_name in value.split():
                return passed(name, f"{unit} gives {user} group {group.gr_name}")
    return failed(
        name,
        f"{user} is not in group {group.gr_name}: recordings cannot be read or deleted",
        f"usermod -aG {group.gr_name} {user} (or SupplementaryGroups={group.gr_name} in the "
        "unit), then restart callgate",
    )


def _run(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    path = shutil.which(argv[0])
    if path is None:
        return None
    try:
        return subprocess.run(  # noqa: S603 - fixed arguments
            [path, *argv[1:]], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def check_clock(run: Runner = _run) -> Check:
    """NTP synchronisation, as systemd or chrony tell it; 'unknown' is a warning."""
    name = "clock"
    fix = "enable time synchronisation: timedatectl set-ntp true, or install chrony"
    done = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if done is not None and done.returncode == 0 and done.stdout.strip() in ("yes", "no"):
        if done.stdout.strip() == "yes":
            return passed(name, "synchronised (timedatectl)")
        return failed(name, "not synchronised (timedatectl NTPSynchronized=no)", fix)
    done = run(["chronyc", "-n", "tracking"])
    if done is not None and done.returncode == 0 and "Leap status" in done.stdout:
        for line in done.stdout.splitlines():
            if line.startswith("Leap status"):
                leap = line.partition(":")[2].strip()
                if leap == "Normal":
                    return passed(name, "synchronised (chronyc)")
                return failed(name, f"chronyc: leap status {leap}", fix)
    return Check(
        name,
        Status.WARN,
        "unknown: neither timedatectl nor chronyc answered (the journal's times are evidence)",
        fix,
    )


def check_disk(host: Host, now: float | None = None) -> Check:
    name, folder = "disk", recordings_folder(host)
    if not folder.is_dir():
        return Check(name, Status.SKIP, f"no recordings folder {folder}")
    since = (time.time() if now is None else now) - RATE_DAYS * 86400
    written = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    if info.st_mtime >= since:
                        written += info.st_size
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return Check(name, Status.SKIP, f"{folder}: {exc.strerror or exc}")
    per_day = written / RATE_DAYS
    need = per_day * host.days
    detail = (
        f"{_size(free)} free; {_size(per_day)} a day of recordings (last {RATE_DAYS} days): "
        f"{host.days} days need {_size(need)}"
    )
    if free < need:
        return failed(
            name,
            detail,
            f"more disk under {folder}, or a shorter [recording] retention_days",
        )
    return passed(name, detail)


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:.0f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# -- the journal and the broker ------------------------------------------------------------


async def check_journal(host: Host) -> Check:
    """Migrated to the newest revision, and writable (SQLite: by the service user; PostgreSQL:
    its user may insert calls). Never creates nor migrates anything: the daemon does at start."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine

    from callgate.storage.database import parse_url, redact_url, scrub, sqlite_file
    from callgate.storage.migrations import alembic_config

    name = "journal"
    secret = host.settings.storage.url.get_secret_value()
    url = parse_url(secret)
    shown = redact_url(secret)
    file = sqlite_file(url.url) if url.is_sqlite else None
    if file is not None and not file.is_file():
        return Check(
            name,
            Status.WARN,
            f"{file} does not exist yet",
            "callgate creates and migrates it at its first start (its folder must be its own)",
        )
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    engine = create_async_engine(url.url)
    try:
        # One bound for the whole check, connecting included: asyncpg's own connect limit is
        # 60 s, not the --timeout the admin gave.
        async with asyncio.timeout(host.timeout), engine.connect() as connection:
            current = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
            may_insert = True
            if not url.is_sqlite:
                found = await connection.execute(
                    text("SELECT has_table_privilege(current_user, 'calls', 'INSERT')")
                )
                may_insert = bool(found.scalar())
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        return failed(
            name,
            f"{shown}: {scrub(exc, [url.url.password])}",
            "[storage] url (CALLGATE_STORAGE__URL): the database, its user and password",
        )
    finally:
        await engine.dispose()
    if current != head:
        return failed(
            name,
            f"{shown} at revision {current}, the code's is {head}",
            "start callgate once (it migrates at start) or run its migrations",
        )
    if file is not None:
        may_insert = _writable_by(file, host.service_user) and _writable_by(
            file.parent, host.service_user
        )
    if not may_insert:
        return failed(
            name,
            f"{shown}: {host.service_user} may not write it",
            f"chown {host.service_user}: the journal (and its folder)"
            if file is not None
            else "GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO the URL's user",
        )
    return passed(name, f"{shown} at the newest revision, writable")


def _writable_by(path: Path, user: str) -> bool:
    try:
        info, account = path.stat(), pwd.getpwnam(user)
    except (OSError, KeyError):
        return False
    if account.pw_uid == 0:
        return True
    if info.st_uid == account.pw_uid:
        return bool(info.st_mode & stat.S_IWUSR)
    groups = {account.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    if info.st_gid in groups:
        return bool(info.st_mode & stat.S_IWGRP)
    return bool(info.st_mode & stat.S_IWOTH)


async def check_broker(host: Host) -> Check:
    import aiomqtt

    name, mqtt = "broker", host.settings.mqtt
    if not mqtt.enabled:
        return Check(name, Status.SKIP, "[mqtt] enabled = false: no events are published")
    where = f"{mqtt.host}:{mqtt.port}"
    try:
        async with aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=None if mqtt.password is None else mqtt.password.get_secret_value(),
            identifier=f"{mqtt.client_id}-doctor",
            tls_context=None if mqtt.tls is None else mqtt.tls.context(),
            tls_insecure=None if mqtt.tls is None else mqtt.tls.insecure,
            timeout=host.timeout,
        ):
            pass
    except (aiomqtt.MqttError, OSError, TimeoutError, ValueError) as exc:
        return failed(
            name,
            f"{where}: {exc}",
            "the broker running; [mqtt] host, port, username and password "
            "(CALLGATE_MQTT__PASSWORD), TLS files (examples/mosquitto)",
        )
    who = f"as {mqtt.username}" if mqtt.username else "anonymously"
    return passed(name, f"{where} {who}{' over TLS' if mqtt.tls else ''}")
