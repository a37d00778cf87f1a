"""``callgate events``: print callgate's live event stream, one line per message, for engineers
wiring a CAD. Reconnects by itself; Ctrl-C ends it. Events are de-duplicated by ``event_id`` as
a CAD should.

The broker, site, topic prefix, user, password and TLS come from the config file's ``[mqtt]``
(``--config``, default ``/etc/callgate/callgate.toml`` when present; the environment overrides
it, ``CALLGATE_MQTT__PASSWORD`` too); an option given here wins over both.

Example: ``callgate events --port 11883 --site site1`` (lab broker, anonymous).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import sys
from pathlib import Path
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
                password=args.password if args.username else None,
                tls_context=args.tls_context,
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


DEFAULT_CONFIG = Path("/etc/callgate/callgate.toml")


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with what was not given taken from the config's ``[mqtt]`` (and environment):
    the broker, site, prefix, user, password and TLS the daemon uses."""
    from callgate.config import load_settings

    path = args.config or (str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None)
    mqtt = load_settings(path).mqtt
    args.host = args.host or mqtt.host
    args.port = args.port or mqtt.port
    args.site = args.site or mqtt.site
    args.prefix = args.prefix or mqtt.topic_prefix
    if args.username is None:
        args.username = mqtt.username
    secret = mqtt.password.get_secret_value() if mqtt.password is not None else None
    args.password = os.environ.get("CALLGATE_MQTT__PASSWORD") or secret
    args.tls_context = None
    if args.ca_file:
        args.tls_context = ssl.create_default_context(cafile=args.ca_file)
    elif mqtt.tls is not None:
        args.tls_context = mqtt.tls.context()
    return args


def main(argv: list[str] | None = None) -> int:
    from callgate.config import ConfigError

    parser = argparse.ArgumentParser(prog="callgate events", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-c", "--config", help=f"config file for [mqtt] (default: {DEFAULT_CONFIG} if present)"
    )
    parser.add_argument("--host", help="broker host (default: [mqtt] host)")
    parser.add_argument("--port", type=int, help="broker port (default: [mqtt] port)")
    parser.add_argument("--site", help="site (default: [mqtt] site)")
    parser.add_argument("--prefix", help="topic prefix (default: [mqtt] topic_prefix)")
    parser.add_argument(
        "--username", help="broker user (default: [mqtt] username; password: [mqtt] password or "
        "CALLGATE_MQTT__PASSWORD)",
    )  # fmt: skip
    parser.add_argument("--ca-file", help="CA of the broker's certificate (enables TLS)")
    try:
        args = resolve(parser.parse_args(argv))
    except (ConfigError, OSError, ssl.SSLError) as exc:
        print(f"callgate events: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow(args, sys.stdout))
    return 0
