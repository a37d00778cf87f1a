"""``callgate calls search|timeline|export|hold|unhold|holds`` and ``callgate recordings
verify``: an inquiry into past calls (#23) from the command line, through the daemon's admin
API (:mod:`callgate.http.inquiry`), as the page does; every step is on the daemon's audit trail
under the user the credential names.

``calls export`` writes the bundle (a zip) and checks it: the SHA-256 of each file against the
manifest, and the recording's against the journal's; it prints the hashes. ``recordings
verify`` exits 1 on any missing, changed or unexpected file (the daemon logs each as an ALARM
and counts it in a metric); ``systemd/callgate-verify.timer`` runs it daily.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any

from callgate.tools.admin_client import OK, UNREACHABLE, USAGE, AdminExit, Json, call

#: The ``calls`` actions this module answers.
ACTIONS = ("search", "timeline", "export", "hold", "unhold", "holds")
#: Exit code when verify or an export's check finds a problem.
PROBLEM = 1
_FILTERS = ("caller", "since", "until", "calltaker", "outcome", "tag")


def add_call_options(calls: argparse.ArgumentParser) -> None:
    """The search filters and the reason, on ``callgate calls``."""
    group = calls.add_argument_group("search, export and holds (#23)")
    group.add_argument("--caller", help="number as sent or E.164; a prefix finds all it starts")
    group.add_argument("--since", help="from this date or datetime (the centre's time zone)")
    group.add_argument("--until", help="up to this date (the whole day) or datetime")
    group.add_argument("--calltaker", help="the call-taker who answered, e.g. 1001")
    group.add_argument("--outcome", help="COMPLETED, ABANDONED, OVERFLOWED or FALLBACK")
    group.add_argument("--with-disposition", dest="with_disposition", metavar="DISPOSITION")
    group.add_argument("--tag", help="a screening tag (repeat-nuisance, anonymous) or callback")
    group.add_argument(
        "--fallback", choices=["true", "false"], help="only calls the fallback queue took or not"
    )
    group.add_argument("--page", type=int, default=1)
    group.add_argument("--per-page", dest="per_page", type=int, default=50)
    group.add_argument("--csv", action="store_true", help="search: print CSV")
    # nargs="+": "export CALL_ID --reason WHY DEST" leaves DEST after the option, which argparse
    # would otherwise refuse (its positionals are taken before the first option).
    group.add_argument(
        "--reason", nargs="+", help="export, hold, unhold: why, quoted (on the audit trail)"
    )


def add_subcommands(subparsers: Any, talks: dict[str, Any]) -> None:
    """``callgate recordings verify``."""
    recordings = subparsers.add_parser(
        "recordings",
        **talks,
        help="check every recording against its SHA-256 in the journal (exit 1 on a problem)",
        description="verify: the daemon hashes each recording again and lists missing, changed"
        " and unexpected files; each is an ALARM in its log and a count in"
        " callgate_recording_integrity_problems. Needs a supervisor or admin.",
    )
    recordings.add_argument("action", choices=["verify"])
    recordings.add_argument("--since", help="only recordings finished from this date on")
    # Hashing a month of recordings takes longer than a status answer.
    recordings.set_defaults(ops_handler=verify, timeout=3600.0)


def run(args: argparse.Namespace) -> int:
    """``callgate calls ACTION ...`` for the actions of :data:`ACTIONS`."""
    handler = {
        "search": _search,
        "timeline": _timeline,
        "export": _export,
        "hold": _hold,
        "unhold": _hold,
        "holds": _holds,
    }[args.action]
    return handler(args)


def _checked(status: int, body: Json) -> Json:
    if status >= 500:
        raise AdminExit(UNREACHABLE, f"daemon error {status}: {body.get('error', body)}")
    if status >= 400:
        raise AdminExit(USAGE if status != 409 else PROBLEM, str(body.get("error", status)))
    return body


def _call_id(args: argparse.Namespace) -> str:
    if not args.call_id:
        raise AdminExit(USAGE, f"usage: callgate calls {args.action} CALL_ID")
    return urllib.parse.quote(args.call_id, safe="")


def _reason(args: argparse.Namespace) -> str:
    words: list[str] = args.reason or []
    if args.action == "export" and not args.disposition and len(words) > 1:
        args.disposition = words.pop()  # the DEST after --reason WHY
    reason = " ".join(words).strip()
    if not reason:
        raise AdminExit(USAGE, f"calls {args.action} needs --reason (it goes on the audit trail)")
    return reason


def _search(args: argparse.Namespace) -> int:
    query = {name: getattr(args, name) for name in _FILTERS if getattr(args, name)}
    if args.with_disposition:
        query["disposition"] = args.with_disposition
    if args.fallback:
        query["fallback"] = args.fallback
    query |= {"page": str(args.page), "per_page": str(args.per_page)}
    if args.csv:
        query["format"] = "csv"
    path = "/api/calls/search?" + urllib.parse.urlencode(query)
    body = _checked(*call(args, "GET", path, raw=args.csv))
    if args.csv:
        sys.stdout.write(body["raw"].decode("utf-8"))
    elif args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        print(render_search(body))
    return OK


def render_search(body: Json) -> str:
    rows = [
        [
            c["call_id"], c["started_at"] or "-", c["caller_sent"] or "-", c["calltaker"] or "-",
            c["outcome"] or "-", c["disposition"] or "-", _seconds(c["wait_s"]),
            _seconds(c["talk_s"]), _kept(c),
        ]
        for c in body["calls"]
    ]  # fmt: skip
    headers = ["CALL", "STARTED", "CALLER", "TAKER", "OUTCOME", "DISPOSITION", "WAIT", "TALK", ""]
    page, per_page, total = body["page"], body["per_page"], body["total"]
    shown = f"{(page - 1) * per_page + 1}-{(page - 1) * per_page + len(rows)}" if rows else "0"
    return f"{_table(headers, rows)}\ncalls {shown} of {total} (page {page})"


def _timeline(args: argparse.Namespace) -> int:
    body = _checked(*call(args, "GET", f"/api/calls/{_call_id(args)}/timeline"))
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        print(render_timeline(body))
    return OK


def render_timeline(body: Json) -> str:
    c = body["call"]
    lines = [
        f"call {c['call_id']}: {c['caller_sent']} ({c['caller']}), {c['outcome'] or 'open'}",
        "",
    ]
    for event in body["events"]:
        by = f"  [{event['by']}]" if event["by"] else ""
        lines.append(f"{event['at']}  {event['kind']:<15} {event['text']}{by}")
    recording = body["recording"]
    if recording is not None:
        hold = recording["hold"]
        kept = (
            f"HOLD by {hold['by'] or '-'}: {hold['reason'] or '-'}"
            if hold
            else f"until {recording['expires_at']}"
        )
        sealed = "sealed" if recording["sealed"] else "NOT sealed"
        lines += ["", f"recording: {recording['duration_s']} s, {sealed}, {kept}",
                  f"  sha256 {recording['sha256']}"]  # fmt: skip
    if body["access"]:
        lines += ["", "access:"]
        lines += [f"  {a['at']}  {a['action']:<9} {a['by']}  {a['reason'] or ''}".rstrip()
                  for a in body["access"]]  # fmt: skip
    return "\n".join(lines)


def _export(args: argparse.Namespace) -> int:
    call_id = _call_id(args)
    reason = _reason(args)
    if not args.disposition:
        raise AdminExit(USAGE, "usage: callgate calls export CALL_ID --reason WHY DEST")
    dest = Path(args.disposition)
    if dest.is_dir():
        dest = dest / f"panggilan-{''.join(c if c.isalnum() else '_' for c in args.call_id)}.zip"
    answer = _checked(
        *call(args, "POST", f"/api/calls/{call_id}/export", {"reason": reason}, raw=True)
    )
    bundle: bytes = answer["raw"]
    try:
        dest.write_bytes(bundle)
    except OSError as exc:
        raise AdminExit(USAGE, f"cannot write {dest}: {exc}") from None
    manifest, problems = check_bundle(bundle)
    print(f"wrote {dest} ({len(bundle)} bytes, sha256 {hashlib.sha256(bundle).hexdigest()})")
    for name, digest in manifest.get("files", {}).items():
        print(f"  {digest}  {name}")
    print(f"  journal's recording sha256: {manifest.get('journal_sha256') or '-'}")
    for problem in problems:
        print(f"callgate: {problem}", file=sys.stderr)
    return PROBLEM if problems else OK


def check_bundle(bundle: bytes) -> tuple[Json, list[str]]:
    """The bundle's manifest and what does not match it (each file's SHA-256, the recording's
    against the journal's)."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        manifest: Json = json.loads(archive.read("manifest.json"))
        problems = [
            f"{name}: SHA-256 differs from the manifest"
            for name, digest in manifest["files"].items()
            if hashlib.sha256(archive.read(name)).hexdigest() != digest
        ]
    recording = manifest["files"].get("recording.wav")
    if recording is not None and recording != manifest.get("journal_sha256"):
        problems.append("recording.wav: SHA-256 differs from the journal's")
    return manifest, problems


def _hold(args: argparse.Namespace) -> int:
    method = "POST" if args.action == "hold" else "DELETE"
    path = f"/api/calls/{_call_id(args)}/hold"
    body = _checked(*call(args, method, path, {"reason": _reason(args)}))
    print(
        json.dumps(body) if args.json else f"call {args.call_id}: {args.action} ({body['result']})"
    )
    return OK


def _holds(args: argparse.Namespace) -> int:
    body = _checked(*call(args, "GET", "/api/holds"))
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return OK
    rows = [[h["call_id"], h["at"], h["by"], h["reason"]] for h in body["holds"]]
    print(_table(["CALL", "SINCE", "BY", "REASON"], rows) if rows else "no recordings on hold")
    return OK


def verify(args: argparse.Namespace) -> int:
    """``callgate recordings verify``: 0 when every recording matches, 1 otherwise."""
    body = _checked(*call(args, "POST", "/api/recordings/verify", {"since": args.since}))
    if args.json:
        print(json.dumps(body, indent=2))
    kinds = ("missing", "changed", "unexpected")
    count = sum(len(body[kind]) for kind in kinds)
    if not args.json:
        print(f"{body['checked']} recordings checked: {count} problems")
        for kind in kinds:
            for item in body[kind]:
                print(f"  {kind.upper():<10} {item.get('call_id') or '-'}  {item['path']}")
    return PROBLEM if count else OK


def _kept(call: Json) -> str:
    return ("rec" if call["recording"] else "-") + (" HOLD" if call["hold"] else "")


def _seconds(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:g}s"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )
