"""``callgate doctor``: the pre-flight check a centre runs after install and after every change.

A table of checks, each ``pass``, ``warn``, ``fail`` or ``skip`` (could not run, and why), with
the fix for each failure; exit 0 when nothing failed, 1 when something did, 2 when the config
itself cannot be read. ``--json`` prints the same for scripts. It only reads: it logs in to ARI,
AMI, the broker and the database, and writes, creates or migrates nothing. Run it as root, so
that Asterisk's files, the journal and ``secrets.env`` (read as the daemon's unit reads it) can
be read.

The checks live in :mod:`.asterisk` (ARI, AMI and their accounts, modules, dialplan, FastAGI
secret, prompts) and :mod:`.host` (lab secrets, the recordings folder and group, the journal,
the broker, the clock, the disk).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from callgate.tools.doctor.checks import Check, Host, Status

DEFAULT_CONFIG = Path("/etc/callgate/callgate.toml")
OK, FAILED, USAGE = 0, 1, 2

__all__ = ["Check", "Host", "Status", "main", "render", "run_checks"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callgate doctor",
        description="Check this host for callgate: Asterisk (ARI, AMI, modules, dialplan, "
        "FastAGI secret, prompts), the recordings folder, the journal, the broker, the clock "
        "and the disk; print the fix for each failure. Exit 0 nothing failed, 1 something "
        "failed, 2 the config cannot be read. Reads only; run it as root.",
    )
    parser.add_argument(
        "-c", "--config", help=f"the daemon's config file (default: {DEFAULT_CONFIG} if present)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")
    parser.add_argument(
        "--asterisk-root",
        type=Path,
        default=Path("/"),
        help="the root Asterisk runs in (default /; a chroot or container: its folder), for "
        "its /etc/asterisk and /usr/share/asterisk/sounds",
    )
    parser.add_argument(
        "--user", default="callgate", help="the Unix user callgate runs as (default callgate)"
    )
    parser.add_argument(
        "--days",
        type=int,
        default=30,
        help="days of recordings the free disk must hold at the current rate (default 30)",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for each peer (default 5)"
    )
    return parser


async def run_checks(host: Host) -> list[Check]:
    from callgate.tools.doctor import asterisk
    from callgate.tools.doctor import host as local

    # Each peer has its own bounded wait: run them side by side.
    ast, journal, broker = await asyncio.gather(
        asterisk.asterisk_checks(host), local.check_journal(host), local.check_broker(host)
    )
    return [
        local.check_lab_secrets(host),
        *ast,
        local.check_recordings_folder(host),
        local.check_asterisk_group(host),
        journal,
        broker,
        local.check_clock(),
        local.check_disk(host),
    ]


def render(checks: Sequence[Check]) -> str:
    width = max(len(c.name) for c in checks)
    marks = {Status.PASS: "ok", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "skip"}
    lines = [f"{'CHECK':<{width}}  RESULT  DETAIL"]
    for check in checks:
        lines.append(f"{check.name:<{width}}  {marks[check.status]:<6}  {check.detail}")
        if check.fix and check.status is not Status.PASS:
            lines.append(f"{'':<{width}}  {'':<6}  fix: {check.fix}")
    failures = sum(c.status is Status.FAIL for c in checks)
    lines.append("")
    lines.append(f"{failures} failed" if failures else "nothing failed")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from callgate.config import ConfigError, load_settings

    args = build_parser().parse_args(argv)
    path = args.config or (str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None)
    secrets, secrets_check = read_secrets_env(None if path is None else Path(path))
    try:
        with environment_defaults(secrets):
            settings = load_settings(path)
    except ConfigError as exc:
        check = Check("config", Status.FAIL, str(exc), "callgate check-config names each key")
        _print(args.json, [check] if secrets_check is None else [secrets_check, check])
        return USAGE
    host = Host(
        settings=settings,
        config_path=None if path is None else Path(path),
        asterisk_root=args.asterisk_root,
        service_user=args.user,
        days=args.days,
        timeout=args.timeout,
    )
    checks = [
        *([] if secrets_check is None else [secrets_check]),
        Check("config", Status.PASS, path or "built-in defaults and CALLGATE_* environment"),
        *asyncio.run(run_checks(host)),
    ]
    _print(args.json, checks)
    return FAILED if any(c.status is Status.FAIL for c in checks) else OK


def read_secrets_env(config: Path | None) -> tuple[dict[str, str], Check | None]:
    """The ``CALLGATE_*`` variables of ``secrets.env`` beside the config (the unit's
    EnvironmentFile, where the package keeps the passwords), and a check row saying how many
    were read (never a value); none without a config file or that file."""
    if config is None:
        return {}, None
    from callgate.tools.backup import env_file_values

    file = config.parent / "secrets.env"
    try:
        found = env_file_values(file)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        detail = f"{file}: cannot read it ({reason}): the checks see the config's values only"
        return {}, Check("secrets.env", Status.WARN, detail, "run callgate doctor as root")
    values = {k: v for k, v in found.items() if k.startswith("CALLGATE_")}
    if not values:
        return {}, None
    return values, Check("secrets.env", Status.PASS, f"{file}: {len(values)} variables read")


@contextlib.contextmanager
def environment_defaults(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in the environment while the settings are read, as systemd's EnvironmentFile
    gives them to the daemon; a variable already set wins (as when the admin sets one to try
    it), and the environment is as before afterwards."""
    added = [key for key in values if key not in os.environ]
    try:
        for key in added:
            os.environ[key] = values[key]
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def _print(as_json: bool, checks: Sequence[Check]) -> None:
    if as_json:
        failed = any(c.status is Status.FAIL for c in checks)
        body = {"ok": not failed, "checks": [asdict(c) for c in checks]}
        json.dump(body, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(checks))
