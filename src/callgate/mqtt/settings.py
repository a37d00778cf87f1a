"""The ``[mqtt]`` section: the broker CAD subscribes to, and how callgate talks to it."""

from __future__ import annotations

import ssl
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from callgate.addresses import is_loopback


class MqttTls(BaseModel):
    """TLS to the broker. Without ``ca_file`` the system's trusted CAs verify the broker."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    ca_file: str | None = None
    """PEM file of the CA that signed the broker's certificate."""
    cert_file: str | None = None
    """PEM client certificate, when the broker authenticates clients by certificate."""
    key_file: str | None = None
    """PEM key of ``cert_file``."""
    insecure: bool = False
    """Skip verifying the broker's certificate and host name. Lab only (refused without
    ``lab = true``): anyone on the path can then read and forge 112 events."""

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class MqttSettings(BaseModel):
    """Where call events go (MQTT) and where CAD's commands come from."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    enabled: bool = True
    """Publish call events. When false nothing connects and no events are stored."""
    host: str = "127.0.0.1"
    """Broker host."""
    port: int = Field(default=11883, ge=1, le=65535)
    """Broker port (the lab's Mosquitto listens on 11883; brokers usually use 1883, or 8883
    with TLS)."""
    site: str = Field(default="site1", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """This centre's id, part of every topic (letters, digits, ``-`` and ``_``)."""
    topic_prefix: str = Field(default="callgate/v1", pattern=r"^[^#+]+[^/#+]$")
    """Start of every topic; topics are ``{topic_prefix}/{site}/...``."""
    username: str | None = None
    """Broker user (see ``examples/mosquitto``). Required outside the lab (or a client
    certificate, ``[mqtt.tls] cert_file``): on an anonymous broker anyone who can publish could
    send CAD's commands under any CAD client's name."""
    password: SecretStr | None = None
    """Broker password. Secret: never logged; prefer ``CALLGATE_MQTT__PASSWORD``."""
    tls: MqttTls | None = None
    """TLS to the broker; leave out for plain TCP, which outside the lab only a loopback broker
    (127.0.0.1, ::1, localhost) may use."""
    client_id: str = "callgate"
    """MQTT client id; give each callgate on one broker its own."""
    keepalive: int = Field(default=30, ge=5, le=3600)
    """Seconds between MQTT pings; the broker declares callgate offline after 1.5 times this."""
    reconnect_max: float = Field(default=30.0, gt=0)
    """Longest wait between reconnection attempts, seconds (the wait doubles up to this)."""
    outbox_retention_hours: int = Field(default=72, ge=1, le=24 * 366)
    """Published events stay in the outbox this many hours, then are deleted (a few hundred at a
    time, every few minutes). This is the window in which CAD can have events replayed from the
    outbox, and in which a call's ``seq`` is remembered: an event for a call whose events were
    all deleted (quiet for longer than this) starts its ``seq`` again at 1."""
    max_command_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    """Largest command payload callgate parses, bytes; a larger one is answered
    ``invalid-command`` unread. Keep the broker's ``max_packet_size`` (examples/mosquitto) above
    this plus the topic, so that the broker, not callgate, drops anything far larger."""
    command_queue: int = Field(default=100, ge=1, le=100_000)
    """Commands received and not yet applied, at most; past that a command is answered ``busy``
    at once (and not remembered, so CAD may send it again)."""
    command_dedup_seconds: float = Field(default=600.0, ge=0)
    """A command whose request id was seen this recently is not applied again: MQTT delivers at
    least once, and a redelivered ``block`` must not undo a later ``unblock``. The first answer
    is sent again instead. CAD must use a new request id for each command."""
    command_dedup_max: int = Field(default=10_000, ge=1, le=1_000_000)
    """Most request ids remembered for de-duplication (the oldest are forgotten first)."""

    @model_validator(mode="before")
    @classmethod
    def _retention_in_days(cls, data: Any) -> Any:
        # Earlier configs say outbox_retention_days; a daemon that refused to start after an
        # upgrade would cost more than the old key is worth. Taken as days x 24 hours.
        if isinstance(data, dict) and "outbox_retention_days" in data:
            data = dict(data)
            days = data.pop("outbox_retention_days")
            if "outbox_retention_hours" in data:
                raise ValueError("give outbox_retention_hours only (outbox_retention_days is old)")
            data["outbox_retention_hours"] = int(days) * 24
        return data

    def unsafe_outside_lab(self) -> list[str]:
        """What a 112 host's broker connection must not be, one ``key: why`` line each (the
        config refuses them without ``lab = true``): callgate takes a command's sender from its
        topic, so only a broker that authenticates its users and enforces the ACL
        (examples/mosquitto) makes that name true."""
        if not self.enabled:
            return []
        problems = []
        certificate = self.tls is not None and self.tls.cert_file is not None
        if self.username is None and not certificate:
            problems.append(
                "mqtt.username: none: on an anonymous broker anyone who can publish commands as"
                " any CAD client; give callgate a broker user (and CALLGATE_MQTT__PASSWORD) or a"
                " client certificate ([mqtt.tls] cert_file)"
            )
        elif self.password is None and not certificate:
            problems.append(
                f"mqtt.password: none for broker user {self.username} (CALLGATE_MQTT__PASSWORD=...)"
            )
        if self.tls is None and not is_loopback(self.host):
            problems.append(
                f"mqtt.tls: none, to a broker not on loopback ({self.host}): the password and"
                " callers' numbers would cross the network in clear ([mqtt.tls], port 8883)"
            )
        if self.tls is not None and self.tls.insecure:
            problems.append(
                "mqtt.tls.insecure: true: the broker's certificate is not checked, so anyone on"
                " the path can read and forge 112 events and commands"
            )
        return problems

    @property
    def base(self) -> str:
        """``{topic_prefix}/{site}``: the root of every topic of this site."""
        return f"{self.topic_prefix}/{self.site}"
