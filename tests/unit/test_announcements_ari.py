"""Queue announcements through the ARI adapter and the real core: what Asterisk is asked to
play to a waiting caller, that nothing else they hear is cut, and that an offer stops it after
the ring went out (never before, never holding it up)."""

from __future__ import annotations

from typing import Any

import pytest

from callgate.asterisk.ari.waiting import announcement_media
from callgate.config import AnnouncementSettings
from callgate.core.agents import DeviceState
from callgate.core.announcements import AnnouncementPolicy
from callgate.core.commands import AnnounceQueue, StopQueueAnnouncement
from callgate.core.config import AcdConfig
from callgate.core.events import DeviceStateChanged
from tests.unit.phone_system import Daemon

POLICY = AnnouncementPolicy(first_after=20.0, period=30.0, handling_time=120.0)
CONFIG = AcdConfig(max_wait=None, announcements=POLICY)
P = "sound:custom/callgate/"
#: Position 1, about 2 minutes (one call-taker on duty, 120 s a call).
FIRST = (
    f"{P}antrean-nomor,{P}angka-1,{P}antrean-perkiraan,{P}angka-2,{P}antrean-menit,{P}antrean-tetap"
)


async def waiting_caller() -> Daemon:
    """Call-taker 1001 logged in, their phone not registered; caller c1 heard the greeting and
    waits with music on hold."""
    daemon = Daemon(CONFIG)
    await daemon.login("1001")
    await daemon.engine.feed(DeviceStateChanged("1001", DeviceState.UNAVAILABLE))
    await daemon.caller("c1", "+6281100000001")
    await daemon.event(daemon.asterisk.frame("PlaybackFinished", playback={"id": "greeting-c1"}))
    return daemon


def requests(daemon: Daemon) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in daemon.asterisk.log]


def plays(daemon: Daemon) -> list[tuple[str, object]]:
    return [(p, params.get("media")) for m, p, params in daemon.asterisk.log if "/play/queue" in p]


async def test_a_waiting_caller_hears_position_and_wait_then_music_again() -> None:
    daemon = await waiting_caller()
    await daemon.advance(20)
    assert plays(daemon) == [("/channels/c1/play/queue-c1-1", FIRST)]
    # In place of the music, which comes back when it has been said.
    music_off = requests(daemon).index(("DELETE", "/channels/c1/moh"))
    assert music_off < requests(daemon).index(("POST", "/channels/c1/play/queue-c1-1"))
    daemon.asterisk.log.clear()
    await daemon.event(daemon.asterisk.frame("PlaybackFinished", playback={"id": "queue-c1-1"}))
    assert requests(daemon) == [("POST", "/channels/c1/moh")]
    await daemon.advance(30)
    assert [p for p, _ in plays(daemon)] == ["/channels/c1/play/queue-c1-2"]
    daemon.close()


async def test_an_offer_rings_first_then_stops_the_announcement_and_the_music_resumes() -> None:
    daemon = await waiting_caller()
    await daemon.advance(20)
    daemon.asterisk.log.clear()
    await daemon.engine.feed(DeviceStateChanged("1001", DeviceState.NOT_INUSE))
    await daemon.settle()
    ring = next(i for i, r in enumerate(requests(daemon)) if r == ("POST", "/channels"))
    assert requests(daemon)[ring + 1 :] == [("DELETE", "/playbacks/queue-c1-1")]
    # Asterisk reports the stopped playback; the caller hears music while the phone rings.
    before = len(daemon.asterisk.log)
    await daemon.event(daemon.asterisk.frame("PlaybackFinished", playback={"id": "queue-c1-1"}))
    assert requests(daemon)[before:] == [("POST", "/channels/c1/moh")]
    # Answered: music off, bridged; no playback of ours is left to hold the bridge up.
    before = len(daemon.asterisk.log)
    await daemon.answer("c1", "1001")
    await daemon.settle()
    answered = requests(daemon)[before:]
    assert ("DELETE", "/channels/c1/moh") in answered
    assert ("POST", "/bridges/call-c1/addChannel") in answered
    assert not [r for r in answered if "/playbacks/" in r[1] or "/play/" in r[1]]
    daemon.close()


async def test_an_offer_before_the_announcement_started_means_it_never_starts() -> None:
    daemon = await waiting_caller()
    await daemon.advance(19)
    layout = daemon.adapter.book.calls["c1"]
    # The announcement and the offer reach the adapter back to back, before the channel's
    # requests ran: the announcement is dropped, nothing is stopped.
    await daemon.adapter.execute(AnnounceQueue("c1", 1, 120.0, 0.0))
    await daemon.adapter.execute(StopQueueAnnouncement("c1"))
    await daemon.settle()
    assert plays(daemon) == []
    assert not [r for r in requests(daemon) if "/playbacks/" in r[1]]
    assert layout.greeting is None
    daemon.close()


async def test_an_offer_while_the_play_request_is_on_its_way_stops_it_once_it_started() -> None:
    daemon = await waiting_caller()
    answer = daemon.asterisk.request

    async def offered_meanwhile(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        result = await answer(method, path, *args, **kwargs)
        if path == "/channels/c1/play/queue-c1-1":
            await daemon.adapter.execute(StopQueueAnnouncement("c1"))
        return result

    daemon.asterisk.request = offered_meanwhile  # type: ignore[method-assign]
    await daemon.advance(20)
    played = requests(daemon).index(("POST", "/channels/c1/play/queue-c1-1"))
    assert requests(daemon)[played + 1 :] == [("DELETE", "/playbacks/queue-c1-1")]
    daemon.close()


async def test_the_greeting_is_never_cut_by_an_announcement() -> None:
    daemon = Daemon(CONFIG)
    await daemon.login("1001")
    await daemon.engine.feed(DeviceStateChanged("1001", DeviceState.UNAVAILABLE))
    await daemon.caller("c1", "+6281100000001")  # a long greeting: no PlaybackFinished yet
    await daemon.advance(20)
    assert plays(daemon) == []
    assert ("DELETE", "/playbacks/greeting-c1") not in requests(daemon)
    await daemon.event(daemon.asterisk.frame("PlaybackFinished", playback={"id": "greeting-c1"}))
    await daemon.advance(30)  # the next turn
    assert [p for p, _ in plays(daemon)] == ["/channels/c1/play/queue-c1-2"]
    daemon.close()


async def test_an_announcement_that_cannot_be_played_brings_the_music_back() -> None:
    daemon = await waiting_caller()
    daemon.asterisk.fail("POST", "/channels/c1/play/queue-c1-1")
    daemon.asterisk.log.clear()
    await daemon.advance(20)
    assert requests(daemon)[-1] == ("POST", "/channels/c1/moh")
    assert daemon.adapter.book.calls["c1"].greeting is None
    daemon.close()


def test_the_media_says_numbers_to_twenty_then_more_than_twenty() -> None:
    prompts = AnnouncementSettings(enabled=True)
    assert announcement_media(prompts, 1, 120.0) == FIRST
    assert announcement_media(prompts, 21, None) == (
        f"{P}antrean-nomor,{P}angka-lebih-20,{P}antrean-tetap"
    )
    # Whole minutes, rounded up, at least one; past twenty: "lebih dari dua puluh menit".
    assert announcement_media(prompts, None, 61.0).split(",")[1] == f"{P}angka-2"
    assert announcement_media(prompts, None, 5.0).split(",")[1] == f"{P}angka-1"
    assert announcement_media(prompts, None, 3600.0).split(",")[1] == f"{P}angka-lebih-20"


@pytest.mark.parametrize(
    ("closing", "expected"),
    [("", f"{P}antrean-nomor,{P}angka-3"), ("sound:custom/pusat/tunggu", None)],
)
def test_a_centre_s_own_prompts_are_used_and_empty_ones_left_out(
    closing: str, expected: str | None
) -> None:
    prompts = AnnouncementSettings(closing_prompt=closing)
    media = announcement_media(prompts, 3, None)
    assert media == (expected or f"{P}antrean-nomor,{P}angka-3,{closing}")
