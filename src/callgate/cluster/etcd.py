"""The few etcd v3 calls a leader election needs, over etcd's JSON gateway.

Why the gateway over aiohttp (already callgate's HTTP client) and not a client library: the
election needs five calls (grant, keep alive and revoke a lease; a create-if-absent
transaction; a read), each one POST of a small JSON body, as Patroni does over urllib3. The
asyncio client ``aetcd`` would add gRPC and protobuf (tens of MB) for them, and
``python3-etcd3`` is unmaintained. Every member is tried in turn, so one etcd member down
costs nothing but a connection refused.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import aiohttp


class EtcdUnavailable(Exception):
    """No etcd member answered (the message names the last error)."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a key: its value, its create revision (the epoch) and its lease."""

    value: str
    create_revision: int
    lease: int


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _holder(kv: dict[str, Any]) -> Holder:
    return Holder(
        value=base64.b64decode(kv.get("value", "")).decode(errors="replace"),
        create_revision=int(kv.get("create_revision", 0)),
        lease=int(kv.get("lease", 0)),
    )


class EtcdClient:
    """etcd v3 over its JSON gateway, trying each member in turn."""

    def __init__(self, urls: list[str], *, timeout: float = 1.0) -> None:
        if not urls:
            raise ValueError("no etcd URL")
        self._urls = list(urls)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        error = "no member"
        for index, url in enumerate(list(self._urls)):
            try:
                async with self._session.post(f"{url}{path}", json=body) as resp:
                    text = await resp.text()
                    if resp.status == 400:
                        # A malformed request: every member would refuse it alike.
                        raise EtcdUnavailable(f"etcd {path}: HTTP {resp.status}: {text[:200]}")
                    if not 200 <= resp.status < 300:
                        # That member failing (a lagging one answers 429, a gateway 404 or
                        # 5xx): another member may well answer.
                        error = f"{url}: HTTP {resp.status}: {text[:200]}"
                        continue
                    # The member that answered is asked first next time.
                    self._urls.insert(0, self._urls.pop(index))
                    answer: dict[str, Any] = json.loads(text) if text else {}
                    return answer
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                error = f"{url}: {exc or type(exc).__name__}"
        raise EtcdUnavailable(f"etcd {path}: {error}")

    async def grant(self, ttl: int) -> tuple[int, int]:
        """A new lease: its id and the TTL etcd gave it."""
        answer = await self._post("/v3/lease/grant", {"TTL": ttl})
        return int(answer["ID"]), int(answer.get("TTL", ttl))

    async def keep_alive(self, lease: int) -> int:
        """Renews ``lease``; its TTL now, 0 when it is gone (lapsed or revoked)."""
        answer = await self._post("/v3/lease/keepalive", {"ID": str(lease)})
        return int(answer.get("result", {}).get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        """Ends ``lease`` and deletes every key attached to it."""
        await self._post("/v3/lease/revoke", {"ID": str(lease)})

    async def create(self, key: str, value: str, lease: int) -> tuple[bool, Holder | None]:
        """Puts ``key`` (attached to ``lease``) only if no one holds it, in one transaction:
        (True, this holder) when it did, (False, the holder) when someone holds it."""
        k = _b64(key)
        answer = await self._post(
            "/v3/kv/txn",
            {
                "compare": [{"key": k, "target": "CREATE", "createRevision": "0"}],
                "success": [{"requestPut": {"key": k, "value": _b64(value), "lease": str(lease)}}],
                "failure": [{"requestRange": {"key": k}}],
            },
        )
        if answer.get("succeeded"):
            # The put's revision is the key's create revision: the epoch.
            revision = int(answer["header"]["revision"])
            return True, Holder(value, revision, lease)
        kvs = answer.get("responses", [{}])[0].get("response_range", {}).get("kvs", [])
        return False, _holder(kvs[0]) if kvs else None

    async def current_revision(self) -> int:
        """etcd's revision now (the header of any answer): every key it ever held was created
        at or below it, so a journal epoch above it is from another etcd history (#21)."""
        answer = await self._post("/v3/kv/range", {"key": _b64("/"), "countOnly": True})
        return int(answer.get("header", {}).get("revision", 0))

    async def get(self, key: str) -> Holder | None:
        answer = await self._post("/v3/kv/range", {"key": _b64(key)})
        kvs = answer.get("kvs", [])
        return _holder(kvs[0]) if kvs else None
