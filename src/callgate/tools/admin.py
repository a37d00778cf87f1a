"""``callgate status|agents|calls|block|unblock|blocks|check-config|log-level|reload``: the
on-call admin's commands.

They talk to the running daemon and print plain tables by default, JSON with ``--json``. Where
they reach it, and as whom, is :data:`CONNECTING` (also in each command's ``--help``): ``--url``
or a token (``callgate auth token``) goes over the loopback TCP port as today; without either,
the admin socket (``[ops] socket_path``), where the daemon knows the caller's Unix user from the
kernel and ``[auth] local_users`` names their callgate user: no token to keep. The daemon records
that user as ``by`` in the audit trail. Exit codes:

- 0: done (``status``: the daemon is ready and taking calls);
- 1: the daemon is not reachable, or (``status``) it is up but not ready;
- 2: usage or configuration error (``reload``: the daemon refused the file and kept running on
  the one it had), or the daemon refused the credential (401) or the role (403);
- 3: the daemon refused the command (unknown call-taker or call, pause while logged out,
  a block while blocking is off, ...).

Only the standard library is imported here, so the commands start fast and work even when the
daemon's own dependencies are broken.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from callgate.tools import call_inquiry as inquiry
from callgate.tools.admin_client import (
    CONNECTING,
    DEFAULT_CONFIG,
    DEFAULT_URL,
    OK,
    REFUSED,
    UNREACHABLE,
    USAGE,
    Json,
)
from callgate.tools.admin_client import AdminExit as _Exit
from callgate.tools.admin_client import call as _call

# -- argument parsing -----------------------------------------------------------------------


class _KeepLayout(argparse.HelpFormatter):
    """Wraps a one-line description as usual, keeps the layout of a text written in lines
    (:data:`CONNECTING`, the epilog)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_subcommands(subparsers: Any) -> None:
    """Add the admin commands to ``callgate``'s sub-parsers (``argparse._SubParsersAction``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        help=f"config file to read the admin port and socket from (default: {DEFAULT_CONFIG} if"
        " present)",
    )
    common.add_argument(
        "--url",
        help=f"the daemon's admin URL, over TCP (default: the admin socket, else {DEFAULT_URL};"
        " see below)",
    )
    common.add_argument("--json", action="store_true", help="print JSON, for scripts")
    common.add_argument(
        "--token-file",
        help="file holding your token (default: $CALLGATE_TOKEN_FILE, else $CALLGATE_TOKEN);"
        " a token means TCP, not the admin socket",
    )
    common.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for the daemon (default 5)"
    )
    # The commands that talk to the daemon say how they reach it.
    talks: dict[str, Any] = {
        "parents": [common],
        "epilog": CONNECTING,
        "formatter_class": _KeepLayout,
    }

    status = subparsers.add_parser(
        "status",
        **talks,
        help="connections, waiting calls, longest wait, call-takers (exit 1 if not ready)",
    )
    status.set_defaults(ops_handler=_status)

    agents = subparsers.add_parser(
        "agents",
        **talks,
        help="list call-takers, or log one in/out, pause or unpause them",
        description="Without arguments: list call-takers. With an action: apply it to one.",
    )
    agents.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "login", "logout", "pause", "unpause"],
    )
    agents.add_argument("agent_id", nargs="?", metavar="ID", help="call-taker id, e.g. 1001")
    agents.add_argument("--reason", help="pause reason (default: the config's default)")
    agents.set_defaults(ops_handler=_agents)

    calls = subparsers.add_parser(
        "calls",
        **talks,
        help="calls in the ACD now and recent ones, or set a call's disposition",
        description="Without arguments: calls in the ACD now and recent ones from the journal. "
        "'calls disposition CALL_ID DISPOSITION': classify a call (genuine, information, prank, "
        "ghost, test, wrong-number), as a call-taker or CAD would. An inquiry (#23): 'calls "
        "search [filters]', 'calls timeline CALL_ID', 'calls export CALL_ID --reason WHY DEST' "
        "(a zip, checked), 'calls hold|unhold CALL_ID --reason WHY', 'calls holds'.",
    )
    calls.add_argument(
        "action", nargs="?", default="list", choices=["list", "disposition", *inquiry.ACTIONS]
    )
    calls.add_argument("call_id", nargs="?", metavar="CALL_ID")
    calls.add_argument("disposition", nargs="?", metavar="DISPOSITION|DEST")
    inquiry.add_call_options(calls)
    calls.add_argument(
        "--recent", type=int, default=10, metavar="N", help="recent calls to show (default 10)"
    )
    calls.set_defaults(ops_handler=_calls)
    inquiry.add_subcommands(subparsers, talks)

    block = subparsers.add_parser(
        "block",
        **talks,
        help="block a caller for some hours (only with [screening.blocking] enabled)",
        description="Block a caller: their calls hear an announcement and are hung up, unless "
        "the safety valve puts them through. Stored with who, when and why.",
    )
    block.add_argument("number", help="caller number in any spelling, or imei:<identity>")
    block.add_argument("--hours", type=float, required=True, help="how long (at most 720)")
    block.add_argument("--reason", required=True, help="why, for the audit trail")
    block.set_defaults(ops_handler=_block)

    unblock = subparsers.add_parser(
        "unblock",
        **talks,
        help="lift every block in force on a caller",
    )
    unblock.add_argument("number", help="caller number in any spelling, or imei:<identity>")
    unblock.add_argument("--reason", required=True, help="why, for the audit trail")
    unblock.set_defaults(ops_handler=_unblock)

    blocks = subparsers.add_parser(
        "blocks", **talks, help="blocks in force now, or (--all) the whole audit trail"
    )
    blocks.add_argument("--all", action="store_true", help="every block ever placed")
    blocks.set_defaults(ops_handler=_blocks)

    check = subparsers.add_parser(
        "check-config",
        parents=[common],
        help="validate a config file without starting anything (exit 0 valid, 2 invalid)",
    )
    check.set_defaults(ops_handler=_check_config)

    level = subparsers.add_parser(
        "log-level", **talks, help="change the running daemon's log level"
    )
    level.add_argument("level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    level.set_defaults(ops_handler=_log_level)

    reload = subparsers.add_parser(
        "reload",
        **talks,
        help="make the running daemon read its config file again, with calls going on",
        description="The daemon reads the config file it started with again (as SIGHUP and "
        "systemctl reload do) and applies what changes live; a bad file is refused, naming "
        "the key, and the running configuration is kept (exit 2). Needs the admin role.",
    )
    reload.set_defaults(ops_handler=_reload)


def run(args: argparse.Namespace) -> int:
    """Run the admin command ``args`` was parsed for; return the exit code."""
    handler: Callable[[argparse.Namespace], int] = args.ops_handler
    try:
        return handler(args)
    except _Exit as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return exc.code


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m callgate.tools.admin``), also used by the tests."""
    parser = argparse.ArgumentParser(prog="callgate")
    add_subcommands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return run(parser.parse_args(argv))


def _print_json(body: object) -> None:
    print(json.dumps(body, indent=2, sort_keys=True))


def _fail_on_error(status: int, body: Json) -> None:
    # 401 never comes here: _call ends there, saying what to do for the way it came.
    if status >= 500:
        raise _Exit(UNREACHABLE, f"daemon error {status}: {body.get('error', body)}")
    if status >= 400 and status not in (404, 409):
        raise _Exit(USAGE, str(body.get("error", f"HTTP {status}")))


# -- commands ---------------------------------------------------------------------------------


def _show(args: argparse.Namespace, path: str, render: Callable[[Json], str]) -> Json:
    """GET ``path`` from the daemon and print it: as JSON with ``--json``, else rendered."""
    status, body = _call(args, "GET", path)
    _fail_on_error(status, body)
    if args.json:
        _print_json(body)
    else:
        print(render(body))
    return body


def _status(args: argparse.Namespace) -> int:
    body = _show(args, "/api/status", render_status)
    return OK if body.get("ready") else UNREACHABLE


def render_status(body: Json) -> str:
    components: dict[str, Json] = body.get("components", {})
    degraded = body.get("degraded") or []
    if body.get("role") == "standby":
        # A clustered standby's read-only port: it takes no call while another leads.
        leader = body.get("leader") or "another callgate"
        headline = f"STANDBY: {leader} leads; this one takes over if it stops"
    elif body.get("ready") and degraded:
        # Calls are served; records wait in memory until the component is back.
        headline = f"DEGRADED ({', '.join(degraded)} down), taking 112 calls"
    elif body.get("ready"):
        headline = "READY, taking 112 calls"
    elif body.get("stopping"):
        headline = "STOPPING: new calls go to the dialplan's fallback queue"
    else:
        down = [n for n, c in components.items() if c.get("required") and not c.get("connected")]
        # Only a lost ARI sends calls to the fallback queue; AMI or database down degrade.
        effect = "calls go to the fallback queue" if "ari" in down else "calls still taken"
        headline = f"NOT READY ({', '.join(down)} down): {effect}"
    # Clustered: whether this one leads its centre (a single callgate says nothing).
    role = f" [{body['role']}]" if body.get("role") in ("leader", "standby") else ""
    lines = [
        f"callgate {body.get('version', '?')}{role}: {headline}"
        f"  (up {_duration(body.get('uptime_s'))})",
        "",
        "connections:",
    ]
    for name, c in components.items():
        required = c.get("required") or c.get("degrading")
        state = "up" if c.get("connected") else "DOWN" if required else "down"
        since = f"since {_clock(c['since'])}" if c.get("since") else "never connected"
        note = "" if required else "  (not required)"
        detail = f"  {c['detail']}" if c.get("detail") else ""
        lines.append(f"  {name:<9} {state:<5} {since}{note}{detail}")
    calls: dict[str, int] = body.get("calls", {})
    waiting = body.get("waiting", 0)
    longest = body.get("longest_wait_s")
    wait_text = f"{waiting} waiting" + (f", longest {_duration(longest)}" if waiting else "")
    others = ", ".join(f"{n} {s.lower()}" for s, n in calls.items() if n and s != "QUEUED")
    lines += [
        "",
        f"calls:        {wait_text}" + (f"; {others}" if others else ""),
        "call-takers:  " + (_calltaker_counts(body.get("calltakers", {})) or "none configured"),
    ]
    if body.get("roster"):  # the daemon's roster as it stands (no [roster]: absent)
        lines.append(f"roster:       {body['roster']}")
    return "\n".join(lines)


#: Most useful first at 3am: who can take a call, then who cannot.
_AGENT_ORDER = ("AVAILABLE", "RINGING", "ON_CALL", "WRAP_UP", "PAUSED", "LOGGED_OUT")


def _calltaker_counts(counts: dict[str, int]) -> str:
    order = [*_AGENT_ORDER, *(s for s in counts if s not in _AGENT_ORDER)]
    return ", ".join(f"{counts[s]} {s.lower().replace('_', ' ')}" for s in order if counts.get(s))


_RESULTS = {
    "login": "logged in",
    "logout": "logged out (a call in progress finishes first)",
    "pause": "paused (a call in progress finishes first)",
    "unpause": "available again",
}
_ALREADY = {
    "login": "was already logged in",
    "logout": "was already logged out",
    "pause": "was already paused",
    "unpause": "was not paused",
}


def _agents(args: argparse.Namespace) -> int:
    if args.action == "list":
        if args.agent_id is not None or args.reason is not None:
            raise _Exit(USAGE, "'agents list' takes no ID or --reason")
        _show(args, "/api/agents", lambda body: render_agents(body.get("agents", [])))
        return OK
    if not args.agent_id:
        raise _Exit(USAGE, f"'agents {args.action}' needs a call-taker ID, e.g. 1001")
    if args.reason is not None and args.action != "pause":
        raise _Exit(USAGE, "--reason is only for pause")
    payload = {"reason": args.reason} if args.reason else {}
    status, body = _call(args, "POST", f"/api/agents/{args.agent_id}/{args.action}", payload)
    _fail_on_error(status, body)
    result = body.get("result")
    code = OK if result in ("OK", "ALREADY") else REFUSED
    if args.json:
        _print_json(body)
        return code
    who = f"call-taker {args.agent_id}"
    if result == "OK":
        print(f"{who}: {_RESULTS[args.action]}")
    elif result == "ALREADY":
        print(f"{who}: nothing to do, {_ALREADY[args.action]}")
    elif result == "UNKNOWN":
        print(f"callgate: no call-taker {args.agent_id} in the config", file=sys.stderr)
    else:
        print(
            f"callgate: refused: {who} cannot be {args.action}d now"
            " (logged out call-takers can only log in)",
            file=sys.stderr,
        )
    return code


def render_agents(agents: list[Json]) -> str:
    rows = []
    for a in agents:
        notes = []
        if a.get("pause_reason"):
            notes.append(f"reason: {a['pause_reason']}")
        if a.get("pending_pause"):
            notes.append(f"pauses after this call ({a['pending_pause']})")
        if a.get("pending_logout"):
            notes.append("logs out after this call")
        if a.get("missed_in_a_row"):
            notes.append(f"missed {a['missed_in_a_row']} in a row")
        if a.get("device") == "UNAVAILABLE":
            notes.append("PHONE NOT REGISTERED")
        rows.append(
            [
                a.get("agent_id", "?"),
                a.get("state", "?"),
                a.get("device") or "-",
                a.get("call_id") or "-",
                str(a.get("calls_answered", 0)),
                "; ".join(notes),
            ]
        )
    if not rows:
        return "no call-takers configured"
    return _table(["ID", "STATE", "PHONE", "CALL", "ANSWERED", "NOTE"], rows)


def _calls(args: argparse.Namespace) -> int:
    if args.action in inquiry.ACTIONS:
        return inquiry.run(args)
    if args.action == "disposition":
        return _disposition(args)
    if args.call_id is not None:
        raise _Exit(USAGE, "'calls' lists calls; to classify one: calls disposition ID WHAT")
    if not 0 <= args.recent <= 1000:
        raise _Exit(USAGE, "--recent must be between 0 and 1000")
    _show(args, f"/api/calls?recent={args.recent}", render_calls)
    return OK


def render_calls(body: Json) -> str:
    live: list[Json] = body.get("live", [])
    lines = [f"live calls in the ACD: {len(live)}"]
    if live:
        rows = [
            [
                c.get("call_id", "?"),
                c.get("state", "?"),
                str(c.get("priority", "")),
                _duration(c.get("age_s")),
                c.get("agent_id") or ", ".join(c.get("ringing", [])) or "-",
                c.get("caller") or "(withheld)",
            ]
            for c in live
        ]
        lines.append(_table(["CALL", "STATE", "PRIO", "AGE", "CALL-TAKER", "CALLER"], rows))
    if "recent" in body:
        recent: list[Json] = body["recent"]
        lines += ["", f"recent calls (journal, newest first): {len(recent)}"]
        if recent:
            rows = [
                [
                    _iso_clock(c.get("started_at")),
                    c.get("call_id", "?"),
                    c.get("outcome") or f"open ({c.get('state') or '?'})",
                    "-" if c.get("answer_time_s") is None else f"{c['answer_time_s']:.1f}s",
                    c.get("answered_by") or c.get("destination") or "-",
                    c.get("caller") or "(withheld)",
                ]
                for c in recent
            ]
            headers = ["STARTED", "CALL", "OUTCOME", "ANSWERED IN", "BY", "CALLER"]
            lines.append(_table(headers, rows))
    return "\n".join(lines)


def _disposition(args: argparse.Namespace) -> int:
    if not args.call_id or not args.disposition:
        raise _Exit(USAGE, "usage: callgate calls disposition CALL_ID DISPOSITION")
    body = {"disposition": args.disposition}
    status, answer = _call(args, "POST", f"/api/calls/{args.call_id}/disposition", body)
    _fail_on_error(status, answer)
    if args.json:
        _print_json(answer)
    elif answer.get("result") == "ok":
        print(f"call {args.call_id}: {args.disposition}")
        if answer.get("block"):
            block = answer["block"]
            print(f"caller {block['key']} now BLOCKED until {block['until']}: {block['reason']}")
    else:
        print(f"callgate: {answer.get('error', answer.get('result'))}", file=sys.stderr)
    return OK if answer.get("result") == "ok" else REFUSED


def _block(args: argparse.Namespace) -> int:
    body = {"number": args.number, "hours": args.hours, "reason": args.reason}
    status, answer = _call(args, "POST", "/api/blocks", body)
    _fail_on_error(status, answer)
    if args.json:
        _print_json(answer)
    elif answer.get("result") == "ok":
        [block] = answer["blocks"]
        print(f"{block['key']} blocked until {_iso_clock(block['until'])} (by {block['by']})")
    else:
        print(f"callgate: {answer.get('error') or answer.get('result')}", file=sys.stderr)
    return OK if answer.get("result") == "ok" else REFUSED


def _unblock(args: argparse.Namespace) -> int:
    body = {"number": args.number, "reason": args.reason}
    status, answer = _call(args, "POST", "/api/unblock", body)
    _fail_on_error(status, answer)
    if args.json:
        _print_json(answer)
    elif answer.get("result") == "ok":
        print(f"{answer.get('key')}: {len(answer.get('blocks', []))} block(s) lifted")
    else:
        print(f"{answer.get('key') or args.number}: nothing to do, no block in force")
    return OK if answer.get("result") in ("ok", "not-blocked") else REFUSED


def _blocks(args: argparse.Namespace) -> int:
    path = "/api/blocks?all=1" if args.all else "/api/blocks"
    _show(args, path, render_blocks)
    return OK


def render_blocks(body: Json) -> str:
    blocks: list[Json] = body.get("blocks", [])
    state = "" if body.get("enabled", True) else "  (blocking is OFF: no block applies)"
    if body.get("all"):
        title = f"blocks, newest first (the audit trail): {len(blocks)}{state}"
    else:
        title = f"blocks in force: {len(blocks)}{state}"
    if not blocks:
        return title
    rows = []
    for b in blocks:
        lifted = (
            f"lifted {_iso_clock(b['lifted_at'])} by {b.get('lifted_by')}: {b.get('lift_reason')}"
            if b.get("lifted_at")
            else ""
        )
        rows.append(
            [
                b.get("key", "?"),
                _iso_clock(b.get("at")),
                _iso_clock(b.get("until")),
                b.get("by", "?"),
                b.get("reason", ""),
                lifted,
            ]
        )
    return title + "\n" + _table(["CALLER", "FROM", "UNTIL", "BY", "WHY", "LIFTED"], rows)


def _log_level(args: argparse.Namespace) -> int:
    status, body = _call(args, "POST", "/api/log-level", {"level": args.level})
    _fail_on_error(status, body)
    if args.json:
        _print_json(body)
    else:
        print(f"log level is now {body.get('level', args.level)} (until the daemon restarts)")
    return OK


def _reload(args: argparse.Namespace) -> int:
    status, body = _call(args, "POST", "/api/reload", {})
    if status == 400 and body.get("result") == "refused":
        if args.json:
            _print_json(body)
            return USAGE
        raise _Exit(USAGE, f"reload refused, the running configuration is kept: {body['error']}")
    _fail_on_error(status, body)
    if args.json:
        _print_json(body)
        return OK
    applied = ", ".join(f"[{s}]" for s in body.get("applied", [])) or "nothing changed"
    print(f"configuration reloaded: {applied}")
    restart = body.get("restart_needed") or []
    if restart:
        print(f"changed, needs a restart: {', '.join(restart)}")
    return OK


def _check_config(args: argparse.Namespace) -> int:
    # Imported here: the other commands must not need the daemon's dependencies.
    from callgate.config import ConfigError, acd_config, load_settings, refuse_outside_lab
    from callgate.core.errors import AcdConfigError
    from callgate.storage.database import redact_url

    path = args.config or (str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None)
    where = path or "built-in defaults and CALLGATE_* environment"
    try:
        settings = load_settings(path)
        refuse_outside_lab(settings)
        acd_config(settings)
    except (ConfigError, AcdConfigError) as exc:
        if args.json:
            _print_json({"valid": False, "config": where, "error": str(exc)})
        else:
            print(f"callgate: {where}: {exc}", file=sys.stderr)
        return USAGE
    summary = {
        "valid": True,
        "config": where,
        "ari_url": settings.ari.url,
        "ari_app": settings.ari.app,
        "calltakers": len(settings.calltakers.endpoints),
        "strategy": settings.acd.strategy,
        "storage": redact_url(settings.storage.url.get_secret_value()),
    }
    if args.json:
        _print_json(summary)
    else:
        print(f"config OK: {where}")
        for key, value in summary.items():
            if key not in ("valid", "config"):
                print(f"  {key:<11} {value}")
    return OK


# -- formatting -------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    out = []
    for row in [headers, *rows]:
        out.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}:{secs:02d}"


def _clock(epoch: float) -> str:
    at = datetime.fromtimestamp(epoch).astimezone()
    same_day = at.date() == datetime.now().astimezone().date()
    return at.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")


def _iso_clock(iso: object) -> str:
    if not isinstance(iso, str):
        return "-"
    return _clock(datetime.fromisoformat(iso).timestamp())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
