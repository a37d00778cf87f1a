"""The doctor's Asterisk checks: ARI and AMI with their accounts, the modules, the dialplan's
guard and fallback queue, the FastAGI secret and the prompts.

ARI is asked over HTTP (aiohttp), AMI over a plain socket of our own (a few actions; callgate's
AMI adapter is the daemon's and the offline tools do not import it). What Asterisk's files say
(modules.conf, manager.conf, ari.conf) is read from ``Host.asterisk_etc``; what Asterisk runs is
asked of Asterisk itself.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
from collections.abc import Sequence

import aiohttp
from pydantic import BaseModel

from callgate.config import SPOKEN_NUMBERS
from callgate.tools.doctor.checks import Check, Host, Status, failed, passed

#: What callgate's AMI account needs (asterisk-conf/manager.conf): events it follows, and the
#: actions it sends (system: the device-state list, Getvar under call).
AMI_READ: frozenset[str] = frozenset(
    {"system", "call", "agent", "user", "config", "dtmf", "reporting", "dialplan"}
)
AMI_WRITE: frozenset[str] = frozenset({"system"})
#: Sound file extensions Asterisk plays.
SOUND_EXTENSIONS = (".wav", ".gsm", ".ulaw", ".alaw", ".sln", ".sln16", ".g722", ".wav16")
#: The dialplan's guard (dialplan/extensions.conf [emergency]): no app_stasis, no Stasis().
GUARD = "IFMODULE(app_stasis.so)"
EMERGENCY, FALLBACK_CONTEXT, FALLBACK_QUEUE = "emergency", "fallback-112", "fallback-112"


# -- Asterisk's files -----------------------------------------------------------------------


def conf_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """An Asterisk .conf file as ``{section: {key: [values]}}`` (``=`` and ``=>`` alike,
    comments after ``;`` dropped, a section's template suffix ``(!)`` ignored)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and "]" in line:
            current = sections.setdefault(line[1 : line.index("]")], {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.lstrip(">").strip())
    return sections


#: ``load => x.so`` / ``require => x.so``, and a ``[22]`` mark in its comment: a module that
#: exists only on that major version of Asterisk (asterisk-conf/modules.conf, as scripts/lab reads).
_MODULE_LINE = re.compile(r"^\s*(?:load|require)\s*=>?\s*([A-Za-z0-9_]+\.so)\b([^;]*;.*)?$")
_ONLY_ON = re.compile(r"\[(\d+)\]")


def required_modules(modules_conf: str, major: str | None = None) -> list[str]:
    """The modules ``modules.conf`` loads (``load`` and ``require``), in its order; those
    marked ``[N]`` only when Asterisk's major version ``major`` is N (or not known)."""
    found = []
    for line in modules_conf.splitlines():
        match = _MODULE_LINE.match(line)
        if match is None:
            continue
        only = _ONLY_ON.search(match.group(2) or "")
        if only is None or major is None or only.group(1) == major:
            found.append(match.group(1))
    return found


def _read(host: Host, name: str) -> tuple[str | None, str]:
    path = host.asterisk_etc / name
    try:
        return path.read_text(encoding="utf-8", errors="replace"), str(path)
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"


# -- ARI --------------------------------------------------------------------------------------


async def ari_get(host: Host, path: str) -> tuple[int, object]:
    ari = host.settings.ari
    pair = f"{ari.username}:{ari.password.get_secret_value()}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    timeout = aiohttp.ClientTimeout(total=host.timeout)
    async with (
        aiohttp.ClientSession(headers=headers, timeout=timeout) as session,
        session.get(f"{ari.url.rstrip('/')}/ari{path}") as response,
    ):
        body = await response.json() if response.status == 200 else None
        return response.status, body


class Running(list[str]):
    """The modules Asterisk runs, and its version (``22.10.1``)."""

    version: str = ""


async def check_ari(host: Host) -> tuple[Check, Running | None]:
    """ARI reachable with callgate's account, which may write; and the modules Asterisk runs
    (None when ARI did not answer)."""
    name, ari = "ARI", host.settings.ari
    try:
        status, info = await ari_get(host, "/asterisk/info")
        if status != 200:
            why = "wrong user or password" if status == 401 else f"HTTP {status}"
            return failed(
                name,
                f"{ari.url}: {why}",
                f"ari.conf [{ari.username}] password = [ari] password (CALLGATE_ARI__PASSWORD)",
            ), None
        _, modules = await ari_get(host, "/asterisk/modules")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return failed(
            name,
            f"{ari.url} does not answer: {type(exc).__name__}",
            "start Asterisk; http.conf enabled = yes, bindaddr/port as in [ari] url; "
            "modules.conf loads res_ari.so",
        ), None
    running = Running(
        str(m.get("name"))
        for m in (modules if isinstance(modules, list) else [])
        if isinstance(m, dict) and m.get("status") == "Running"
    )
    system = info.get("system") if isinstance(info, dict) else None
    running.version = str(system.get("version", "")) if isinstance(system, dict) else ""
    text, where = _read(host, "ari.conf")
    if text is None:
        return Check(
            name, Status.PASS, f"{ari.url} as {ari.username}; account not read: {where}"
        ), (running)
    user = conf_sections(text).get(ari.username, {})
    if user.get("read_only", ["no"])[-1].lower() in ("yes", "true", "1"):
        return failed(
            name,
            f"ari.conf [{ari.username}] is read_only: callgate cannot answer or bridge calls",
            f"ari.conf [{ari.username}] read_only = no",
        ), running
    return passed(name, f"{ari.url} as {ari.username}, may write"), running


def check_modules(host: Host, running: Running | None) -> Check:
    name = "modules"
    if running is None:
        return Check(name, Status.SKIP, "ARI did not answer: the modules cannot be asked")
    text, where = _read(host, "modules.conf")
    if text is None:
        return Check(name, Status.SKIP, where, f"run doctor where {where} is readable (root)")
    major = running.version.split(".", 1)[0] if running.version else None
    wanted = required_modules(text, major)
    missing = [m for m in wanted if m not in set(running)]
    if missing:
        return failed(
            name,
            f"{len(missing)} of {len(wanted)} not loaded: {', '.join(missing)}",
            "install the module's package; `asterisk -rx 'module load NAME'`; the log of "
            "Asterisk's start says why one failed",
        )
    on = f" on Asterisk {running.version}" if running.version else ""
    return passed(name, f"all {len(wanted)} of {where} loaded{on}")


# -- AMI --------------------------------------------------------------------------------------

Message = dict[str, str]


class Ami:
    """A minimal AMI session: log in, send an action, read its response and event list."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._ids = 0

    @classmethod
    async def login(cls, host: Host) -> tuple[Ami, Message]:
        ami = host.settings.ami
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ami.host, ami.port), host.timeout
        )
        session = cls(reader, writer)
        await asyncio.wait_for(reader.readline(), host.timeout)  # the banner
        fields = {"Username": ami.username, "Secret": ami.password.get_secret_value()}
        answer = await asyncio.wait_for(session.send("Login", Events="off", **fields), host.timeout)
        return session, answer[0]

    async def send(self, action: str, **fields: str) -> list[Message]:
        """The response, and when it starts an event list, its events up to the last."""
        self._ids += 1
        action_id = f"doctor-{self._ids}"
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in fields.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        found: list[Message] = []
        while True:
            message = await self._message()
            if message.get("ActionID") != action_id:
                continue
            found.append(message)
            listing = found[0].get("EventList", "").lower() == "start"
            if not listing or message.get("EventList", "").lower() == "complete":
                return found

    async def _message(self) -> Message:
        message: Message = {}
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("AMI closed the connection")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if message:
                    return message
                continue
            key, _, value = text.partition(":")
            message[key.strip()] = value.strip()

    async def close(self) -> None:
        try:
            self.writer.write(b"Action: Logoff\r\n\r\n")
            await self.writer.drain()
        except OSError:
            pass
        self.writer.close()


def ami_permissions(manager_conf: str, user: str) -> tuple[set[str], set[str]] | None:
    """The read and write classes of ``user`` in manager.conf (None: no such section)."""
    section = conf_sections(manager_conf).get(user)
    if section is None:
        return None

    def classes(key: str) -> set[str]:
        return {c.strip() for v in section.get(key, []) for c in v.split(",") if c.strip()}

    return classes("read"), classes("write")


def check_ami_account(host: Host, login: Message | None, error: str | None) -> Check:
    name, ami = "AMI", host.settings.ami
    where = f"{ami.host}:{ami.port}"
    if error is not None:
        return failed(
            name,
            f"{where} does not answer: {error}",
            "start Asterisk; manager.conf [general] enabled = yes, port and bindaddr as [ami]",
        )
    assert login is not None
    if login.get("Response") != "Success":
        return failed(
            name,
            f"{where}: login as {ami.username} refused ({login.get('Message', '?')})",
            f"manager.conf [{ami.username}] secret = [ami] password (CALLGATE_AMI__PASSWORD); "
            "permit = callgate's address",
        )
    text, read_from = _read(host, "manager.conf")
    if text is None:
        return Check(name, Status.PASS, f"{where} as {ami.username}; permissions not read: "
                     f"{read_from}")  # fmt: skip
    classes = ami_permissions(text, ami.username)
    if classes is None:
        return failed(name, f"{read_from} has no [{ami.username}]", "add callgate's account")
    missing = sorted((AMI_READ - classes[0]) | {f"write {c}" for c in AMI_WRITE - classes[1]})
    if "all" in classes[0]:
        missing = [m for m in missing if m.startswith("write")]
    if missing:
        return failed(
            name,
            f"[{ami.username}] lacks {', '.join(missing)}",
            f"manager.conf [{ami.username}] read = {','.join(sorted(AMI_READ))}; "
            f"write = {','.join(sorted(AMI_WRITE))}",
        )
    return passed(name, f"{where} as {ami.username}, read and write classes as needed")


async def dialplan_checks(host: Host, ami: Ami | None) -> list[Check]:
    """The dialplan's guard and fallback queue, and the FastAGI secret on Asterisk's side.

    callgate's AMI account may not read the dialplan or its variables (ShowDialPlan and Getvar
    need write classes it must not have), so the files are read: extensions.conf and the
    secret's file it includes; Asterisk itself is asked whether the fallback queue exists."""
    text, where = _read(host, "extensions.conf")
    if text is None:
        why = f"{where}; run doctor as root"
        return [Check("dialplan", Status.SKIP, why), Check("FastAGI secret", Status.SKIP, why)]
    dialplan = conf_sections(text)
    secret_text, _ = _read(host, "callgate-agi-secret.conf")
    held = conf_sections("[globals]\n" + (secret_text or "")).get("globals", {})
    held = {**dialplan.get("globals", {}), **held}
    queue_name = (held.get("FALLBACK_QUEUE") or [FALLBACK_QUEUE])[-1]
    queue: list[Message] = []
    if ami is not None:
        queue = await ami.send("QueueStatus", Queue=queue_name)
    return [
        judge_dialplan(dialplan, queue if ami is not None else None, queue_name),
        judge_agi_secret(host, (held.get("CALLGATE_AGI_SECRET") or [""])[-1]),
    ]


def _apps(context: dict[str, list[str]]) -> list[tuple[str, str]]:
    """``(application, its arguments)`` of a context's ``exten => EXT,PRIO,App(...)`` and
    ``same => PRIO,App(...)`` lines."""
    steps = [line.partition(",")[2] for line in context.get("exten", [])]
    steps += context.get("same", [])
    found = []
    for step in steps:
        app, _, data = step.partition(",")[2].partition("(")
        found.append((app.strip(), data))
    return found


def judge_dialplan(
    dialplan: dict[str, dict[str, list[str]]],
    queue: Sequence[Message] | None,
    queue_name: str = FALLBACK_QUEUE,
) -> Check:
    """``dialplan``: extensions.conf's sections; ``queue``: AMI's QueueStatus answer for the
    fallback queue (None: AMI did not answer)."""
    name, problems = "dialplan", []
    emergency = dialplan.get(EMERGENCY)
    if emergency is None:
        problems.append(f"no [{EMERGENCY}] context")
    else:
        apps = _apps(emergency)
        if not any(app == "Stasis" for app, _ in apps):
            problems.append(f"[{EMERGENCY}] has no Stasis()")
        if not any(app == "GotoIf" and GUARD in data for app, data in apps):
            problems.append(f"[{EMERGENCY}] has no guard GotoIf(${{{GUARD}}} ...)")
    fallback = dialplan.get(FALLBACK_CONTEXT, {})
    if not any(app == "Queue" for app, _ in _apps(fallback)):
        problems.append(f"no Queue() in [{FALLBACK_CONTEXT}]")
    if queue is not None and not any(m.get("Event") == "QueueParams" for m in queue):
        problems.append(f"Asterisk has no queue {queue_name} (queues.conf)")
    if problems:
        return failed(
            name,
            "; ".join(problems),
            "install dialplan/extensions.conf and asterisk-conf/queues.conf as shipped, then "
            "`asterisk -rx 'dialplan reload'` and `asterisk -rx 'queue reload all'`",
        )
    checked = "" if queue is not None else " (the queue not asked: AMI did not answer)"
    return passed(name, f"guard and Stasis in [{EMERGENCY}], queue {queue_name} behind it{checked}")


def judge_agi_secret(host: Host, held: str) -> Check:
    """``held``: CALLGATE_AGI_SECRET as Asterisk's files set it ("" when they do not)."""
    name = "FastAGI secret"
    fix = (
        "write CALLGATE_AGI_SECRET=<[agi] secret> into /etc/asterisk/callgate-agi-secret.conf "
        "(asterisk, 0400), then `asterisk -rx 'dialplan reload'`"
    )
    if not held:
        return failed(name, "Asterisk's files set no CALLGATE_AGI_SECRET", fix)
    ours = host.settings.agi.secret.get_secret_value()
    if not hmac.compare_digest(held.encode(), ours.encode()):  # neither is ever printed
        return failed(name, "Asterisk's CALLGATE_AGI_SECRET differs from [agi] secret", fix)
    return passed(name, "the same on both sides")


async def asterisk_checks(host: Host) -> list[Check]:
    ari, running = await check_ari(host)
    ami: Ami | None = None
    login: Message | None = None
    error: str | None = None
    try:
        ami, login = await Ami.login(host)
    except (OSError, TimeoutError, ConnectionError) as exc:
        error = type(exc).__name__
    try:
        account = check_ami_account(host, login, error)
        logged_in = login is not None and login.get("Response") == "Success"
        usable = ami if logged_in else None
        try:
            rest = await asyncio.wait_for(dialplan_checks(host, usable), 4 * host.timeout)
        except (OSError, TimeoutError, ConnectionError) as exc:
            rest = [
                Check(n, Status.SKIP, f"AMI stopped answering: {type(exc).__name__}")
                for n in ("dialplan", "FastAGI secret")
            ]
    finally:
        if ami is not None:
            await ami.close()
    return [ari, account, check_modules(host, running), *rest, check_prompts(host)]


# -- prompts --------------------------------------------------------------------------------


def prompt_names(settings: object) -> list[str]:
    """Every ``sound:`` prompt the configuration names (``custom/callgate/...``), once each."""
    found: dict[str, None] = {}

    def walk(value: object) -> None:
        if isinstance(value, str):
            if value.startswith("sound:"):
                name = value.removeprefix("sound:")
                # Spoken numbers: one file per number, 1 .. SPOKEN_NUMBERS.
                numbers = range(1, SPOKEN_NUMBERS + 1) if "{n}" in name else [None]
                for n in numbers:
                    found[name if n is None else name.replace("{n}", str(n))] = None
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)
        elif isinstance(value, BaseModel):
            for field in type(value).model_fields:
                walk(getattr(value, field))

    walk(settings)
    return list(found)


def _sound_present(host: Host, name: str) -> bool:
    return any(
        host.asterisk_path(f"/usr/share/asterisk/sounds/{folder}{name}{ext}").is_file()
        # Asterisk looks in the call's language (id), then without one, then in English.
        for folder in ("id/", "", "en/")
        for ext in SOUND_EXTENSIONS
    )


def check_prompts(host: Host) -> Check:
    name = "prompts (id)"
    names = prompt_names(host.settings)
    if not host.sounds_dir.is_dir():
        return failed(name, f"no folder {host.sounds_dir}", "install Asterisk's sounds")
    missing = [n for n in names if ".." in n or not _sound_present(host, n)]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        return failed(
            name,
            f"{len(missing)} of {len(names)} missing in {host.sounds_dir}: {shown}",
            f"scripts/make-prompts {host.sounds_dir}/custom/callgate (or record them, same names)",
        )
    return passed(name, f"all {len(names)} in {host.sounds_dir}")
