"""``GET /api/screen``: what the call-taker's screen needs from the configuration.

The screen offers a pause button for every reason of ``[agi] pause_reasons`` (the same list as
``*13<digit>`` on the phone, so a reason chosen on the screen and one keyed on the phone are
the same word in the reports), shows dates in the centre's time zone, and says how far back the
caller's history it shows reaches. A reload changes the reasons at once: the answer is built
from the running configuration at each request (the daemon gives :class:`ScreenInfo` a
function that returns it). The centre's zone is the roster's (``[roster] timezone``).

The printable feature-code card (``/card``) reads the same answer for the digits of the pause
reasons, the dispositions and the agencies. Any authenticated user may read it (it holds no
callers' data and no dial strings); changing a state goes through
``POST /api/agents/{agent_id}/{action}``, which checks who may act for whom.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from callgate.core.roster import TIME_ZONES
from callgate.http.server import AUTHENTICATED, Handler, Identify

if TYPE_CHECKING:
    from callgate.config import Settings


@dataclass(frozen=True, slots=True)
class ScreenFacts:
    """The configuration as the call-taker's screen sees it."""

    pause_reasons: Mapping[str, str]
    """Reason by the digit keyed after ``*13`` (``[agi] pause_reasons``)."""
    default_pause_reason: str
    """Recorded when no reason is chosen (``*13`` with no digit)."""
    timezone: str
    """The centre's IANA time zone (``Asia/Jakarta`` for WIB): the screen's dates follow it."""
    history_days: int
    """Days of the caller's earlier calls ``GET /api/my-call`` returns."""
    dispositions: Mapping[str, str]
    """Disposition by the digit after ``*15`` or ``**`` (``[dispositions] codes``)."""
    agencies: Mapping[str, str]
    """Agency name by the digit after ``*`` (three-way) or ``#`` (hand-off) during a call;
    never its dial string."""

    @classmethod
    def of(cls, settings: Settings, history_days: int) -> ScreenFacts:
        """The facts of a configuration (the running one: a reload changes the reasons)."""
        zone = settings.roster.timezone
        return cls(
            pause_reasons=dict(settings.agi.pause_reasons),
            default_pause_reason=settings.agi.default_pause_reason,
            timezone=TIME_ZONES.get(zone, zone),
            history_days=history_days,
            dispositions=dict(settings.dispositions.codes),
            agencies={a.digit: name for name, a in settings.agencies.items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pause_reasons": _by_digit(self.pause_reasons, "reason"),
            "default_pause_reason": self.default_pause_reason,
            "timezone": self.timezone,
            "history_days": self.history_days,
            "dispositions": _by_digit(self.dispositions, "disposition"),
            "agencies": _by_digit(self.agencies, "agency"),
        }


class ScreenInfo:
    """``GET /api/screen``; an :class:`~callgate.http.server.Extension`."""

    def __init__(self, running: Callable[[], Settings], *, history_days: int) -> None:
        self.running = running
        self.history_days = history_days

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        return {("GET", "/api/screen"): (AUTHENTICATED, self._screen)}

    async def close(self) -> None:
        return None

    async def _screen(self, _request: web.Request) -> web.Response:
        return web.json_response(ScreenFacts.of(self.running(), self.history_days).to_json())


def _by_digit(named: Mapping[str, str], key: str) -> list[dict[str, str]]:
    # In digit order, as the feature-code card and the phone's prompts list them.
    return [{"digit": digit, key: value} for digit, value in sorted(named.items())]
