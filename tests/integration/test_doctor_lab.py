"""``callgate doctor`` (the service venv's, as installed) against the real lab: Asterisk, its
files in the lab's root, Mosquitto, a journal of the test's own. The lab runs on its published
secrets and an anonymous plain-TCP broker, so exactly one check fails: "lab secret", naming
each key. The clock's answer depends on the host (no systemd in the lab's container: unknown,
a warning), so it is compared with what the same check says in this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import subprocess

import labpeers  # scripts/, put on sys.path by conftest

from callgate.storage.journal import Journal
from callgate.tools.doctor.host import check_clock


def test_given_the_lab_then_doctor_passes_all_but_the_lab_secrets() -> None:
    state = labpeers.new_state_dir("doctor")
    url = f"sqlite+aiosqlite:///{state / 'journal.db'}"

    async def migrate() -> None:  # what the daemon does at its first start
        journal = await Journal.open(url)
        await journal.close()

    asyncio.run(migrate())
    user = pwd.getpwnam("callgate")
    for path in state.iterdir():
        os.chown(path, user.pw_uid, user.pw_gid)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    env |= {
        "CALLGATE_STORAGE__URL": url,
        "CALLGATE_RECORDING__ASTERISK_DIR": str(labpeers.RECORDINGS),
    }
    done = subprocess.run(
        [
            str(labpeers.SERVICE_CALLGATE),
            "doctor",
            "--json",
            "--asterisk-root",
            str(labpeers.LAB_ROOT),
            "--days",
            "1",
            "--timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=state,
    )
    body = json.loads(done.stdout)
    results = {c["name"]: c["status"] for c in body["checks"]}
    details = {c["name"]: c["detail"] for c in body["checks"]}
    assert results == {
        "config": "pass",
        "lab secret": "fail",
        "ARI": "pass",
        "AMI": "pass",
        "modules": "pass",
        "dialplan": "pass",
        "FastAGI secret": "pass",
        "prompts (id)": "pass",
        "recordings folder": "pass",
        "Asterisk group": "pass",
        "journal": "pass",
        "broker": "pass",
        "clock": check_clock().status.value,
        "disk": "pass",
    }, json.dumps(body, indent=2)
    assert details["lab secret"] == (
        "4 published or unsafe: ari.password, ami.password, agi.secret, mqtt.username"
    )
    assert done.returncode == 1
    assert body["ok"] is False
    # The secrets themselves are never printed.
    for secret in ("lab-ari-secret", "lab-ami-secret", labpeers.LAB_AGI_SECRET):
        assert secret not in done.stdout + done.stderr
