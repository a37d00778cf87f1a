"""The AMI adapter, driven by AMI traffic recorded from the lab's Asterisk 16 (tests/fixtures/ami).

Two levels: the pure translation functions on recorded messages (parsed by panoramisk's own
parser, as in the daemon), and the whole AmiClient against a local server that replays the
recorded bytes (a codec test; the real Asterisk is in tests/integration/test_ami_lab.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from panoramisk.message import Message  # type: ignore[import-untyped]

from callgate.asterisk.ami import messages as ami_messages
from callgate.asterisk.ami.client import AmiClient, AmiError, AmiUnavailable
from callgate.asterisk.ami.messages import (
    AsteriskDeviceState,
    ContactChange,
    DeviceStatus,
    QueueSummary,
    channel_endpoint,
    contact_status,
    device_state_change,
    endpoints_snapshot,
    parse_device_state,
    queue_summary_from,
    statuses_from_snapshot,
    to_core_device_state,
)
from callgate.asterisk.settings import AmiSettings
from callgate.core.agents import DeviceState


@pytest.fixture(autouse=True)
def _fresh_problem_log(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bad input is logged once per process; each test starts with nothing reported yet.
    monkeypatch.setattr(ami_messages, "_reported", set())


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
S = AsteriskDeviceState


def blocks(name: str) -> list[str]:
    """The raw messages of a recording, as Asterisk framed them (CRLF, blank line between)."""
    raw = (FIXTURES / name).read_bytes().decode()
    return [b for b in raw.split("\r\n\r\n") if b.strip()]


def messages(name: str) -> list[dict[str, str]]:
    """A recording parsed by panoramisk's parser, the one the daemon uses."""
    out = []
    for block in blocks(name):
        message = Message.from_line(block.strip())
        if message is not None:
            out.append({k: v for k, v in message.items() if k != "content"})
    return out


def replies_to(name: str, action_id: str) -> list[dict[str, str]]:
    return [m for m in messages(name) if m.get("ActionID") == action_id]


def events(name: str, event: str) -> list[dict[str, str]]:
    return [m for m in messages(name) if m.get("Event") == event]


# --- translation ---


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("NOT_INUSE", S.NOT_INUSE),
        ("Not in use", S.NOT_INUSE),
        ("In use", S.INUSE),
        ("INUSE", S.INUSE),
        ("Unavailable", S.UNAVAILABLE),
        ("Ringing", S.RINGING),
        ("Ring+Inuse", S.RINGINUSE),
        ("RINGINUSE", S.RINGINUSE),
        ("On Hold", S.ONHOLD),
        ("Busy", S.BUSY),
        ("Invalid", S.INVALID),
        ("Unknown", S.UNKNOWN),
        ("Sleeping", None),
        ("", None),
    ],
)
def test_given_either_spelling_of_a_device_state_then_it_parses_or_is_none(
    text: str, state: AsteriskDeviceState | None
) -> None:
    assert parse_device_state(text) is state


def test_given_the_recorded_endpoint_listing_with_no_phones_then_every_call_taker_is_unavailable():
    snapshot = endpoints_snapshot(replies_to("snapshot-no-phones.txt", "rec-1"))

    assert set(snapshot) == {f"PJSIP/100{n}" for n in range(1, 9)} | {"PJSIP/jasnita"}
    assert snapshot["PJSIP/1007"].state is S.UNAVAILABLE
    assert snapshot["PJSIP/1007"].contacts == frozenset()
    # The carrier trunk has a static contact: "registered" means Asterisk has a contact.
    assert snapshot["PJSIP/jasnita"].contacts == {"jasnita/sip:127.0.0.2:5070"}
    statuses = statuses_from_snapshot(snapshot)
    assert statuses["PJSIP/1007"] == DeviceStatus(S.UNAVAILABLE, registered=False)
    assert to_core_device_state(statuses["PJSIP/1007"]) is DeviceState.UNAVAILABLE


def test_given_the_recorded_listing_with_1007_registered_then_1007_is_not_in_use_and_registered():
    snapshot = endpoints_snapshot(replies_to("phone-1007-registers-and-stops.txt", "rec-1"))

    status = statuses_from_snapshot(snapshot)["PJSIP/1007"]
    assert status == DeviceStatus(S.NOT_INUSE, registered=True)
    assert to_core_device_state(status) is DeviceState.NOT_INUSE
    assert snapshot["PJSIP/1007"].contacts == {"1007/sip:1007-0x56170efea380@127.0.0.1:5170"}


def test_given_the_recorded_listings_during_and_after_a_call_then_1008_is_in_use_then_free():
    first, second = (
        endpoints_snapshot(replies_to("call-to-1008-ring-answer-hangup.txt", f"rec-{n}"))
        for n in (3, 4)
    )

    assert first["PJSIP/1008"].state is S.INUSE
    assert second["PJSIP/1008"].state is S.NOT_INUSE


def test_given_the_recorded_contact_events_of_a_phone_then_it_appears_then_disappears():
    changes = [
        contact_status(e) for e in events("phone-1007-registers-and-stops.txt", "ContactStatus")
    ]

    contact = "1007/sip:1007-0x56170efea380@127.0.0.1:5170"
    assert changes == [
        ContactChange("PJSIP/1007", contact, present=True),  # NonQualified: just registered
        ContactChange("PJSIP/1007", contact, present=True),  # Reachable: qualified
        ContactChange("PJSIP/1007", contact, present=False),  # Removed: baresip unregistered
    ]
    # The contact events and the endpoint listing name a contact the same way.
    snapshot = endpoints_snapshot(replies_to("phone-1007-registers-and-stops.txt", "rec-1"))
    assert contact in snapshot["PJSIP/1007"].contacts


def test_given_the_recorded_channel_events_of_a_call_then_they_name_the_endpoint():
    recorded = messages("call-to-1008-ring-answer-hangup.txt")
    names = {channel_endpoint(m) for m in recorded if m.get("Event") in {"Newchannel", "Hangup"}}

    assert names == {"PJSIP/1008"}
    assert channel_endpoint({"Channel": "Local/112@emergency-00000001;1"}) is None
    assert channel_endpoint({"Channel": "PJSIP/operator-3-0000000a"}) == "PJSIP/operator-3"
    assert channel_endpoint({}) is None


def test_given_a_device_state_change_for_a_phone_then_it_is_translated():
    # Documented format; the lab does not load res_manager_devicestate, so none was recorded.
    event = {"Event": "DeviceStateChange", "Device": "PJSIP/1001", "State": "RINGING"}

    assert device_state_change(event) == ("PJSIP/1001", S.RINGING)


def test_given_a_device_state_change_for_a_queue_or_local_device_then_it_is_ignored_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert device_state_change({"Device": "Queue:fallback-112_avail", "State": "INUSE"}) is None
    assert device_state_change({"Device": "Local/112@emergency", "State": "INUSE"}) is None
    assert not caplog.records


@pytest.mark.parametrize(
    ("event", "bad_field"),
    [
        ({"Event": "DeviceStateChange", "State": "INUSE"}, "Device"),
        ({"Event": "DeviceStateChange", "Device": "PJSIP/1001", "State": "Dozing"}, "State"),
        ({"Event": "DeviceStateChange", "Device": "PJSIP/1001", "State": " "}, "State"),
    ],
)
def test_given_a_malformed_device_state_change_then_it_is_skipped_and_the_field_named_once(
    event: dict[str, str], bad_field: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert device_state_change(event) is None
    assert device_state_change(event) is None

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # once per distinct problem, however often it comes
    assert getattr(errors[0], "field", None) == bad_field


def test_given_a_contact_status_with_an_unknown_status_or_missing_uri_then_it_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorded = events("phone-1007-registers-and-stops.txt", "ContactStatus")[0]

    assert contact_status({**recorded, "ContactStatus": "Hibernating"}) is None
    assert contact_status({k: v for k, v in recorded.items() if k != "URI"}) is None
    assert {getattr(r, "field", None) for r in caplog.records} == {"ContactStatus", "URI"}


def test_given_a_listing_with_a_broken_item_then_the_others_are_kept():
    items = replies_to("snapshot-no-phones.txt", "rec-1")
    broken = [{**m, "DeviceState": "Asleep"} if m.get("ObjectName") == "1001" else m for m in items]
    broken.append({"Event": "EndpointList", "DeviceState": "Unavailable"})  # no ObjectName

    snapshot = endpoints_snapshot(broken)

    assert "PJSIP/1001" not in snapshot
    assert len(snapshot) == 8


def test_given_the_recorded_queue_summary_then_it_reads_callers_and_members():
    reply = replies_to("snapshot-no-phones.txt", "rec-3")

    summary = queue_summary_from("fallback-112", reply)

    assert summary == QueueSummary("fallback-112", 0, 0, 0, logged_in=0, available=0)
    assert queue_summary_from("other", reply) is None
    assert (
        queue_summary_from("no-such-queue", replies_to("queue-summary-unknown-queue.txt", "rec-1"))
        is None
    )


def test_given_a_queue_summary_with_a_non_number_then_it_is_refused_not_guessed():
    event = {**replies_to("snapshot-no-phones.txt", "rec-3")[1], "Callers": "many"}

    assert queue_summary_from("fallback-112", [event]) is None


@pytest.mark.parametrize(
    ("status", "core"),
    [
        (DeviceStatus(S.NOT_INUSE, registered=True), DeviceState.NOT_INUSE),
        (DeviceStatus(S.NOT_INUSE, registered=False), DeviceState.UNAVAILABLE),
        (DeviceStatus(S.INUSE, registered=True), DeviceState.IN_USE),
        (DeviceStatus(S.BUSY, registered=True), DeviceState.IN_USE),
        (DeviceStatus(S.ONHOLD, registered=True), DeviceState.IN_USE),
        (DeviceStatus(S.RINGINUSE, registered=True), DeviceState.IN_USE),
        (DeviceStatus(S.RINGING, registered=True), DeviceState.RINGING),
        (DeviceStatus(S.UNAVAILABLE, registered=True), DeviceState.UNAVAILABLE),
        (DeviceStatus(S.UNKNOWN, registered=True), DeviceState.UNAVAILABLE),
        (DeviceStatus(S.INVALID, registered=True), DeviceState.UNAVAILABLE),
    ],
)
def test_given_a_device_status_then_the_core_sees_a_state_it_knows(
    status: DeviceStatus, core: DeviceState
) -> None:
    assert to_core_device_state(status) is core


def test_given_default_settings_then_they_are_the_lab_and_the_secret_is_hidden():
    settings = AmiSettings()

    assert (settings.host, settings.port, settings.username) == ("127.0.0.1", 5038, "callgate")
    assert "lab-ami-secret" not in repr(settings)
    assert settings.password.get_secret_value() == "lab-ami-secret"
    with pytest.raises(ValueError, match="extra"):
        AmiSettings.model_validate({"nonsense": 1})


# --- the client against a server replaying recorded bytes ---


def recorded_reply(name: str, action_id: str) -> list[str]:
    """The raw blocks Asterisk sent in reply to one recorded action, in order."""
    return [
        b for b in blocks(name) if re.search(rf"^ActionID: {re.escape(action_id)}\r?$", b, re.M)
    ]


def recorded_event(name: str, contact_status: str) -> str:
    return next(b for b in blocks(name) if f"ContactStatus: {contact_status}" in b)


REGISTERED = "phone-1007-registers-and-stops.txt"
NO_PHONES = "snapshot-no-phones.txt"


@dataclass
class ReplayAsterisk:
    """A local AMI server that answers each action with a reply recorded from the lab's Asterisk
    (the client's ActionID put in) and pushes recorded events when told."""

    replies: dict[str, list[str]]
    silent: set[str] = field(default_factory=set)
    close_after: set[str] = field(default_factory=set)
    received: list[str] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/5.0.4\r\n")
        try:
            while True:
                request = (await reader.readuntil(b"\r\n\r\n")).decode()
                headers = dict(
                    line.split(": ", 1) for line in request.split("\r\n") if ": " in line
                )
                action = headers["Action"].lower()
                self.received.append(action)
                if action in self.silent:
                    continue
                for block in self.replies[action]:
                    block = re.sub(
                        r"(?m)^ActionID: [^\r\n]*", f"ActionID: {headers['ActionID']}", block
                    )
                    writer.write(block.encode() + b"\r\n\r\n")
                if action in self.close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def push(self, *raw: str) -> None:
        for writer in self.writers:
            if not writer.is_closing():
                writer.write(b"".join(r.encode() + b"\r\n\r\n" for r in raw))

    def drop_all(self) -> None:
        for writer in self.writers:
            writer.close()


@dataclass
class Recorder:
    statuses: list[tuple[str, DeviceStatus]] = field(default_factory=list)
    connection: list[bool] = field(default_factory=list)

    def device(self, endpoint: str, status: DeviceStatus) -> None:
        self.statuses.append((endpoint, status))

    def of(self, endpoint: str) -> list[DeviceStatus]:
        return [s for e, s in self.statuses if e == endpoint]


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        # Polls: the predicates read what the client's callbacks recorded.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def recorded_lab_asterisk() -> ReplayAsterisk:
    """The lab Asterisk as recorded: login (then FullyBooted), commands, endpoints, queues, ping."""
    return ReplayAsterisk(
        replies={
            # Asterisk follows an accepted login with FullyBooted, as recorded.
            "login": [
                *recorded_reply(REGISTERED, "login-1"),
                next(b for b in blocks(REGISTERED) if b.startswith("Event: FullyBooted")),
            ],
            "listcommands": recorded_reply("list-commands.txt", "rec-0"),
            "pjsipshowendpoints": recorded_reply(NO_PHONES, "rec-1"),
            "queuesummary": recorded_reply(NO_PHONES, "rec-3"),
            "ping": recorded_reply(REGISTERED, "rec-5"),
        }
    )


@pytest.fixture
def replay() -> ReplayAsterisk:
    return recorded_lab_asterisk()


@pytest.fixture
async def served(replay: ReplayAsterisk) -> AsyncIterator[int]:
    server = await asyncio.start_server(replay.handle, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    yield port
    replay.drop_all()
    server.close()
    await server.wait_closed()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make_client(port: int, recorder: Recorder, secret: str = "lab-ami-secret") -> AmiClient:
    return AmiClient(
        "127.0.0.1",
        port,
        "callgate",
        secret,
        on_device_state=recorder.device,
        on_connection=recorder.connection.append,
        action_timeout=0.3,
        ping_interval=0.1,
        backoff_initial=0.01,
        backoff_max=0.05,
    )


@pytest.fixture
async def running(served: int, recorder: Recorder) -> AsyncIterator[AmiClient]:
    client = make_client(served, recorder)
    task = asyncio.create_task(client.run())
    await until(lambda: client.connected)
    yield client
    await client.close()
    await asyncio.wait_for(task, 5)


async def test_given_a_phone_registers_and_stops_then_its_status_follows_the_recorded_traffic(
    running: AmiClient, replay: ReplayAsterisk, recorder: Recorder
) -> None:
    unregistered = DeviceStatus(S.UNAVAILABLE, registered=False)
    assert recorder.of("PJSIP/1007") == [unregistered]
    assert len({e for e, _ in recorder.statuses}) == 9  # every endpoint, once, after connecting

    # Asterisk now lists 1007 as registered and sends the contact events it sent then.
    replay.replies["pjsipshowendpoints"] = recorded_reply(REGISTERED, "rec-1")
    replay.push(recorded_event(REGISTERED, "NonQualified"), recorded_event(REGISTERED, "Reachable"))
    free = DeviceStatus(S.NOT_INUSE, registered=True)
    await until(lambda: recorder.of("PJSIP/1007")[-1] == free)

    replay.replies["pjsipshowendpoints"] = recorded_reply(NO_PHONES, "rec-1")
    replay.push(recorded_event(REGISTERED, "Removed"))
    await until(lambda: recorder.of("PJSIP/1007")[-1] == unregistered)

    seen = recorder.of("PJSIP/1007")
    assert seen[0] == unregistered
    assert free in seen
    assert DeviceStatus(S.NOT_INUSE, registered=False) in seen  # the contact went first
    # Only changes are delivered between (re)connects: no endpoint repeats a status in a row.
    for endpoint in {e for e, _ in recorder.statuses}:
        history = recorder.of(endpoint)
        assert all(a != b for a, b in itertools.pairwise(history))


async def test_given_an_event_right_after_the_listing_then_it_wins_over_the_listing(
    served: int, replay: ReplayAsterisk, recorder: Recorder
) -> None:
    # Asterisk wrote the listing (1007 registered), then the phone's Removed: the listing is older.
    replay.replies["pjsipshowendpoints"] = [
        *recorded_reply(REGISTERED, "rec-1"),
        recorded_event(REGISTERED, "Removed"),
    ]
    client = make_client(served, recorder)
    task = asyncio.create_task(client.run())
    try:
        await until(lambda: client.connected)
        assert recorder.of("PJSIP/1007")[-1].registered is False
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_given_pings_go_unanswered_then_the_client_reconnects_and_resyncs(
    running: AmiClient, replay: ReplayAsterisk, recorder: Recorder
) -> None:
    replay.silent.add("ping")

    await until(lambda: running.sessions >= 2 and running.connected)

    assert recorder.connection[:3] == [True, False, True]
    # The second session delivered every endpoint again, changed or not.
    assert recorder.of("PJSIP/1007") == [DeviceStatus(S.UNAVAILABLE, registered=False)] * 2


async def test_given_asterisk_drops_the_connection_then_the_client_reconnects(
    running: AmiClient, replay: ReplayAsterisk, recorder: Recorder
) -> None:
    replay.drop_all()

    await until(lambda: running.sessions >= 2 and running.connected)

    assert recorder.connection[:3] == [True, False, True]


async def test_given_a_lost_reply_to_queue_summary_then_the_caller_gets_an_error_in_time(
    running: AmiClient, replay: ReplayAsterisk
) -> None:
    assert await running.queue_summary("fallback-112") == QueueSummary(
        "fallback-112", 0, 0, 0, logged_in=0, available=0
    )
    replay.silent.add("queuesummary")

    with pytest.raises(AmiUnavailable, match="QueueSummary"):
        await asyncio.wait_for(running.queue_summary("fallback-112"), 2)
    assert running.connected


async def test_given_an_unknown_queue_then_queue_summary_names_it(
    running: AmiClient, replay: ReplayAsterisk
) -> None:
    replay.replies["queuesummary"] = recorded_reply("queue-summary-unknown-queue.txt", "rec-1")

    with pytest.raises(AmiError, match="no-such-queue"):
        await running.queue_summary("no-such-queue")


async def test_given_not_connected_then_queue_summary_fails_at_once(recorder: Recorder) -> None:
    client = make_client(1, recorder)

    with pytest.raises(AmiUnavailable, match="not connected"):
        await client.queue_summary("fallback-112")


async def test_given_a_wrong_secret_then_one_error_names_the_user_and_the_client_keeps_trying(
    served: int, replay: ReplayAsterisk, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    replay.replies["login"] = recorded_reply("login-refused.txt", "login-1")
    replay.close_after.add("login")  # Asterisk hangs up on a refused login
    caplog.set_level(logging.DEBUG)
    client = make_client(served, recorder, secret="s3cret-value")
    task = asyncio.create_task(client.run())
    try:
        await until(lambda: replay.received.count("login") >= 3)
        assert not task.done()
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "login refused" in errors[0].getMessage()
    assert getattr(errors[0], "ami_user", None) == "callgate"
    for record in caplog.records:
        assert "s3cret-value" not in f"{record.getMessage()} {record.__dict__}"
    assert recorder.connection == []


async def test_given_a_malformed_event_then_it_is_skipped_and_the_session_keeps_serving(
    running: AmiClient,
    replay: ReplayAsterisk,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    replay.push(
        "Event: ContactStatus\r\nEndpointName: 1007\r\nContactStatus: Created",  # no AOR, URI
        "no colon here at all",
        "Event: DeviceStateChange\r\nState: ???",  # no Device
        "Event: DeviceStateChange\r\nDevice: PJSIP/1007\r\nState: Snoozing",
    )
    replay.replies["pjsipshowendpoints"] = recorded_reply(REGISTERED, "rec-1")
    replay.push(recorded_event(REGISTERED, "Reachable"))

    await until(lambda: recorder.of("PJSIP/1007")[-1] == DeviceStatus(S.NOT_INUSE, True))
    assert running.sessions == 1
    named = {(getattr(r, "ami_message", ""), getattr(r, "field", "")) for r in caplog.records}
    assert {
        ("ContactStatus", "AOR"),
        ("ContactStatus", "URI"),
        ("DeviceStateChange", "Device"),
        ("DeviceStateChange", "State"),
    } <= named


async def test_given_close_during_a_long_backoff_then_run_returns_at_once(
    recorder: Recorder,
) -> None:
    client = AmiClient(
        "127.0.0.1", 1, "callgate", "x", on_device_state=recorder.device, backoff_initial=30
    )
    task = asyncio.create_task(client.run())
    await asyncio.sleep(0.2)  # port 1 refuses: the client is now in its backoff

    await client.close()

    await asyncio.wait_for(task, 1)


async def test_given_asterisk_sends_device_state_changes_then_they_drive_the_status(
    served: int, replay: ReplayAsterisk, recorder: Recorder
) -> None:
    # An Asterisk with res_manager_devicestate loaded: the recorded ListCommands reply with the
    # line such an Asterisk adds (the lab's does not load it, so this one line is written here).
    listing = recorded_reply("list-commands.txt", "rec-0")
    replay.replies["listcommands"] = [
        listing[0] + "\r\nDeviceStateList: List the current known device states.  (Priv: call)"
    ]
    replay.replies["pjsipshowendpoints"] = recorded_reply(REGISTERED, "rec-1")
    client = make_client(served, recorder)
    task = asyncio.create_task(client.run())
    try:
        await until(lambda: client.connected)
        listings = replay.received.count("pjsipshowendpoints")
        replay.push(
            "Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/1007\r\n"
            "State: RINGING",
            # Channel events re-read nothing when device state events come.
            *[b for b in blocks("call-to-1008-ring-answer-hangup.txt") if "Event: Newstate" in b],
        )
        ringing = DeviceStatus(S.RINGING, registered=True)
        await until(lambda: recorder.of("PJSIP/1007")[-1] == ringing)
        await asyncio.sleep(0.3)
        assert replay.received.count("pjsipshowendpoints") == listings
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_given_a_device_state_change_unlisted_by_list_commands_then_events_drive_the_status(
    served: int, replay: ReplayAsterisk, recorder: Recorder
) -> None:
    # callgate's AMI user writes only "system", so ListCommands does not list DeviceStateList
    # though Asterisk has res_manager_devicestate: the first DeviceStateChange says so.
    replay.replies["pjsipshowendpoints"] = recorded_reply(REGISTERED, "rec-1")
    client = make_client(served, recorder)
    task = asyncio.create_task(client.run())
    try:
        await until(lambda: client.connected)
        replay.push(
            "Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/1007\r\n"
            "State: RINGING"
        )
        ringing = DeviceStatus(S.RINGING, registered=True)
        await until(lambda: recorder.of("PJSIP/1007")[-1] == ringing)
        await asyncio.sleep(0.3)  # a re-read the event itself might have asked for, done
        listings = replay.received.count("pjsipshowendpoints")
        replay.push(
            *[b for b in blocks("call-to-1008-ring-answer-hangup.txt") if "Event: Newstate" in b]
        )
        await asyncio.sleep(0.3)
        assert replay.received.count("pjsipshowendpoints") == listings
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_given_no_fully_booted_after_login_then_the_client_warns_and_syncs_anyway(
    served: int, replay: ReplayAsterisk, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    # An AMI user without read=system never gets FullyBooted.
    replay.replies["login"] = recorded_reply(REGISTERED, "login-1")
    client = make_client(served, recorder)
    task = asyncio.create_task(client.run())
    try:
        await until(lambda: client.connected)
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)

    assert recorder.of("PJSIP/1007") == [DeviceStatus(S.UNAVAILABLE, registered=False)]
    assert any("FullyBooted" in r.getMessage() for r in caplog.records)


def test_the_reconnect_wait_is_bounded_by_the_setting(recorder: Recorder) -> None:
    # Asterisk 16's AMI came back 38 s before callgate followed the phones again (a 30 s cap
    # with jitter): the cap is [ami] reconnect_max, 10 s unless set.
    assert (
        AmiClient.from_settings(AmiSettings(), on_device_state=recorder.device)._backoff_max == 10
    )
    client = AmiClient.from_settings(AmiSettings(reconnect_max=3), on_device_state=recorder.device)
    assert client._backoff_max == 3
