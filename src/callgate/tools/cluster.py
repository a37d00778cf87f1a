"""``callgate cluster reset-fence``: the way out after the centre's etcd was rebuilt (#21).

A rebuilt etcd counts its revisions from 1 again, so every leader it elects has an epoch below
the journal's fence and is fenced at its first write (the daemon's ALARM: "the journal's epoch
N is newer than etcd's whole history"). Lowering the fence is never automatic: a stale leader
must never write. An admin runs this on a callgate host, with the daemon's config (its journal
URL and ``[cluster]``): it refuses while etcd shows a leader of the centre (naming it), else
lowers the fence to etcd's current revision (every leader elected from now on has a higher
epoch) in one transaction, with an audit row and a log line naming the OS user. Printed in
Bahasa Indonesia first, then English.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from callgate.cluster.election import leader_key
from callgate.cluster.etcd import EtcdClient, EtcdUnavailable
from callgate.config import ConfigError, Settings, load_settings
from callgate.ports import JournalError
from callgate.storage.fence_reset import FenceReset, fence_epoch, reset_fence
from callgate.storage.journal import Journal

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path("/etc/callgate/callgate.toml")
OK, FAILED, USAGE, REFUSED = 0, 1, 2, 3


class Refused(Exception):
    """Not done, and why (Indonesian, then English)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callgate cluster", description="A clustered callgate's centre-wide steps."
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    reset = sub.add_parser(
        "reset-fence",
        help="after etcd was rebuilt: lower the journal's fence to etcd's revision (audited)",
    )
    reset.add_argument(
        "-c", "--config", type=Path, default=DEFAULT_CONFIG, help=f"default {DEFAULT_CONFIG}"
    )
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def os_user() -> str:
    """The OS user running this (the audit's name): the login name and the effective uid."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a container's bare uid)
        name = "?"
    return f"{name} (uid {os.geteuid()})"


def _say(indonesian: str, english: str, *, err: bool = False) -> None:
    print(f"{indonesian}\n  ({english})", file=sys.stderr if err else sys.stdout)


def main(argv: Sequence[str] | None = None, *, confirm: Callable[[str], str] = input) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args.config)
        return asyncio.run(_reset(settings, yes=args.yes, confirm=confirm))
    except Refused as exc:
        print(f"callgate cluster reset-fence: {exc}", file=sys.stderr)
        return REFUSED
    except (JournalError, EtcdUnavailable) as exc:
        _say(
            f"callgate cluster reset-fence: gagal, tidak ada yang diubah: {exc}",
            f"failed, nothing changed: {exc}",
            err=True,
        )
        return FAILED
    except ConfigError as exc:
        print(f"callgate cluster reset-fence: {args.config}: {exc}", file=sys.stderr)
        return USAGE


def _settings(config: Path) -> Settings:
    if not config.is_file():
        raise ConfigError(f"config file {config} does not exist (give it with --config)")
    settings = load_settings(config)
    if not settings.cluster.enabled:
        raise ConfigError(
            "[cluster] etcd is not set: a single callgate never checks the fence; give the"
            " config of a clustered callgate"
        )
    return settings


async def _reset(settings: Settings, *, yes: bool, confirm: Callable[[str], str]) -> int:
    cluster = settings.cluster
    etcd = EtcdClient(cluster.etcd, timeout=cluster.request_timeout)
    try:
        key = leader_key(cluster.centre)
        holder = await etcd.get(key)
        if holder is not None:
            raise Refused(
                f"ditolak: {holder.value} memimpin pusat {cluster.centre} (epoch"
                f" {holder.create_revision}); hentikan dulu setiap callgate pusat ini\n"
                f"  (refused: {holder.value} leads centre {cluster.centre}, epoch"
                f" {holder.create_revision}; stop every callgate of this centre first)"
            )
        revision = await etcd.current_revision()
    finally:
        await etcd.close()
    journal = await Journal.open(settings.storage.url)
    try:
        held = await fence_epoch(journal)
        if held <= revision:
            _say(
                f"Tidak ada yang diubah: epoch jurnal {held} tidak lebih baru dari revisi etcd"
                f" {revision}.",
                f"Nothing changed: the journal's epoch {held} is not newer than etcd's"
                f" revision {revision}.",
            )
            return OK
        if not yes and not _confirmed(confirm, held, revision, journal.url):
            _say("Dibatalkan, tidak ada yang diubah.", "Cancelled, nothing changed.")
            return REFUSED
        by = os_user()
        done = await reset_fence(journal, revision, by=by, at=datetime.now(UTC))
    finally:
        await journal.close()
    return _report(done, by, cluster.centre, journal.url)


def _confirmed(confirm: Callable[[str], str], held: int, revision: int, url: str) -> bool:
    _say(
        f"Epoch jurnal {held} ({url}) lebih baru dari seluruh riwayat etcd (revisi {revision}),"
        " dan tidak ada pemimpin di etcd. Hanya lanjutkan jika etcd dibangun ulang dan tidak"
        " ada callgate lain pusat ini yang berjalan.",
        f"The journal's epoch {held} ({url}) is newer than etcd's whole history (revision"
        f" {revision}) and etcd shows no leader. Go on only if etcd was rebuilt and no other"
        " callgate of this centre runs.",
    )
    try:
        answer = confirm(f"Turunkan fence ke {revision}? / Lower the fence to {revision}? [y/N] ")
    except EOFError:  # no terminal: only --yes goes on
        return False
    return answer.strip().lower() in ("y", "ya", "yes")


def _report(done: FenceReset, by: str, centre: str, url: str) -> int:
    if not done.changed:  # a leader claimed meanwhile, above etcd's revision we read
        _say(
            f"Tidak ada yang diubah: epoch jurnal kini {done.before}.",
            f"Nothing changed: the journal's epoch is {done.before} now.",
        )
        return OK
    log.warning(
        "journal fence of centre %s lowered by hand from %d to %d by %s (etcd rebuilt)",
        centre,
        done.before,
        done.after,
        by,
        extra={"by": by, "centre": centre, "from": done.before, "to": done.after},
    )
    _say(
        f"Fence jurnal {url} diturunkan dari {done.before} ke {done.after} oleh {by}"
        " (tercatat di audit jurnal). Pemimpin berikutnya dari etcd ini dapat menulis.",
        f"The journal's fence lowered from {done.before} to {done.after} by {by} (on the"
        " journal's audit trail). The next leader this etcd elects can write.",
    )
    return OK
