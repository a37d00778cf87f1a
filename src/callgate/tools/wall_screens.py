"""``callgate users display add|list|revoke``: the wall screens' device tokens.

They live in the journal database, not the users file, and are made by the running daemon
through its admin API (as an admin: ``[auth] local_users`` on the admin socket, or an admin's
token), which stores only the token's digest, logs who made or revoked it, and ends a revoked
screen's sessions at once. ``add`` prints the screen's address, token included, this once:
open it on the wall PC (``/wallboard#display=TOKEN``; behind the TLS proxy, the proxy's host
with the same path and fragment).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from callgate.tools import admin_client

OK, FAILED, USAGE = 0, 1, 2


def add_parser(sub: Any) -> None:
    """``display`` and its actions under ``callgate users``."""
    display = sub.add_parser(
        "display", help="wall screens: make (prints its address once), list, revoke a token"
    )
    actions = display.add_subparsers(dest="display_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="a token for a wall screen; prints its address once")
    add.add_argument("name", help="the screen's name (the audit trail's display:NAME)")
    actions.add_parser("list", help="the screens, who made each, open sessions, last seen")
    revoke = actions.add_parser("revoke", help="revoke a screen's token; its sessions end now")
    revoke.add_argument("name")


def main(args: argparse.Namespace) -> int:
    """Run ``callgate users display ...`` (``args`` of :func:`add_parser`)."""
    client = argparse.Namespace(
        config=args.config, url=None, token_file=args.token_file, timeout=args.timeout
    )
    try:
        if args.display_action == "add":
            status, body = admin_client.call(client, "POST", "/api/displays", {"name": args.name})
        elif args.display_action == "revoke":
            status, body = admin_client.call(
                client, "DELETE", f"/api/displays/{quote(args.name, safe='')}"
            )
        else:
            status, body = admin_client.call(client, "GET", "/api/displays")
    except admin_client.AdminExit as exc:
        print(f"callgate users display: {exc}", file=sys.stderr)
        return exc.code
    if status != 200:
        print(f"callgate users display: {body.get('error', body)} (HTTP {status})", file=sys.stderr)
        return FAILED
    if args.display_action == "add":
        print(f"{admin_client.daemon_url(client)}/{body['path']}")
        print(
            f"callgate users display: token of {body['name']} printed once, above; open it on "
            "the wall PC (behind the TLS proxy: the proxy's address, same path and #display=)",
            file=sys.stderr,
        )
    elif args.display_action == "revoke":
        print(f"callgate users display: revoked {body['name']}; {body['sessions']} sessions ended")
    else:
        _table(body.get("displays", []))
    return OK


def _table(displays: list[dict[str, Any]]) -> None:
    rows = [["NAME", "CREATED", "BY", "SESSIONS", "LAST SEEN"]]
    rows += [
        [d["name"], d["created"][:19], d["created_by"], str(d["sessions"]),
         (d["last_seen"] or "-")[:19]]
        for d in displays
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
