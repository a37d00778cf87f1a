"""The Asterisk side's sections of the config file: ``[ari]``, ``[ami]``, ``[agi]``,
``[calltakers]``'s phones and prompts (``[calltakers.prompts]``), ``[recording]`` and the
``[announcements]`` prompts, and how a setting names a
prompt Asterisk plays.

Like every adapter's ``settings`` module, this one imports nothing but pydantic, the standard
library and the neutral :mod:`callgate.addresses`: :mod:`callgate.config` gathers the sections
without loading the adapters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator

from callgate.addresses import is_loopback


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- prompts ------------------------------------------------------------------------------


class Spoken:
    """Marks a setting as a spoken prompt: its default must be a Bahasa Indonesia file that
    ``scripts/make-prompts`` generates from ``sounds/prompts-id.tsv`` (a unit test checks it)."""


class Tone:
    """Marks a setting as a tone (no words): its default may be a core sound such as ``beep``."""


PROMPT_DIR: Final = "custom/callgate"
"""Where callgate's own prompts live under Asterisk's sounds folder
(``/usr/share/asterisk/sounds/custom/callgate`` on Debian)."""

_SOUND_FILE: Final = re.compile(r"^sound:[A-Za-z0-9_./-]+$")


def _one_sound(value: str) -> str:
    # Played with AGI STREAM FILE, which takes one file name, not an ARI media list.
    if not _SOUND_FILE.match(value):
        raise ValueError('must be one sound file, e.g. "sound:custom/callgate/agent-login-ok"')
    return value


MediaPrompt = Annotated[str, Spoken()]
"""Spoken prompt played over ARI: a media URI or a comma-separated list of them
("sound:custom/callgate/salam-112"); empty plays nothing."""
FilePrompt = Annotated[str, AfterValidator(_one_sound), Spoken()]
"""Spoken prompt played over FastAGI: exactly one "sound:<file>"."""
MediaTone = Annotated[str, Tone()]
"""Tone played over ARI: a media URI ("sound:beep")."""


def sound_file(prompt: str) -> str:
    """``sound:custom/callgate/x`` -> ``custom/callgate/x``, the name AGI STREAM FILE takes."""
    return prompt.removeprefix("sound:")


# -- [ari] and [calltakers] ---------------------------------------------------------------


class AriSettings(_Section):
    url: str = "http://127.0.0.1:8088"
    """Asterisk's HTTP server (http.conf), without the /ari suffix."""
    username: str = "callgate"
    password: SecretStr = SecretStr("lab-ari-secret")
    app: str = "callgate"
    """The Stasis application name; must match Stasis() in dialplan/extensions.conf."""
    setup_timeout: Annotated[float, Field(gt=0, le=300)] = 15.0
    """Seconds one set-up attempt after each (re)connection may take for its first requests
    (the device-state subscription and the call-takers' phones). A slower or failed attempt is
    retried with backoff (0.5 s doubling to 30 s) until one completes; callgate is not ready,
    and tells systemd nothing, until then."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class CallTakerPrompts(_Section):
    """What a call-taker hears on their phone after a feature code (``*11`` .. ``*15``) or a
    disposition keyed during a call. Defaults are the Bahasa Indonesia placeholders that
    ``scripts/make-prompts`` installs under ``sounds/custom/callgate/``; record your own under
    the same names, or point a key elsewhere. Feature-code prompts are one ``sound:<file>``
    each (AGI plays one file)."""

    login_ok: FilePrompt = f"sound:{PROMPT_DIR}/agent-login-ok"
    """*11 logged the call-taker in ("Anda sudah masuk. Selamat bertugas.")."""
    already_logged_in: FilePrompt = f"sound:{PROMPT_DIR}/agent-already-in"
    """*11 while already logged in."""
    logout_ok: FilePrompt = f"sound:{PROMPT_DIR}/agent-logout-ok"
    """*12 logged the call-taker out, or they were already out."""
    paused: FilePrompt = f"sound:{PROMPT_DIR}/agent-paused"
    """*13 paused the call-taker, or they were already paused."""
    unpaused: FilePrompt = f"sound:{PROMPT_DIR}/agent-unpaused"
    """*14 made the call-taker available again, or they already were."""
    ask_digit: FilePrompt = f"sound:{PROMPT_DIR}/agent-ask-digit"
    """*13 or *15 dialled without a digit: asks for the one digit (reason or disposition)."""
    refused: FilePrompt = f"sound:{PROMPT_DIR}/agent-refused"
    """The code is not allowed now (e.g. pause while logged out, an unknown phone)."""
    invalid_digit: FilePrompt = f"sound:{PROMPT_DIR}/agent-invalid-digit"
    """The digit after *13 or *15 is no configured pause reason or disposition."""
    error: FilePrompt = f"sound:{PROMPT_DIR}/agent-error"
    """callgate failed or did not answer in time: nothing was changed. The dialplan plays the
    same file (``custom/callgate/agent-error``) when callgate is not running at all."""
    disposition_ok: FilePrompt = f"sound:{PROMPT_DIR}/agent-disposition-ok"
    """*15<digit> recorded the disposition of the call-taker's last call."""
    disposition_failed: FilePrompt = f"sound:{PROMPT_DIR}/agent-disposition-failed"
    """*15<digit> recorded nothing (no answered call in the last hour, or it is gone)."""
    in_call_disposition_ok: MediaTone = "sound:beep"
    """``**<digit>`` during a call recorded the disposition; a tone, so the caller's words are
    not talked over (only the call-taker hears it)."""
    in_call_disposition_failed: MediaTone = "sound:beeperr"
    """``**<digit>`` during a call recorded nothing (unknown digit, or the journal failed)."""


class CallTakerPhones(_Section):
    """Asterisk's keys of ``[calltakers]``: the phones and what they hear (the ring timeout,
    wrap-up and missed rings are the ACD's, :class:`callgate.policy.CallTakerPolicy`)."""

    endpoints: list[str] = Field(
        default_factory=lambda: ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004"]
    )
    """Call-takers' softphones. The call-taker's id is the part after the slash (1001)."""
    logged_in_at_start: bool = True
    """Log every call-taker in when callgate starts (with a ``[roster]``: those rostered on a
    shift on now); their phone's state still decides who is offered calls (an unregistered
    phone is never rung)."""
    prompts: CallTakerPrompts = CallTakerPrompts()
    """What call-takers hear after feature codes and in-call keys (``[calltakers.prompts]``)."""

    @field_validator("endpoints")
    @classmethod
    def _tech_resource(cls, value: list[str]) -> list[str]:
        for endpoint in value:
            tech, _, resource = endpoint.partition("/")
            if not tech or not resource:
                raise ValueError(f"{endpoint!r} is not TECH/resource (e.g. PJSIP/1001)")
        return value


# -- [recording] --------------------------------------------------------------------------


class RecordingSettings(_Section):
    """Every call is recorded by the dialplan (MixMonitor from answer to hang-up); callgate
    seals each file (see ``callgate.asterisk.recordings``), journals its hash and deletes it after
    ``retention_days``."""

    asterisk_dir: str = "/var/spool/asterisk/monitor"
    """Asterisk's MixMonitor folder as callgate sees it; the dialplan writes each call to
    ``callgate/<unique id>.wav`` below it."""
    retention_days: Annotated[int, Field(ge=1)] = 90
    """Days a recording is kept after the call, then deleted (the journal keeps its SHA-256 and
    size). Centres commonly keep 31 to 180 days; follow your regulator."""


# -- [announcements] ----------------------------------------------------------------------

#: Numbers said from recorded prompts: ``number_prompt`` for 1 .. this, ``more_than_prompt``
#: beyond (Asterisk's own number sounds are English only in most installations).
SPOKEN_NUMBERS: Final = 20


def _number_template(value: str) -> str:
    try:
        value.format(n=1)
    except (KeyError, IndexError, ValueError):
        raise ValueError("only {n} may appear in braces") from None
    if "{n}" not in value:
        raise ValueError('must name each number\'s file by {n}: "sound:custom/callgate/angka-{n}"')
    return value


NumberPrompts = Annotated[str, AfterValidator(_number_template), Spoken()]
"""Spoken numbers over ARI: a media URI with ``{n}`` for the number (1 .. SPOKEN_NUMBERS)."""


class AnnouncementPrompts(_Section):
    """What waiting callers hear in a queue announcement (``[announcements]``; whether and when
    is the ACD's, :class:`callgate.policy.AnnouncementTiming`). Defaults are the placeholders
    ``scripts/make-prompts`` installs."""

    position_prompt: MediaPrompt = f"sound:{PROMPT_DIR}/antrean-nomor"
    """Before the position ("Anda berada di antrean nomor")."""
    wait_prompt: MediaPrompt = f"sound:{PROMPT_DIR}/antrean-perkiraan"
    """Before the expected wait ("Perkiraan waktu tunggu Anda sekitar")."""
    minutes_prompt: MediaPrompt = f"sound:{PROMPT_DIR}/antrean-menit"
    """After the minutes ("menit"); the wait is said in whole minutes, rounded up."""
    closing_prompt: MediaPrompt = f"sound:{PROMPT_DIR}/antrean-tetap"
    """Last ("Mohon tetap di saluran, jangan menutup telepon."); empty: nothing."""
    number_prompt: NumberPrompts = f"sound:{PROMPT_DIR}/angka-{{n}}"
    """A number from 1 to 20 ("satu" .. "dua puluh"), ``{n}`` being the number."""
    more_than_prompt: MediaPrompt = f"sound:{PROMPT_DIR}/angka-lebih-20"
    """Any number above 20 ("lebih dari dua puluh")."""


# -- [ami] --------------------------------------------------------------------------------


class AmiSettings(BaseModel):
    """How callgate reaches Asterisk's manager interface (``manager.conf``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    host: str = "127.0.0.1"
    """Address of Asterisk's AMI (``bindaddr`` in manager.conf)."""
    port: int = Field(default=5038, ge=1, le=65535)
    """TCP port of Asterisk's AMI (``port`` in manager.conf)."""
    username: str = "callgate"
    """The manager.conf section callgate logs in as; needs read ``system,call``."""
    password: SecretStr = SecretStr("lab-ami-secret")
    """That section's ``secret``; never logged."""
    ping_interval: float = Field(default=10.0, gt=0, le=300)
    """Seconds between keepalive Pings; a Ping without a reply reconnects."""
    action_timeout: float = Field(default=5.0, gt=0, le=60)
    """Seconds to wait for any AMI reply before counting it as lost."""
    reconnect_max: float = Field(default=10.0, ge=0.5, le=300)
    """Longest wait between two attempts to reach AMI (from 0.5 s, doubling, with +-50% jitter).
    While AMI is away callgate does not see phones come and go, so it should find AMI again
    soon after it returns: a loopback attempt every few seconds costs nothing."""


# -- [nodes] ------------------------------------------------------------------------------

_NODE_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


class NodeSettings(BaseModel):
    """One Asterisk node of the centre (``[nodes.<name>]``): where its ARI and AMI are. The
    credentials, the Stasis app and every other key are ``[ari]``'s and ``[ami]``'s, the same
    on every node (the repo's asterisk-conf/ is the same on every node)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    ari_url: str
    """The node's Asterisk HTTP server (http.conf), without the /ari suffix."""
    ami_host: str
    """The node's AMI address (``bindaddr`` in manager.conf)."""
    ami_port: int = Field(default=5038, ge=1, le=65535)
    """The node's AMI port (``port`` in manager.conf)."""

    @field_validator("ari_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if "@" in value:
            raise ValueError("carries credentials; give http://host:port ([ari] has them)")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


def nodes_apart(value: Mapping[str, NodeSettings]) -> Mapping[str, NodeSettings]:
    """``[nodes]``: each name short and plain (it is in logs and metrics), no two nodes on one
    ARI URL or one AMI address (the same node counted twice would double every call)."""
    urls: dict[str, str] = {}
    amis: dict[tuple[str, int], str] = {}
    for name, node in value.items():
        if not _NODE_NAME.match(name):
            raise ValueError(f"{name!r}: a node's name is lower-case letters, digits and '-'")
        if node.ari_url in urls:
            raise ValueError(f"{name}.ari_url: the same as {urls[node.ari_url]}'s")
        if (node.ami_host, node.ami_port) in amis:
            raise ValueError(
                f"{name}.ami_host: the same AMI as {amis[(node.ami_host, node.ami_port)]}'s"
            )
        urls[node.ari_url] = name
        amis[(node.ami_host, node.ami_port)] = name
    return value


# -- [agi] --------------------------------------------------------------------------------

DEFAULT_PAUSE_REASONS: Final[Mapping[str, str]] = {
    # Digit a call-taker keys after *13 (or dials as *13X) -> reason recorded for reports.
    "1": "break",  # istirahat: a short rest between calls
    "2": "prayer",  # sholat: the five daily prayers fall inside every shift
    "3": "toilet",
    "4": "meal",  # makan
    "5": "training",  # pelatihan / briefing
    "6": "admin",  # paperwork, incident reports
    "7": "debrief",  # after a distressing call, so a supervisor can see it
}


LAB_AGI_SECRET: Final = "lab-agi-shared-secret"  # noqa: S105 - the lab's, published on purpose
"""The lab's FastAGI secret (scripts/lab writes it for Asterisk; ``callgate.config`` refuses it
outside the lab)."""

_AGI_SECRET: Final = re.compile(r"^[A-Za-z0-9_-]{16,256}$")


class AgiSettings(BaseModel):
    """The FastAGI server the dialplan's feature codes call (``AGI(agi://host:port/...)``)."""

    # hide_input_in_errors: a refused secret must not come back in the error that names it.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    listen_host: str = "127.0.0.1"
    """Address to listen on; must match the host in the dialplan's agi:// URLs. Loopback only
    (127.0.0.1, ::1 or localhost): FastAGI is plain TCP, so the secret would cross the network
    in clear, and callgate runs on the Asterisk host anyway (it reads the recordings)."""
    port: Annotated[int, Field(ge=0, le=65535)] = 4573
    """TCP port (4573 is the FastAGI default); 0 picks a free one (tests)."""
    secret: SecretStr = SecretStr(LAB_AGI_SECRET)
    """The shared secret the dialplan puts first in every agi:// URL
    (``agi://127.0.0.1:4573/${CALLGATE_AGI_SECRET}/agent/login``); a request without it is
    closed unanswered. Asterisk reads it from ``/etc/asterisk/callgate-agi-secret.conf``. 16 to
    256 of ``A-Z a-z 0-9 _ -`` (it travels in a URL path and a dialplan variable), e.g.
    ``python3 -c 'import secrets; print(secrets.token_urlsafe(32))'``. Never logged; the lab's
    published default is refused outside the lab. Set ``CALLGATE_AGI__SECRET``."""
    header_timeout: Annotated[float, Field(gt=0, le=60)] = 2.0
    """Seconds a client has from connecting to send its whole agi_* header block before it is
    dropped. Asterisk sends it at once; an idle connection is closed after this."""
    command_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    """Seconds to wait for Asterisk's whole answer to one command (prompts add their own time)."""
    max_header_bytes: Annotated[int, Field(ge=1024, le=1_048_576)] = 16384
    """A header block larger than this is refused (Asterisk sends about 1 KiB)."""
    max_line_bytes: Annotated[int, Field(ge=256, le=1_048_576)] = 8192
    """Longest line a client may send, in its header or in an answer (a header line is also
    bounded by ``max_header_bytes``); a longer one drops the session."""
    max_reply_lines: Annotated[int, Field(ge=2, le=10_000)] = 64
    """Lines one answer may have, HANGUP notices included (Asterisk's longest, a ``520-`` usage
    text, has about 10); more drops the session."""
    max_session_bytes: Annotated[int, Field(ge=4096, le=67_108_864)] = 262_144
    """Bytes of answers one session may receive in all (a feature code gets a few hundred);
    more drops the session."""
    max_sessions: Annotated[int, Field(ge=1, le=10_000)] = 200
    """Concurrent AGI sessions, counted once their header is read; a session beyond this is
    closed at once. As many connections again may wait for their header: when more come, the
    oldest waiting one is closed."""
    max_sessions_per_peer: Annotated[int, Field(ge=1, le=10_000)] = 16
    """Concurrent sessions from one IP address, closed at once beyond this. Asterisk is one
    address: keep this above the feature codes that may run at once (a shift logging in). As
    many from one address may wait for their header; a new one closes that address's oldest
    waiting one."""
    warning_interval: Annotated[float, Field(ge=0, le=3600)] = 10.0
    """Seconds between two warnings of one kind (clients dropped for the same reason, requests
    for an unknown script); the next line says how many were not logged. 0 logs every one."""
    pause_reasons: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PAUSE_REASONS))
    """Pause reason by the digit keyed after *13 (0-9), e.g. {"1" = "break", "2" = "prayer"}."""
    default_pause_reason: str = "unspecified"
    """Reason recorded when the call-taker keys no digit after *13."""

    @field_validator("secret")
    @classmethod
    def _url_safe(cls, value: SecretStr) -> SecretStr:
        # The message never repeats the value: a config error is printed and may be logged.
        # "/", "?" or "#" would change the URL's path, "," the AGI() arguments, "$" "{" "}" the
        # dialplan's expressions, ";" start a comment in the file Asterisk reads it from.
        if not _AGI_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("listen_host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        # Refused at load, naming agi.listen_host, rather than at bind: a 112 host must not
        # start with its call-takers' controls open to the network even for a moment.
        if not is_loopback(value):
            raise ValueError(
                "must be a loopback address (127.0.0.1, ::1 or localhost): FastAGI is plain"
                " TCP and callgate runs beside Asterisk; to reach it from another host, end a"
                " TLS tunnel (stunnel, ssh) on loopback"
            )
        return value

    @field_validator("pause_reasons")
    @classmethod
    def _single_digits(cls, value: dict[str, str]) -> dict[str, str]:
        for digit, reason in value.items():
            if len(digit) != 1 or not digit.isdigit():
                raise ValueError(f"key {digit!r} must be a single digit 0-9")
            if not reason.strip():
                raise ValueError(f"reason for digit {digit} is empty")
        return value
