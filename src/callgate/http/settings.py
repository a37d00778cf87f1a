"""The ``[ops]`` section of the config file: the admin HTTP port, log format, systemd watchdog."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

    @field_validator("http_host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if not is_loopback(value):
            raise ValueError(
                "must be a loopback address (127.0.0.1, ::1 or localhost): the admin port speaks"
                " plain HTTP; put a TLS reverse proxy in front of it to reach it remotely"
            )
        return value
