"""The Debian package in the lab (#22, "Done when"): on a clean Debian 12 root, ``apt install``
the package, edit its config for the lab, ``callgate users add``, ``callgate doctor`` green
against the lab's Asterisk, and the installed ``/usr/bin/callgate`` run as systemd would run the
unit (as the callgate user, with secrets.env, in /var/lib/callgate) takes 112 calls that a lab
call-taker answers. A backup taken during a call and one after are restored onto a second fresh
root with the package installed; there ``callgate calls search`` and ``callgate recordings
verify`` show every call and every recording's hash.

The roots are copies of scripts/debroot's cached clean bookworm root (what scripts/test-deb
installs into). They share the host's network (chroot), so the daemon reaches the lab's ARI, AMI
and broker on 127.0.0.1 and Asterisk its FastAGI port, as on a production host. As docs/asterisk.md
lays out a production host, Asterisk's root is at /srv/asterisk (the lab's, bound read-only) and
its recordings folder at /var/spool/asterisk/monitor (the lab's, bound); each root is given
Asterisk's user and group with the lab's numbers before the install, as a host where Asterisk
came first has them.

The package: ``CALLGATE_TEST_DEB`` if set, else scripts/test-deb's last passed build of this very
commit (``previous-bookworm.deb`` in the cache), else this test's own build of this commit
(``package-lab-bookworm/`` in the cache), else one built here by scripts/build-deb (about a
minute with the cache warm; a first build also makes the roots and wheelhouse, a few minutes).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import labpeers
import pytest

from callgate.storage.journal import Journal
from callgate.storage.records import CallRecord

from .conftest import REPO, wait_for

CACHE = Path(os.environ.get("CALLGATE_DEB_CACHE", "/var/cache/callgate/deb"))
RELEASE = "bookworm"
_RUN = f"{int(time.time()) % 10**7:07d}"
FIRST, SECOND = (f"0818{_RUN}{n}" for n in (1, 2))
PASSWORD = "package-lab-admin-password"
PATH = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#: The unit's ExecStart, User=, SupplementaryGroups=, EnvironmentFile=, WorkingDirectory=,
#: RuntimeDirectory= and UMask=, as a shell line run as root in the root (systemd's part).
AS_THE_UNIT = (
    "set -a; . /etc/callgate/secrets.env; set +a; "
    "install -d -o callgate -g callgate -m 0755 /run/callgate; cd /var/lib/callgate; umask 0027; "
    "exec setpriv --reuid=callgate --regid=callgate --init-groups -- "
    "/usr/bin/callgate run --config /etc/callgate/callgate.toml"
)
#: callgate-backup.service's command, as root with secrets.env, in /var/lib/callgate.
BACKUP = (
    "set -a; . /etc/callgate/secrets.env; set +a; install -d -m 0700 /var/backups/callgate; "
    "cd /var/lib/callgate; umask 0077; exec callgate backup /var/backups/callgate "
    "--config /etc/callgate/callgate.toml --agi-secret /etc/callgate/callgate-agi-secret.conf "
    "--recordings copy"
)


def _package() -> Path:
    if given := os.environ.get("CALLGATE_TEST_DEB"):
        return Path(given)
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    tag = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--tags", "--exact-match", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip

    def of_head(version: str) -> bool:
        # Between tags build-deb's version names the commit (+g<hash>); on a tag v<V> it is V.
        if built_from := re.search(r"\+g(?:it\d+\.)?([0-9a-f]+)", version):
            return head.startswith(built_from.group(1))
        return bool(tag) and version.split("~")[0] == tag.removeprefix("v")

    # test-deb's last passed build, or this test's own last build (kept for the next run).
    own = CACHE / f"package-lab-{RELEASE}"
    for deb in [CACHE / f"previous-{RELEASE}.deb", *sorted(own.glob("*.deb"))]:
        if deb.exists() and of_head(_deb_field(deb, "Version")):
            return deb
    shutil.rmtree(own, ignore_errors=True)
    own.mkdir(parents=True)
    done = subprocess.run(
        [str(REPO / "scripts" / "build-deb"), "--release", RELEASE, "--out", str(own)],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip())


def _deb_field(deb: Path, field: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True, check=True
    ).stdout.strip()


class Root:
    """A throwaway copy of the clean Debian root, with the package installed."""

    def __init__(self, name: str, deb: Path) -> None:
        base = subprocess.run(
            [str(REPO / "scripts" / "debroot"), "base", RELEASE],
            capture_output=True, text=True, timeout=1800, check=True,
        ).stdout.strip()  # fmt: skip
        self.path = CACHE / f"lab-{name}-{os.getpid()}"
        self.mounts: list[Path] = []
        self.daemon: subprocess.Popen[bytes] | None = None
        self.remove()
        subprocess.run(["cp", "-a", base, str(self.path)], check=True)
        self.mount(["-t", "proc", "proc"], "proc")
        # Asterisk's user and group with the lab's numbers: its recordings are theirs.
        asterisk = labpeers.RECORDINGS.resolve().stat()
        self.run("groupadd", "--system", "-g", str(asterisk.st_gid), "asterisk")
        self.run("useradd", "--system", "-u", str(asterisk.st_uid), "-g", "asterisk",
                 "-d", "/var/lib/asterisk", "-s", "/usr/sbin/nologin", "asterisk")  # fmt: skip
        shutil.copy(deb, self.path / "tmp" / deb.name)
        install = self.run(
            "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
            "--no-install-recommends", f"/tmp/{deb.name}", timeout=600,
        )  # fmt: skip
        assert "not started" in install.stdout, install.stdout[-2000:]

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")

    def mount(self, how: list[str], at: str) -> None:
        target = self.file(at)
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *how, str(target)], check=True)
        self.mounts.append(target)

    def bind(self, source: Path, at: str, *, read_only: bool = False) -> None:
        self.mount(["--bind", str(source.resolve())], at)
        if read_only:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(self.file(at))], check=True)

    def run(
        self, *argv: str, stdin: str = "", timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` as root in the root, with a clean environment (as an admin's shell)."""
        done = subprocess.run(
            ["chroot", str(self.path), "/usr/bin/env", "-i", PATH, "HOME=/root",
             "LC_ALL=C.UTF-8", *argv],
            input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done

    def start(self, log: Path) -> None:
        with log.open("ab") as out:
            self.daemon = subprocess.Popen(
                ["chroot", str(self.path), "/usr/bin/env", "-i", PATH, "LC_ALL=C.UTF-8",
                 "/bin/sh", "-c", AS_THE_UNIT],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        wait_for(
            lambda: (
                "ready: taking calls" in log.read_text(errors="replace")
                or self.daemon is None
                or self.daemon.poll() is not None
            ),
            60,
            "the packaged daemon to be ready",
        )
        assert self.daemon.poll() is None, log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """systemctl stop: SIGTERM to the daemon (the shell exec'd it), SIGKILL after 20 s."""
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait(timeout=5)
        self.daemon = None

    def remove(self) -> None:
        self.stop()
        for target in reversed(self.mounts):
            if subprocess.run(["umount", str(target)], check=False).returncode != 0:
                subprocess.run(["umount", "-l", str(target)], check=False)
        self.mounts.clear()
        if self.path.exists():
            # --one-file-system: never into a mount (the lab's folders) left behind.
            subprocess.run(["rm", "-rf", "--one-file-system", str(self.path)], check=True)


@pytest.fixture
def roots() -> Iterator[Callable[[str], Root]]:
    deb = _package()
    made: list[Root] = []

    def make(name: str) -> Root:
        made.append(Root(name, deb))
        return made[-1]

    yield make
    for root in reversed(made):
        root.remove()


def _edit(path: Path, replacements: dict[str, str]) -> None:
    """An admin's edits: each line matching a pattern (re, multiline) replaced."""
    text = path.read_text()
    for pattern, line in replacements.items():
        text, n = re.subn(pattern, line, text, count=1, flags=re.MULTILINE)
        assert n == 1, f"{path}: no line {pattern!r}"
    path.write_text(text)


def _configure_for_the_lab(root: Root) -> None:
    # The centre's edits to the template: the lab's broker port and call-taker, call-takers
    # logged in at start, Asterisk's queue_log not read (it holds earlier tests' calls), and
    # lab = true: the lab's Asterisk runs on its published secrets, which only a lab may use.
    _edit(root.file("/etc/callgate/callgate.toml"), {
        r"^lab = false$": "lab = true",
        r"^port = 1883$": "port = 11883",
        r'^site = .*$': 'site = "package-lab"',
        r"^endpoints = .*$": 'endpoints = ["PJSIP/1001"]',
        r"^logged_in_at_start = false$": "logged_in_at_start = true",
        r'^queue_log = "/var/log/asterisk/queue_log"$': 'queue_log = ""',
    })  # fmt: skip
    # secrets.env: the lab Asterisk's ARI, AMI and FastAGI secrets (the package made fresh ones).
    _edit(root.file("/etc/callgate/secrets.env"), {
        r"^CALLGATE_ARI__PASSWORD=.*$": "CALLGATE_ARI__PASSWORD=lab-ari-secret",
        r"^CALLGATE_AMI__PASSWORD=.*$": "CALLGATE_AMI__PASSWORD=lab-ami-secret",
        r"^CALLGATE_AGI__SECRET=.*$": f"CALLGATE_AGI__SECRET={labpeers.LAB_AGI_SECRET}",
    })  # fmt: skip
    _edit(root.file("/etc/callgate/callgate-agi-secret.conf"), {
        r"^CALLGATE_AGI_SECRET=.*$": f"CALLGATE_AGI_SECRET={labpeers.LAB_AGI_SECRET}",
    })  # fmt: skip


def _calls(journal: Path) -> dict[str, CallRecord]:
    async def read() -> dict[str, CallRecord]:
        opened = await Journal.open(f"sqlite+aiosqlite:///{journal}")
        try:
            return {c.call_id: c for c in await opened.recent_calls(limit=1000)}
        finally:
            await opened.close()

    return asyncio.run(read())


def _events(log: Path, event: str) -> set[str]:
    out = set()
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            out.add(str(record.get("call_id")))
    return out


# A build (when no cached one is of this commit) counts against the test's time: a minute warm,
# several on a fresh machine (debootstrap, wheels).
@pytest.mark.timeout(1200)
def test_given_the_package_on_a_clean_debian_12_root_then_it_takes_112_calls_and_a_backup_restores_every_call(  # noqa: E501
    roots: Callable[[str], Root],
    tmp_path: Path,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    # -- install, configure, first user, pre-flight ------------------------------------------
    host = roots("host")
    _configure_for_the_lab(host)
    host.bind(labpeers.LAB_ROOT, "/srv/asterisk", read_only=True)
    host.bind(labpeers.RECORDINGS, "/var/spool/asterisk/monitor")
    host.run("callgate", "check-config", "--config", "/etc/callgate/callgate.toml")
    # The admin's Unix account root is the admin on the admin socket: no token to keep.
    # --no-reload: no daemon runs yet (and none is asked: another one may own the lab's port).
    host.run("callgate", "users", "--no-reload", "add", "admin", "--role", "admin",
             "--password-stdin", "--unix-user", "root", stdin=PASSWORD + "\n")  # fmt: skip
    doctor = host.run(
        "callgate", "doctor", "--json", "--asterisk-root", "/srv/asterisk", "--days", "1",
        "--timeout", "10", timeout=180, check=False,
    )  # fmt: skip
    body = json.loads(doctor.stdout)
    statuses = {c["name"]: c["status"] for c in body["checks"]}
    shown = json.dumps(body, indent=2)
    # Green: nothing fails. Warnings only for lab = true, the journal the daemon's first start
    # makes, and the clock, which no systemd in a chroot can vouch for.
    assert doctor.returncode == 0, shown
    assert body["ok"] is True
    assert {n for n, s in statuses.items() if s != "pass"} <= {"lab secret", "journal", "clock"}
    assert statuses["lab secret"] == "warn", shown
    for secret in ("lab-ari-secret", "lab-ami-secret", labpeers.LAB_AGI_SECRET, PASSWORD):
        assert secret not in doctor.stdout + doctor.stderr

    # -- the installed daemon takes 112 calls ---------------------------------------------------
    log = tmp_path / "callgate.log"
    host.start(log)
    phones("1001")
    first = carrier([FIRST], talk_seconds=3)
    assert first.wait(timeout=60) == 0, first.errors()
    wait_for(lambda: len(_events(log, "recording ready")) == 1, 30, "the first recording")
    second = carrier([SECOND], talk_seconds=30)  # the backup is taken during this call
    wait_for(lambda: len(_events(log, "call connected")) == 2, 40, "the second call to connect")
    during = host.run("sh", "-c", BACKUP, timeout=180)
    assert "1 copied" in during.stderr, during.stderr
    assert second.wait(timeout=120) == 0, second.errors()
    wait_for(lambda: len(_events(log, "recording ready")) == 2, 30, "the second recording")
    after = host.run("sh", "-c", BACKUP, timeout=180)
    assert "1 copied, 1 kept" in after.stderr, after.stderr  # incremental
    listed = host.run("callgate", "calls", "search", "--json")
    host.stop()
    final = _calls(host.file("/var/lib/callgate/journal.db"))
    assert len(final) == 2
    assert all(c in listed.stdout for c in final), listed.stdout
    for call in final.values():
        assert call.caller_sent in (FIRST, SECOND)
        assert [a.agent_id for a in call.agents] == ["1001"], call
        assert call.recording is not None
        assert call.recording.sha256, call

    # -- restored onto a second fresh root with the package installed ---------------------------
    fresh = roots("restored")
    shutil.copytree(host.file("/var/backups/callgate"), fresh.file("/var/backups/callgate"),
                    symlinks=True)  # fmt: skip
    places = ("--config", "/etc/callgate/callgate.toml",
              "--agi-secret", "/etc/callgate/callgate-agi-secret.conf")  # fmt: skip
    backups = sorted(
        m.parent.name for m in fresh.file("/var/backups/callgate").glob("*/manifest.json")
    )
    assert len(backups) == 2, backups
    # The backup taken during the second call: the first call whole, the second as it was then.
    fresh.run("callgate", "restore", f"/var/backups/callgate/{backups[0]}", *places, timeout=180)
    snapshot = _calls(fresh.file("/var/lib/callgate/journal.db"))
    assert set(snapshot) == set(final)
    one, two = sorted(final.values(), key=lambda c: c.started_at)
    assert snapshot[one.call_id] == one  # the whole record, recording hash included
    assert snapshot[two.call_id].recording is None
    assert snapshot[two.call_id].ended_at is None
    assert (
        snapshot[two.call_id].transitions
        == two.transitions[: len(snapshot[two.call_id].transitions)]
    )
    # The one after (the newest) over it: --force, as the journal it replaces holds calls.
    fresh.run("callgate", "restore", "/var/backups/callgate", "--force", *places, timeout=180)
    assert _calls(fresh.file("/var/lib/callgate/journal.db")) == final
    # The restored host's daemon (its recordings its own, not the lab's) answers for them.
    fresh.start(tmp_path / "callgate-restored.log")
    search = fresh.run("callgate", "calls", "search", "--json")
    assert all(call_id in search.stdout for call_id in final), search.stdout
    verify = fresh.run("callgate", "recordings", "verify", "--json", timeout=180)
    checked = json.loads(verify.stdout)
    assert checked["checked"] == 2, checked
    assert (checked["missing"], checked["changed"], checked["unexpected"]) == ([], [], []), checked
    for call in final.values():  # each file's bytes, as the journal's hash says
        assert call.recording is not None
        assert call.recording.path is not None
        restored = fresh.file(call.recording.path).read_bytes()
        assert hashlib.sha256(restored).hexdigest() == call.recording.sha256
    fresh.stop()
