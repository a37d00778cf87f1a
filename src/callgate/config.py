"""callgate's configuration: one TOML file, validated at start, secrets overridable by environment.

Every key has a default that works against the lab (scripts/lab up), so ``callgate run`` with no
file is the lab set-up. Environment variables override the file: ``CALLGATE_ARI__PASSWORD`` sets
``[ari] password``. A bad value stops start-up with a message naming the key, before anything
connects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# Each adapter's sections live beside it, in a settings module that imports nothing heavy: this
# module is a leaf (tests/unit/test_layering.py checks that importing it loads no adapter).
from callgate.asterisk.settings import (
    LAB_AGI_SECRET,
    PROMPT_DIR,
    SPOKEN_NUMBERS,
    AgiSettings,
    AmiSettings,
    AnnouncementPrompts,
    AriSettings,
    CallTakerPhones,
    CallTakerPrompts,
    FilePrompt,
    MediaPrompt,
    MediaTone,
    NodeSettings,
    RecordingSettings,
    Spoken,
    Tone,
    nodes_apart,
    sound_file,
)
from callgate.auth import (
    AuthSettings,
    UserSettings,
    read_users_file,
    users_file_path,
    verify_secret,
    with_users,
)
from callgate.centre import CentreSettings, WallboardSettings, centre_zone_from
from callgate.cluster.settings import ClusterSettings
from callgate.core.screening import DEFAULT_DISPOSITION_CODES, Disposition
from callgate.http.settings import OpsSettings
from callgate.mqtt.settings import MqttSettings

# The ACD's own sections, and the core's policy built from them (re-exported: their home).
from callgate.policy import (
    FALLBACK,
    AcdSettings,
    AnnouncementTiming,
    BlockingSettings,
    CallbackSettings,
    CallTakerPolicy,
    ScreeningSettings,
    acd_config,
    announcement_policy,
    screening_policy,
)
from callgate.rosters import RosterSettings
from callgate.storage.settings import StorageSettings

__all__ = [
    "FALLBACK",
    "PROMPT_DIR",
    "SPOKEN_NUMBERS",
    "AcdSettings",
    "AgencySettings",
    "AgiSettings",
    "AmiSettings",
    "AnnouncementSettings",
    "AriSettings",
    "AuthSettings",
    "BlockingSettings",
    "CallSettings",
    "CallTakerPrompts",
    "CallTakerSettings",
    "CallbackSettings",
    "CentreSettings",
    "ClusterSettings",
    "ConfigError",
    "DispositionSettings",
    "FallbackSettings",
    "FilePrompt",
    "LogSettings",
    "MediaPrompt",
    "MediaTone",
    "MqttSettings",
    "OpsSettings",
    "QueueLogSettings",
    "RecordingSettings",
    "RosterSettings",
    "ScreeningSettings",
    "Settings",
    "Spoken",
    "StorageSettings",
    "Tone",
    "UserSettings",
    "WallboardSettings",
    "acd_config",
    "announcement_policy",
    "lab_secrets_in_use",
    "load_settings",
    "refuse_outside_lab",
    "screening_policy",
    "sound_file",
    "unsafe_outside_lab",
]


class ConfigError(Exception):
    """The configuration is unusable; the message names the key and what is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallTakerSettings(CallTakerPolicy, CallTakerPhones):
    """``[calltakers]``: the phones and their prompts (Asterisk's), the ring timeout, wrap-up and
    missed rings (the ACD's), and the names the pages show."""

    names: dict[str, Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=dict
    )
    """Call-taker id -> the name the wallboard shows (``"1001" = "Sari"``); without one, the
    id."""

    @model_validator(mode="after")
    def _named_are_calltakers(self) -> CallTakerSettings:
        known = {e.partition("/")[2] for e in self.endpoints}
        for agent_id in self.names:
            if agent_id not in known:
                raise ValueError(f"calltakers.names: {agent_id!r} is not in calltakers.endpoints")
        return self


class AnnouncementSettings(AnnouncementTiming, AnnouncementPrompts):
    """Queue announcements: a caller still waiting after ``first_after`` seconds hears their
    position in the queue and/or the expected wait, in Bahasa Indonesia, again every ``period``
    seconds while they wait. Never in the way of a ring: none while a phone rings for the call,
    and one still playing when the call is offered is stopped. Silent callers being asked to
    press a key and blocked callers hear none; the greeting or a prompt is never cut (that turn
    is skipped). Whether and when is the ACD's, the prompts are Asterisk's."""


class AgencySettings(_Section):
    dial: str
    """What to dial to reach the agency's desk: a PJSIP endpoint ("PJSIP/damkar") or a number
    through the trunk ("PJSIP/0401113@jasnita")."""
    digit: Annotated[str, Field(pattern=r"^[0-9]$")]
    """The key a call-taker presses after * (three-way: the call-taker stays on) or after #
    (hand-off: the call-taker leaves once the agency has answered) during a call."""


class CallSettings(_Section):
    greeting: MediaPrompt = f"sound:{PROMPT_DIR}/salam-112"
    """What a caller hears once answered, before music on hold (an ARI media URI, or several
    separated by commas). The default is the Bahasa Indonesia placeholder from
    ``scripts/make-prompts``; a centre records its own under the same name."""
    moh_class: str = "default"
    """Music-on-hold class (musiconhold.conf) while the caller waits."""
    fallback_queue: str = "fallback-112"
    """The dialplan's fallback queue (queues.conf); callgate warns while callers wait there."""


class DispositionSettings(_Section):
    """How call-takers key a disposition on their phone: ``**<digit>`` during the call or
    ``*15<digit>`` after it."""

    codes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_DISPOSITION_CODES))
    """Digit -> disposition (genuine, information, prank, ghost, test, wrong-number)."""

    @field_validator("codes")
    @classmethod
    def _digits_and_dispositions(cls, value: dict[str, str]) -> dict[str, str]:
        known = [d.value for d in Disposition]
        for digit, disposition in value.items():
            if len(digit) != 1 or digit not in "0123456789":
                raise ValueError(f"key {digit!r} is not one digit 0-9")
            if disposition not in known:
                raise ValueError(f"{digit} = {disposition!r} is not one of {', '.join(known)}")
        return value


class FallbackSettings(_Section):
    """Calls answered by the dialplan's fallback queue (callgate away, or handed back at a stop)
    are journaled from Asterisk's queue_log, and their recordings sealed like any call's."""

    queue_log: str = "/var/log/asterisk/queue_log"
    """app_queue's queue_log file as callgate sees it (logger.conf ``queue_log_name`` in
    Asterisk's log folder); callgate must be able to read it (group asterisk, mode 0640).
    Empty: fallback calls are not journaled."""
    scan_seconds: Annotated[float, Field(ge=1, le=3600)] = 30.0
    """Seconds between reads of the file (also read once at start)."""


class QueueLogSettings(_Section):
    """callgate's own calls and call-takers written in Asterisk's queue_log format, for the
    queue reporting tools a centre already has (``callgate.daemon.queue_log_out``)."""

    path: str = ""
    """The file callgate appends to (created with mode 0640; a log rotation that moves it is
    followed). Empty: not written. Put it in the daemon's state folder
    (``/var/lib/callgate/queue_log``): the service may write nowhere else. Never Asterisk's own
    queue_log (``[fallback] queue_log``), which callgate reads."""
    queue: str = "callgate"
    """The queue name on every line, so callgate's calls are told apart from the fallback
    queue's in the same tool."""
    agent: str = "{endpoint}"
    """How a call-taker is named on a line: ``{endpoint}`` (``PJSIP/1001``, what app_queue writes
    for a member without a name) and ``{id}`` (``1001``) are replaced; ``"Operator {id}"``
    matches queues.conf members named so with ``log_membername_as_agent = yes``."""
    max_buffered_lines: Annotated[int, Field(ge=100, le=10_000_000)] = 100_000
    """Lines kept in memory while the file cannot be written (disk full), retried until it
    can; beyond this the oldest are dropped, with a WARNING."""

    @field_validator("queue", "agent")
    @classmethod
    def _one_field(cls, value: str) -> str:
        if not value or any(c in value for c in "|\r\n"):
            raise ValueError("must be non-empty, without | or a line break (queue_log fields)")
        return value

    @field_validator("agent")
    @classmethod
    def _names_the_call_taker(cls, value: str) -> str:
        try:
            named = value.format(endpoint="PJSIP/1001", id="1001")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {endpoint} and {id} may be replaced") from None
        if named == value:
            raise ValueError("must contain {endpoint} or {id}")
        return value


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALLGATE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    centre: CentreSettings = CentreSettings()
    """The centre's one time zone (``[centre] timezone``), which the roster follows."""
    wallboard: WallboardSettings = WallboardSettings()
    """The wall screen's 15/20 s marks and its optional sound alert."""
    ari: AriSettings = AriSettings()
    calltakers: CallTakerSettings = CallTakerSettings()
    acd: AcdSettings = AcdSettings()
    roster: RosterSettings = RosterSettings()
    """Shifts, out-of-hours routing and the short-handed alarm (``[roster]``)."""
    call: CallSettings = CallSettings()
    recording: RecordingSettings = RecordingSettings()
    screening: ScreeningSettings = ScreeningSettings()
    dispositions: DispositionSettings = DispositionSettings()
    callbacks: CallbackSettings = CallbackSettings()
    announcements: AnnouncementSettings = AnnouncementSettings()
    """Position and expected-wait announcements to waiting callers (off by default)."""
    fallback: FallbackSettings = FallbackSettings()
    queue_log: QueueLogSettings = QueueLogSettings()
    """callgate's calls in Asterisk's queue_log format, for queue reporting tools (off)."""
    agencies: dict[str, AgencySettings] = Field(default_factory=dict)
    """Agencies a call can be handed to (Damkar, BPBD, Dinkes, Polres, ...), by name."""
    storage: StorageSettings = StorageSettings()
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ami: AmiSettings = AmiSettings()
    agi: AgiSettings = AgiSettings()
    ops: OpsSettings = OpsSettings()
    auth: AuthSettings = AuthSettings()
    """Users of the admin API and CAD clients, with their roles (``[[auth.users]]``)."""
    log: LogSettings = LogSettings()
    nodes: dict[str, NodeSettings] = Field(default_factory=dict)
    """Several Asterisk nodes of one centre (``[nodes.<name>]``), every one driven by the one
    leading callgate: a caller stays on the node that took them and the call-taker's leg is
    rung on that node. Empty (the default): the one Asterisk of ``[ari] url`` and ``[ami]
    host``; with nodes, those two keys are not used."""
    cluster: ClusterSettings = ClusterSettings()
    """Several callgates for one centre, one leader elected through etcd (``[cluster]``);
    absent: a single callgate."""
    lab: bool = False
    """The lab (scripts/lab): allow the published lab secrets and users, and an anonymous or
    plain-TCP broker. Never set on a 112 host; ``callgate run``, ``check-config`` and a reload
    refuse those without it (``CALLGATE_LAB=1``)."""

    @model_validator(mode="before")
    @classmethod
    def _one_zone(cls, data: Any) -> Any:
        # [roster] timezone is the old place of [centre] timezone: one zone for both.
        return centre_zone_from(data)

    @field_validator("agencies")
    @classmethod
    def _one_digit_each(cls, value: dict[str, AgencySettings]) -> dict[str, AgencySettings]:
        seen: dict[str, str] = {}
        for name, agency in value.items():
            if agency.digit in seen:
                raise ValueError(f"{name} and {seen[agency.digit]} both use digit {agency.digit}")
            seen[agency.digit] = name
        return value

    @field_validator("nodes")
    @classmethod
    def _nodes_apart(cls, value: dict[str, NodeSettings]) -> dict[str, NodeSettings]:
        nodes_apart(value)
        return value

    @field_validator("roster")
    @classmethod
    def _rostered_are_calltakers(cls, value: RosterSettings, info: ValidationInfo) -> Any:
        calltakers = info.data.get("calltakers")
        known = {e.partition("/")[2] for e in calltakers.endpoints} if calltakers else set()
        lists = [(f"shifts.{i}", s.calltakers) for i, s in enumerate(value.shifts)]
        lists += [(f"exceptions.{i}", e.calltakers or []) for i, e in enumerate(value.exceptions)]
        for key, ids in lists:
            for agent_id in ids:
                if agent_id not in known:
                    raise ValueError(
                        f"{key}.calltakers: {agent_id!r} is not in calltakers.endpoints"
                    )
        return value

    @model_validator(mode="after")
    def _queue_logs_apart(self) -> Settings:
        ours, asterisks = self.queue_log.path, self.fallback.queue_log
        if ours and asterisks and _same_file(ours, asterisks):
            raise ValueError(
                f"queue_log.path: {ours} is Asterisk's own queue_log ([fallback] queue_log), which"
                " callgate reads for the fallback queue's calls; give callgate's a file of its own"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = settings_cls.model_config.get("toml_file")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _same_file(a: str, b: str) -> bool:
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate the config file (or only the environment when ``path`` is None)."""
    settings_cls: type[Settings] = Settings
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {file} does not exist or is not a file")

        class _FromFile(Settings):
            model_config = SettingsConfigDict(toml_file=file)

        settings_cls = _FromFile
    try:
        settings = settings_cls()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except ValueError as exc:  # a TOML syntax error surfaces as tomllib.TOMLDecodeError
        raise ConfigError(f"config file {path}: {exc}") from None
    return _add_users_file(settings, None if path is None else Path(path))


def _add_users_file(settings: Settings, config_path: Path | None) -> Settings:
    """``settings`` with the users of ``[auth] users_file`` added (``callgate users``)."""
    file = users_file_path(settings.auth, config_path)
    if file is None:
        return settings
    try:
        auth = with_users(settings.auth, read_users_file(file))
    except ValidationError as exc:
        raise ConfigError(
            _describe(exc).replace("invalid configuration:", f"auth.users_file {file}:", 1)
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"auth.users_file {file}: {exc}") from None
    return settings.model_copy(update={"auth": auth})


#: The lab's secrets, published in this repository (asterisk-conf/, scripts/lab, the README):
#: the key that holds each, and the value anyone can read.
LAB_SECRETS: dict[str, str] = {
    "ari.password": "lab-ari-secret",
    "ami.password": "lab-ami-secret",
    "agi.secret": LAB_AGI_SECRET,
}
#: The lab's users (scripts/labpeers.py LAB_USERS): each one's published password (the admin's:
#: its token's random part), checked against a user of that name whatever the hash.
LAB_USER_SECRETS: dict[str, str] = {
    "lab-admin": "lab-admin-token",
    "lab-supervisor": "lab-supervisor-password",
    "lab-ct1001": "lab-ct1001-password",
}
#: The token hash of the lab's admin user (scripts/labpeers.py LAB_ADMIN_TOKEN_HASH).
LAB_TOKEN_HASH = (  # published on purpose
    "$argon2id$v=19$m=65536,t=3,p=4$2o9F3osaf0+O9ZP68rblu"  # noqa: S105
    "g$cgSN1l/oQJJU4wypMNtT1yohQxRuA3vcq8AvVgbvBXc"
)
#: Every published hash of the lab's users (labpeers' LAB_USERS), refused under any name.
LAB_HASHES = frozenset(
    {
        LAB_TOKEN_HASH,
        "$argon2id$v=19$m=65536,t=3,p=4$YXM+R0njHrjz1uGBehsVVQ"
        "$/KVYaJ670MMfwdy9FqEbmmYAz8f23MatqujwqE9cd8Y",
        "$argon2id$v=19$m=65536,t=3,p=4$+zWaAO9aEqM7sb82tQ6oIw"
        "$WyKvIBihXPYXy5zxVAPY8S/sk2o38dJ4rfCfEeMu/Z8",
    }
)


def lab_secrets_in_use(settings: Settings) -> list[str]:
    """The keys that hold a published lab secret (empty when ``lab`` is set: the lab may)."""
    if settings.lab:
        return []
    values = (settings.ari.password, settings.ami.password, settings.agi.secret)  # its order
    keys = [
        k
        for k, v in zip(LAB_SECRETS, values, strict=True)
        if v.get_secret_value() == LAB_SECRETS[k]
    ]
    for i, user in enumerate(settings.auth.users):
        published = LAB_USER_SECRETS.get(user.name)
        for key in ("password_hash", "token_hash"):
            stored = getattr(user, key)
            if stored is not None and (
                stored in LAB_HASHES or (published and verify_secret(stored, published))
            ):
                keys.append(f"auth.users.{i}.{key}")
    return keys


def unsafe_outside_lab(settings: Settings) -> list[str]:
    """What a 112 host must not run with, one ``key: why`` line each: the published lab
    secrets and users, and a broker connection that cannot vouch for CAD's name (no user, or
    no TLS beyond loopback). Empty when the config says ``lab = true``."""
    if settings.lab:
        return []
    lines = [
        f"{key}: the lab's published value ({_own(key)})" for key in lab_secrets_in_use(settings)
    ]
    return lines + settings.mqtt.unsafe_outside_lab() + _cluster_journal(settings)


def _cluster_journal(settings: Settings) -> list[str]:
    """A clustered centre on a SQLite journal: each host would write a file of its own, two
    records of one centre that no leader sees whole (the lab shares one file on one host)."""
    if settings.cluster.enabled and settings.storage.url.get_secret_value().startswith("sqlite"):
        return [
            "cluster.etcd: set, with a SQLite journal (storage.url): each host would keep its"
            " own file, two records of one centre; give every callgate of the centre the one"
            " PostgreSQL journal (storage.url = postgresql+asyncpg://...)"
        ]
    return []


def _own(key: str) -> str:
    if key.startswith("auth."):
        return "make your own: callgate auth hash / token"
    return "set your own: CALLGATE_" + key.upper().replace(".", "__") + "=..."


def refuse_outside_lab(settings: Settings) -> None:
    """:class:`ConfigError` naming each key of :func:`unsafe_outside_lab` (run, check-config
    and a reload ask)."""
    lines = unsafe_outside_lab(settings)
    if lines:
        raise ConfigError(
            "not for a 112 host (lab = true, or CALLGATE_LAB=1, in the lab only):\n  "
            + "\n  ".join(lines)
        )


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (misspelt?)"
        lines.append(f"{key}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
