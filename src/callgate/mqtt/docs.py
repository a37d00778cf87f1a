"""Generates ``docs/events/`` from the models in :mod:`callgate.mqtt.schema`: one JSON Schema
file per message and an AsyncAPI 2.6 document of every topic. ``--check`` regenerates in memory
and fails when the committed files differ (CI runs it, so a model change without regenerated docs
fails the build).

Run: ``.venv/bin/python scripts/gen-event-docs [--check] [--out docs/events]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from callgate.mqtt import schema as s

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "docs" / "events"

CALL_EVENTS: list[type[BaseModel]] = [
    s.CallReceived,
    s.CallScreened,
    s.CallQueued,
    s.CallOffered,
    s.CallAnswered,
    s.CallTransferred,
    s.CallAbandoned,
    s.CallOverflowed,
    s.CallEndedEvent,
    s.RecordingReady,
    s.RecordingFailed,
    s.DispositionSet,
    s.CallbackRequested,
    s.IncidentAttached,
]
COMMANDS: list[type[BaseModel]] = [
    s.SetDisposition,
    s.RequestCallback,
    s.AttachIncident,
    s.BlockCaller,
    s.UnblockCaller,
]
OTHERS: list[type[BaseModel]] = [
    s.AgentStateEvent,
    s.ShiftStaffingEvent,
    s.QueueState,
    s.Status,
    s.Reply,
]
ALL = CALL_EVENTS + COMMANDS + OTHERS
SITE = "{site}"


def _schemas() -> dict[str, dict[str, Any]]:
    """Each model's JSON Schema on its own (draft 2020-12, as pydantic writes it)."""
    return {m.__name__: m.model_json_schema() for m in ALL}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{model.__name__}"}


def _asyncapi() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "validation") for m in ALL], ref_template="#/components/schemas/{model}"
    )
    base = "callgate/v1/{site}"
    site = {"description": "The site id (MqttSettings.site).", "schema": {"type": "string"}}

    def param(text: str) -> dict[str, Any]:
        return {"description": text, "schema": {"type": "string"}}

    def one_of(models: list[type[BaseModel]]) -> dict[str, Any]:
        return {"oneOf": [_ref(m) for m in models]} if len(models) > 1 else _ref(models[0])

    qos1 = {"mqtt": {"qos": 1, "retain": False}}
    retained = {"mqtt": {"qos": 1, "retain": True}}
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "callgate call events for CAD",
            "version": str(s.SCHEMA_VERSION),
            "description": (s.__doc__ or "").strip(),
        },
        "defaultContentType": "application/json",
        "channels": {
            f"{base}/calls/{{call_id}}/events": {
                "description": "Every event of one call, in seq order (QoS 1, at least once).",
                "parameters": {"site": site, "call_id": param("The call's id.")},
                "subscribe": {"bindings": qos1, "message": one_of(CALL_EVENTS)},
            },
            f"{base}/agents/{{agent_id}}/state": {
                "description": "A call-taker's latest state (retained).",
                "parameters": {"site": site, "agent_id": param("The call-taker's id.")},
                "subscribe": {"bindings": retained, "message": _ref(s.AgentStateEvent)},
            },
            f"{base}/shifts/{{shift}}/staffing": {
                "description": "A shift's staffing and short-handed alarm ([roster]; retained).",
                "parameters": {"site": site, "shift": param("The shift's name.")},
                "subscribe": {"bindings": retained, "message": _ref(s.ShiftStaffingEvent)},
            },
            f"{base}/queue/state": {
                "description": "The queue now (retained; republished at most once a second).",
                "parameters": {"site": site},
                "subscribe": {"bindings": retained, "message": _ref(s.QueueState)},
            },
            f"{base}/status": {
                "description": "online while callgate is connected; offline (last will) after.",
                "parameters": {"site": site},
                "subscribe": {"bindings": retained, "message": _ref(s.Status)},
            },
            f"{base}/commands/{{client}}/{{request_id}}": {
                "description": "CAD's commands; the answer comes on replies/{client}/{request_id}."
                " The broker's ACL lets only the MQTT user {client} publish here; callgate records"
                " {client} as who set the disposition, blocked or asked for the callback, and"
                " answers forbidden unless [auth] grants {client} (role cad) the command.",
                "parameters": {
                    "site": site,
                    "client": param("The CAD client's MQTT user name (a cad user of [auth])."),
                    "request_id": param("Chosen by CAD, unique."),
                },
                "publish": {"bindings": qos1, "message": one_of(COMMANDS)},
            },
            f"{base}/replies/{{client}}/{{request_id}}": {
                "description": "callgate's answer to the command with this request id.",
                "parameters": {
                    "site": site,
                    "client": param("The CAD client that sent the command."),
                    "request_id": param("The command's request id."),
                },
                "subscribe": {"bindings": qos1, "message": _ref(s.Reply)},
            },
        },
        "components": {
            "messages": {
                m.__name__: {
                    "name": m.__name__,
                    "title": m.__name__,
                    "summary": (m.__doc__ or "").strip().splitlines()[0],
                    "payload": {"$ref": f"#/components/schemas/{m.__name__}"},
                }
                for m in ALL
            },
            "schemas": defs["$defs"],
        },
    }


def to_yaml(value: Any, indent: int = 0) -> str:
    """YAML for JSON-like data (block style; strings as JSON strings, which YAML accepts)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = []
        for key, item in value.items():
            text = to_yaml(item, indent + 1)
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{json.dumps(str(key))}:\n{text}")
            else:
                lines.append(f"{pad}{json.dumps(str(key))}: {text}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        lines = []
        for item in value:
            text = to_yaml(item, indent + 1)
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}-\n{text}")
            else:
                lines.append(f"{pad}- {text}")
        return "\n".join(lines)
    return json.dumps(value, ensure_ascii=False)


def render() -> dict[str, str]:
    """Every generated file: path relative to ``docs/events`` -> content."""
    header = "# Generated by scripts/gen-event-docs from callgate.mqtt.schema; do not edit.\n"
    files = {"asyncapi.yaml": header + to_yaml(_asyncapi()) + "\n"}
    for name, schema in _schemas().items():
        files[f"schemas/{name}.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gen-event-docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs are out of date")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="docs/events folder")
    args = parser.parse_args(argv)
    files = render()
    existing = {
        str(p.relative_to(args.out)) for p in args.out.rglob("*") if p.suffix in (".json", ".yaml")
    }
    if args.check:
        stale = sorted(
            name
            for name, text in files.items()
            if not (args.out / name).is_file() or (args.out / name).read_text() != text
        )
        extra = sorted(existing - files.keys())
        if stale or extra:
            print(
                "docs/events is out of date with callgate.mqtt.schema "
                f"(differ or missing: {', '.join(stale) or '-'}; no longer generated: "
                f"{', '.join(extra) or '-'}). Run scripts/gen-event-docs and commit the result.",
                file=sys.stderr,
            )
            return 1
        print(f"docs/events matches the models ({len(files)} files)")
        return 0
    for name in existing - files.keys():
        (args.out / name).unlink()
    for name, text in files.items():
        (args.out / name).parent.mkdir(parents=True, exist_ok=True)
        (args.out / name).write_text(text)
    print(f"wrote {len(files)} files to {args.out}")
    return 0
