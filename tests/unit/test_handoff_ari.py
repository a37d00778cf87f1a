"""A call-taker's hand-off asked from their screen (``AriAdapter.hand_off``, ``ports.HandOffs``):
the same originate as their ``*<digit>``/``#<digit>`` keys, only for a call a call-taker is on,
only to a configured agency. The real adapter, engine and core; Asterisk's REST side recorded."""

from __future__ import annotations

from callgate.asterisk.ari.layout import AGENCY
from callgate.config import AgencySettings, Settings
from callgate.core.config import AcdConfig
from callgate.ports import HandOffs
from tests.unit.phone_system import Daemon

SETTINGS = Settings(agencies={"damkar": AgencySettings(dial="PJSIP/damkar", digit="1")})


def _agency_dials(daemon: Daemon) -> list[dict[str, object]]:
    return [
        r[2]
        for r in daemon.asterisk.log
        if r[:2] == ("POST", "/channels") and str(r[2].get("appArgs", "")).startswith(AGENCY)
    ]


async def test_an_agency_is_called_into_a_connected_call_as_the_keys_would() -> None:
    daemon = Daemon(AcdConfig(), settings=SETTINGS)
    port: HandOffs = daemon.adapter
    assert port.agencies() == ["damkar"]
    await daemon.login("1001")
    await daemon.caller("c1", "+6281100000001")
    # Ringing, not answered: no call-taker is on it yet.
    assert await port.hand_off("c1", "damkar", "three-way") == "not-connected"
    await daemon.answer("c1", "1001")
    assert await port.hand_off("c1", "polres", "three-way") == "unknown-agency"
    assert await port.hand_off("nope", "damkar", "three-way") == "not-connected"
    assert _agency_dials(daemon) == []
    assert await port.hand_off("c1", "damkar", "hand-off") == "ok"
    [dial] = _agency_dials(daemon)
    assert (dial["endpoint"], dial["appArgs"]) == ("PJSIP/damkar", f"{AGENCY},c1,damkar")
    leg = daemon.adapter.book.legs[str(dial["channelId"])]
    assert (leg.agency, leg.agent_id, leg.hand_off) == ("damkar", "1001", True)
    # Asterisk refuses to dial: said so, and no leg is left behind.
    daemon.asterisk.fail("POST", "/channels")
    assert await port.hand_off("c1", "damkar", "three-way") == "failed"
    assert [lg.agency for lg in daemon.adapter.book.legs.values() if lg.role == AGENCY] == [
        "damkar"
    ]
    daemon.close()
