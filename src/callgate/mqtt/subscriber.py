"""``callgate events``: print callgate's live event stream, one line per message, for engineers
wiring a CAD. Reconnects by itself; Ctrl-C ends it. Events are de-duplicated by ``event_id`` as
a CAD should.

Example: ``callgate events --port 11883 --site site1`` (lab broker, anonymous).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from typing import Any, TextIO

import aiomqtt

#: Fields every event has; the line shows the rest as key=value.
_COMMON = {"schema_version", "event_id", "seq", "at", "site", "call_id", "type", "agent_id"}


def format_message(topic: str, payload: bytes) -> str:
    """One readable line for a message on any callgate topic."""
    try:
        data: Any = json.loads(payload)
    except ValueError:
        return f"{topic}  (not JSON: {payload[:80]!r})"
    if not isinstance(data, dict):
        return f"{topic}  {data!r}"
    if "type" in data and "seq" in data:
        who = data.get("call_id") or f"agent {data.get('agent_id')}"
        rest = " ".join(f"{k}={v}" for k, v in data.items() if k not in _COMMON and v is not None)
        return f"{data.get('at', '?')}  {who}  #{data['seq']}  {data['type']}  {rest}".rstrip()
    kind = topic.rsplit("/", 2)
    return f"{data.get('at', '-')}  {'/'.join(kind[-2:])}  {json.dumps(data, sort_keys=True)}"


async def follow(args: argparse.Namespace, out: TextIO) -> None:
    seen: set[str] = set()
    topic = f"{args.prefix}/{args.site}/#"
    while True:
        try:
            async with aiomqtt.Client(
                args.host,
                args.port,
                username=args.username,
                password=os.environ.get("CALLGATE_MQTT__PASSWORD") if args.username else None,
                tls_params=aiomqtt.TLSParameters(ca_certs=args.ca_file) if args.ca_file else None,
            ) as client:
                await client.subscribe(topic, qos=1)
                print(f"# following {topic} on {args.host}:{args.port}", file=out, flush=True)
                async for message in client.messages:
                    payload = message.payload
                    raw = payload if isinstance(payload, bytes) else str(payload).encode()
                    with contextlib.suppress(ValueError, AttributeError, TypeError):
                        event_id = json.loads(raw).get("event_id")
                        if event_id in seen:
                            continue  # delivered twice (at least once): shown once
                        if event_id:
                            seen.add(event_id)
                    print(format_message(str(message.topic), raw), file=out, flush=True)
        except aiomqtt.MqttError as exc:
            print(f"# broker unavailable ({exc}); retrying in 2 s", file=out, flush=True)
            await asyncio.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callgate events", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11883)
    parser.add_argument("--site", default="site1")
    parser.add_argument("--prefix", default="callgate/v1")
    parser.add_argument("--username", help="password from CALLGATE_MQTT__PASSWORD")
    parser.add_argument("--ca-file", help="CA of the broker's certificate (enables TLS)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow(args, sys.stdout))
    return 0
