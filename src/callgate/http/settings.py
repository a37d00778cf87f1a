"""The ``[ops]`` section of the config file: the admin HTTP port and socket, log format, systemd
watchdog."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Re-exported: the admin HTTP server checks the addresses it serves with it too. It lives in a
# neutral module so that [agi] listen_host can use the same test without importing this adapter.
from callgate.addresses import is_loopback

#: Longest path of a Unix socket: sockaddr_un's sun_path is 108 bytes with the final NUL.
MAX_SOCKET_PATH = 107

__all__ = ["OpsSettings", "is_loopback"]


class OpsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    http_host: str = "127.0.0.1"
    """Address of the admin HTTP port (health, metrics, the CLI's API). Loopback only: health
    and metrics are open and the API speaks plain HTTP, so remote users go through a TLS reverse
    proxy (README, "The admin API from elsewhere")."""
    http_port: Annotated[int, Field(ge=0, le=65535)] = 8089
    """Port of the admin HTTP port; Prometheus scrapes ``/metrics`` here (0: any free port)."""
    http_max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 65_536
    """Largest request body the admin HTTP port reads, bytes; a larger one is answered 413 before
    it is read to the end. The API's bodies are a few hundred bytes."""
    http_header_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    """Seconds a client of the admin HTTP port has to send a request's headers, from connecting
    or from its first byte after the previous answer; a slower one is closed."""
    http_body_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    """Seconds a request's body has to arrive once its headers have (408 and closed)."""
    http_keepalive_timeout: Annotated[float, Field(gt=0, le=3600)] = 60.0
    """Seconds a connection may stay idle between requests (reading its last answer included)
    before it is closed."""
    http_max_connections: Annotated[int, Field(ge=2, le=65_536)] = 512
    """Connections the admin HTTP port holds at most. A new one past it closes the oldest one
    that is not in a request (idle, or still sending its headers), or is closed at once when all
    are in requests. Keep well under the unit's ``LimitNOFILE=``."""
    http_max_connections_per_peer: Annotated[int, Field(ge=1, le=65_536)] = 256
    """The same, from one address. Behind a reverse proxy every remote user is the proxy's
    address, so this is the proxy's share."""
    live_max_streams: Annotated[int, Field(ge=1, le=10_000)] = 64
    """Live streams (``GET /api/live``: wallboards, call-takers' screens) open at once; past it a
    new one is answered 503 with ``Retry-After``. Each holds one connection."""
    live_max_streams_per_user: Annotated[int, Field(ge=1, le=10_000)] = 8
    """Live streams of one user open at once; one more closes that user's oldest stream."""
    live_write_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    """Seconds a live stream's client may go without reading before it is dropped."""
    socket_path: str = "/run/callgate/admin.sock"
    """The admin API on a Unix socket too, for the local ``callgate`` commands: a process that
    connects is the user ``[auth] local_users`` maps its Unix user to, no token needed.
    systemd's ``RuntimeDirectory=callgate`` makes the folder. Empty: no socket."""
    socket_group: Annotated[str, Field(pattern=r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$")] = (
        "callgate-cli"
    )
    """Group of the socket, mode 0660: who may connect (``usermod -aG callgate-cli alice``).
    Not ``callgate``, whose members read the secrets and the journal. When the group does not
    exist, or callgate is not in it, the socket stays 0600 (callgate's own user only), with a
    WARNING. Empty: 0600 on purpose."""
    log_format: Literal["json", "console"] = "json"
    """``json``: one JSON object per line, for journald and log shippers; ``console``: aligned
    human-readable lines, for running callgate by hand in a terminal."""
    bind_retry_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    """Seconds between attempts to bind the admin HTTP port or the FastAGI port while another
    process holds it (an ALARM line each time, rate-limited). ARI call handling needs neither
    port, so calls are served meanwhile."""
    watchdog: bool = True
    """Send systemd watchdog pings (only when systemd asks for them with WatchdogSec=)."""
    session_idle_hours: Annotated[float, Field(gt=0, le=168)] = 8.0
    """A browser session (``POST /api/session``) ends after this many hours without a request:
    a call-taker's shift, so a workstation left logged in does not stay so for days."""
    session_lifetime_hours: Annotated[float, Field(gt=0, le=168)] = 12.0
    """A browser session ends this many hours after its log-in, however busy (a wallboard page
    polling all day logs in again twice a day)."""
    cookie_secure: bool = True
    """Mark the session cookie ``Secure`` (the browser sends it over https only) on every
    log-in. Off: only when the reverse proxy says the request came over TLS
    (``X-Forwarded-Proto: https``), for a browser on the host itself using plain
    ``http://127.0.0.1`` that refuses Secure cookies there."""

    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses (or networks, ``127.0.0.1/32``) of the TLS reverse proxy in front of the admin
    port, the only peers whose ``X-Real-IP`` header is believed as the client's address for the
    failed-credential limit. Loopback only (nothing else reaches the port). None by default:
    every local process could otherwise make up an address per request and escape the limit;
    behind the README's nginx set ``["127.0.0.1"]``, or every browser shares that one address."""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                network = ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 127.0.0.1)"
                ) from None
            if not network.is_loopback:
                raise ValueError(
                    f"{entry!r} is not a loopback address: the admin port listens on loopback"
                    " only, so its proxy runs on this host (e.g. 127.0.0.1)"
                )
        return [entry.strip() for entry in value]

    @field_validator("http_host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if not is_loopback(value):
            raise ValueError(
                "must be a loopback address (127.0.0.1, ::1 or localhost): the admin port speaks"
                " plain HTTP; put a TLS reverse proxy in front of it to reach it remotely"
            )
        return value

    @model_validator(mode="after")
    def _idle_within_lifetime(self) -> OpsSettings:
        if self.session_idle_hours > self.session_lifetime_hours:
            raise ValueError(
                f"session_idle_hours ({self.session_idle_hours:g}) must not exceed"
                f" session_lifetime_hours ({self.session_lifetime_hours:g}): a session never"
                " outlives its lifetime"
            )
        return self

    @model_validator(mode="after")
    def _caps_nest(self) -> OpsSettings:
        if self.http_max_connections_per_peer > self.http_max_connections:
            raise ValueError(
                f"http_max_connections_per_peer ({self.http_max_connections_per_peer}) must not"
                f" exceed http_max_connections ({self.http_max_connections})"
            )
        if self.live_max_streams_per_user > self.live_max_streams:
            raise ValueError(
                f"live_max_streams_per_user ({self.live_max_streams_per_user}) must not exceed"
                f" live_max_streams ({self.live_max_streams})"
            )
        if self.live_max_streams >= self.http_max_connections:
            raise ValueError(
                f"live_max_streams ({self.live_max_streams}) must be below http_max_connections"
                f" ({self.http_max_connections}): each stream holds a connection, and the API"
                " needs some left"
            )
        return self

    @field_validator("socket_path")
    @classmethod
    def _socket_path(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError("must be an absolute path (or empty: no admin socket)")
        if len(value.encode()) > MAX_SOCKET_PATH:
            raise ValueError(f"longer than a Unix socket path may be ({MAX_SOCKET_PATH} bytes)")
        return value
