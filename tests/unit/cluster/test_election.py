"""The election: one leader per centre, the epoch only grows, a leader that may have lost its
lease commands nothing (issue #21)."""

from __future__ import annotations

import asyncio
from typing import cast

from callgate.cluster.election import MARGIN, Leadership, leader_key
from callgate.cluster.etcd import EtcdClient, EtcdUnavailable, Holder
from tests.unit.cluster.fake_etcd import FakeEtcd

TTL = 3


def _node(etcd: FakeEtcd, name: str, lost: list[str]) -> Leadership:
    return Leadership(
        cast(EtcdClient, etcd),
        centre="c1",
        name=name,
        ttl=TTL,
        on_lost=lost.append,
        clock=etcd.clock,
        poll=0.001,
    )


async def test_given_a_free_key_when_campaigning_then_it_leads_with_the_key_revision() -> None:
    etcd, lost = FakeEtcd(), []
    a = _node(etcd, "a", lost)
    assert not a.valid()  # not leading yet: commands nothing
    epoch = await a.campaign()
    assert a.valid()
    assert etcd.keys[leader_key("c1")].value == "a"
    assert epoch == etcd.keys[leader_key("c1")].create_revision
    assert lost == []


async def test_given_a_leader_then_a_standby_waits_until_its_lease_lapses() -> None:
    etcd, lost_a, lost_b = FakeEtcd(), [], []
    a, b = _node(etcd, "a", lost_a), _node(etcd, "b", lost_b)
    first = await a.campaign()
    standby = asyncio.create_task(b.campaign())
    await asyncio.sleep(0.05)
    assert not standby.done()
    # a crashed (no more renewals); b keeps its own lease alive while it waits.
    for _ in range(int(TTL / 0.5) + 1):
        etcd.now += 0.5
        await asyncio.sleep(0.01)
    second = await asyncio.wait_for(standby, timeout=2)
    assert second > first
    assert etcd.keys[leader_key("c1")].value == "b"
    # a, resumed, may not command: its lease could have lapsed, and it says so once.
    assert not a.valid()
    assert not a.valid()
    assert len(lost_a) == 1
    assert "not renewed in time" in lost_a[0]
    assert b.valid()


async def test_given_a_leader_then_it_stops_commanding_a_margin_before_its_lease_lapses() -> None:
    etcd, lost = FakeEtcd(), []
    a = _node(etcd, "a", lost)
    await a.campaign()
    etcd.now += TTL - MARGIN - 0.01
    assert a.valid()
    etcd.now += 0.02
    assert not a.valid()
    # ... which is before etcd could end the lease: no other leader yet.
    assert leader_key("c1") in etcd.keys


async def test_given_a_leader_when_it_renews_then_it_keeps_leading() -> None:
    etcd, lost = FakeEtcd(), []
    a = _node(etcd, "a", lost)
    await a.campaign()
    for _ in range(10):
        etcd.now += TTL / 3
        await a._check()
        assert a.valid()
    assert lost == []


async def test_given_a_leader_whose_lease_etcd_ended_then_it_is_fenced() -> None:
    etcd, lost = FakeEtcd(), []
    a = _node(etcd, "a", lost)
    await a.campaign()
    etcd._end(next(iter(etcd.leases)))
    await a._check()
    assert not a.valid()
    assert lost == [f"lease of epoch {a.epoch} gone from etcd"]


async def test_given_a_leader_whose_key_another_holds_then_it_is_fenced() -> None:
    etcd, lost = FakeEtcd(), []
    a = _node(etcd, "a", lost)
    await a.campaign()
    holder = etcd.keys[leader_key("c1")]
    etcd.keys[leader_key("c1")] = type(holder)("z", holder.create_revision + 5, holder.lease)
    await a._check()
    assert not a.valid()
    assert "gone or taken" in lost[0]


async def test_given_etcd_down_then_the_leader_keeps_leading_only_until_its_lease_could_lapse() -> (
    None
):
    etcd, lost = FakeEtcd(), []
    a = _node(etcd, "a", lost)
    await a.campaign()
    etcd.down = True
    hold = asyncio.create_task(a.hold())
    await asyncio.sleep(0.05)
    assert a.valid()
    etcd.now += TTL
    await asyncio.wait_for(hold, timeout=TTL + 1)
    assert a.lost is not None


async def test_given_etcd_down_then_a_standby_keeps_trying_and_leads_once_it_is_back() -> None:
    etcd, lost = FakeEtcd(), []
    etcd.down = True
    a = _node(etcd, "a", lost)
    campaign = asyncio.create_task(a.campaign())
    await asyncio.sleep(0.05)
    assert not campaign.done()
    etcd.down = False
    await asyncio.wait_for(campaign, timeout=2)
    assert a.valid()


async def test_given_a_clean_stop_then_the_lease_is_revoked_and_a_standby_leads_at_once() -> None:
    etcd, lost_a, lost_b = FakeEtcd(), [], []
    a, b = _node(etcd, "a", lost_a), _node(etcd, "b", lost_b)
    await a.campaign()
    standby = asyncio.create_task(b.campaign())
    await asyncio.sleep(0.02)
    await a.resign()
    await asyncio.wait_for(standby, timeout=2)
    assert etcd.keys[leader_key("c1")].value == "b"
    await a.resign()  # twice: nothing more


class LostAnswerEtcd(FakeEtcd):
    """etcd applies the first create but its answer is lost (a timeout): the caller sees
    EtcdUnavailable, and its next try finds the key, on its own lease, already there. Or
    (``late``) the first answer arrives that many seconds after it was sent."""

    def __init__(self, *, late: float = 0.0) -> None:
        super().__init__()
        self.lost_answers = 1
        self.late = late

    async def create(self, key: str, value: str, lease: int) -> tuple[bool, Holder | None]:
        result = await super().create(key, value, lease)
        self.now, self.late = self.now + self.late, 0.0  # only the first answer is late
        if self.lost_answers:
            self.lost_answers -= 1
            raise EtcdUnavailable("etcd /v3/kv/txn: timeout")
        return result


async def test_given_the_create_answer_lost_then_the_key_on_its_own_lease_is_its_win() -> None:
    etcd, lost = LostAnswerEtcd(), []
    a = _node(etcd, "a", lost)
    epoch = await asyncio.wait_for(a.campaign(), timeout=2)
    assert a.valid()
    assert epoch == etcd.keys[leader_key("c1")].create_revision
    assert lost == []


async def test_given_the_win_answered_too_late_then_it_lets_the_key_go_and_campaigns_again() -> (
    None
):
    # The create's answer comes when the lease could already have lapsed: too late to
    # command, and keeping the key (renewing its lease) would stop anyone from ever leading.
    etcd, lost = LostAnswerEtcd(late=TTL - MARGIN), []
    etcd.lost_answers = 0
    a = _node(etcd, "a", lost)
    first_lease = etcd._next_lease + 1  # the lease a is about to be granted
    epoch = await asyncio.wait_for(a.campaign(), timeout=2)
    assert first_lease not in etcd.leases  # revoked, not kept
    assert etcd.keys[leader_key("c1")].lease != first_lease
    assert epoch == etcd.keys[leader_key("c1")].create_revision
    assert a.valid()
