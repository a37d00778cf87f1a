"""Command line: parses arguments, loads config, sets up logging, and hands over.

Each subcommand lives in the module that owns it; this file only wires them up so that
``callgate --help`` lists everything an on-call admin can do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from callgate import __version__
from callgate.tools import admin as ops_cli


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callgate",
        description="Telephony gateway daemon for 112 emergency call centres.",
    )
    parser.add_argument("--version", action="version", version=f"callgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon against Asterisk (ARI)")
    run.add_argument("-c", "--config", help="TOML config file (default: built-in lab defaults)")

    # Listed here for --help; main() routes it to the simulator's own parser, which is built
    # only when it runs so the daemon never imports it.
    sub.add_parser(
        "simulate",
        help="drive the ACD core through a trace or generated arrivals and print KPIs",
    )
    sub.add_parser("events", help="print the live CAD event stream from the MQTT broker")
    sub.add_parser("auth", help="make password and token hashes for [[auth.users]]")
    sub.add_parser("users", help="add, list and remove users and make their tokens")
    sub.add_parser("doctor", help="check this host for callgate, with the fix for each failure")
    sub.add_parser(
        "report",
        help="a day's, shift's or range's figures from the journal: NENA, abandonment, ...",
    )
    sub.add_parser(
        "backup", help="back up the journal, config, secrets and recordings, with a manifest"
    )
    sub.add_parser("restore", help="check a backup's manifest and restore it onto a fresh install")
    sub.add_parser("cluster", help="a clustered centre's steps: reset-fence after etcd was rebuilt")
    # status, agents, calls, check-config, log-level: talk to the running daemon's admin port.
    ops_cli.add_subcommands(sub)
    return parser


def _simulate(argv: list[str]) -> int:
    from callgate.tools import simulator

    parser = argparse.ArgumentParser(
        prog="callgate simulate",
        description="Drive the ACD core through a call trace or generated arrivals; print KPIs.",
    )
    simulator.add_arguments(parser)
    return simulator.run(parser.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse cannot hand options like --agents through to a sub-parser, so route first.
    if argv[:1] == ["simulate"]:
        return _simulate(argv[1:])
    if argv[:1] == ["events"]:
        from callgate.mqtt.subscriber import main as follow_events

        return follow_events(argv[1:])
    if argv[:1] == ["auth"]:
        from callgate.tools.credentials import main as credentials

        return credentials(argv[1:])
    if argv[:1] == ["users"]:
        from callgate.tools.users import main as users

        return users(argv[1:])
    if argv[:1] == ["doctor"]:
        from callgate.tools.doctor import main as doctor

        return doctor(argv[1:])
    if argv[:1] == ["report"]:
        from callgate.tools.report import main as report

        return report(argv[1:])
    if argv[:1] == ["backup"]:
        from callgate.tools.backup import main as backup

        return backup(argv[1:])
    if argv[:1] == ["restore"]:
        from callgate.tools.restore import main as restore

        return restore(argv[1:])
    if argv[:1] == ["cluster"]:
        from callgate.tools.cluster import main as cluster

        return cluster(argv[1:])
    args = _build_parser().parse_args(argv)
    if args.command != "run":
        return ops_cli.run(args)
    from callgate.daemon.app import run_daemon

    return run_daemon(args.config)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
