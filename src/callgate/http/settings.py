"""The ``[ops]`` section of the config file: the admin HTTP port, log format, systemd watchdog."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Re-exported: the admin HTTP server checks the addresses it serves with it too. It lives in a
# neutral module so that [agi] listen_host can use the same test without importing this adapter.
from callgate.addresses import is_loopback

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
