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


class _Result:
    def __init__(self, ok: bool) -> None:
        self.ok = ok


class _Dispositions:
    """The disposition service, as far as ``**<digit>`` needs it."""

    def __init__(self, ok: bool = True) -> None:
        self.set_calls: list[tuple[str, str, str, str]] = []
        self.ok = ok

    def for_digit(self, digit: str) -> str | None:
        return {"3": "prank"}.get(digit)

    async def set(self, call_id: str, disposition: str, *, by: str, source: str) -> _Result:
        self.set_calls.append((call_id, disposition, by, source))
        return _Result(self.ok)


def _beeps(daemon: Daemon, leg: str) -> list[object]:
    return [
        r[2].get("media") for r in daemon.asterisk.log if r[:2] == ("POST", f"/channels/{leg}/play")
    ]


async def test_a_call_takers_keys_go_to_the_core_which_answers_with_agencies_and_dispositions() -> (
    None
):
    daemon = Daemon(AcdConfig(), settings=SETTINGS)
    sink = _Dispositions()
    daemon.adapter.dispositions = sink
    await daemon.login("1001")
    await daemon.caller("c1", "+6281100000001")
    await daemon.answer("c1", "1001")
    [leg] = [lg for lg, v in daemon.adapter.book.legs.items() if v.role == "calltaker"]

    async def key(digit: str) -> None:
        await daemon.event({"type": "ChannelDtmfReceived", "channel": {"id": leg}, "digit": digit})

    # A digit alone, and one after the sequence timed out (on the core's deadline): nothing.
    await key("1")
    await key("#")
    await daemon.advance(3.5)
    await key("1")
    assert _agency_dials(daemon) == []
    # *1 within the timeout: damkar, three-way.
    await key("*")
    await key("1")
    [dial] = _agency_dials(daemon)
    assert daemon.adapter.book.legs[str(dial["channelId"])].hand_off is False
    # #9: no agency on that key, nothing dialled.
    await key("#")
    await key("9")
    assert len(_agency_dials(daemon)) == 1
    # **3: the disposition, confirmed to the call-taker alone; **8: none, the error tone.
    for digit in "**3**8":
        await key(digit)
    await daemon.settle()
    assert sink.set_calls == [("c1", "prank", "1001", "dtmf")]
    assert _beeps(daemon, leg) == ["sound:beep", "sound:beeperr"]
    daemon.close()


async def test_a_disposition_the_journal_refuses_or_fails_is_the_error_tone() -> None:
    daemon = Daemon(AcdConfig(), settings=SETTINGS)
    sink = _Dispositions(ok=False)
    daemon.adapter.dispositions = sink
    await daemon.login("1001")
    await daemon.caller("c1", "+6281100000001")
    await daemon.answer("c1", "1001")
    [leg] = [lg for lg, v in daemon.adapter.book.legs.items() if v.role == "calltaker"]
    for digit in "**3":
        await daemon.event({"type": "ChannelDtmfReceived", "channel": {"id": leg}, "digit": digit})
    await daemon.settle()
    assert sink.set_calls == [("c1", "prank", "1001", "dtmf")]
    assert _beeps(daemon, leg) == ["sound:beeperr"]
    daemon.close()
