"""Idempotency-Key on POST /v1/logs: a retry with the same key publishes nothing new and gets the
first answer (same eventIds), for at least 24 h and across restarts of every process.

The store is ClickHouse, behind the query service (which owns it in the embedded default). A key is
reserved (pending, with the eventIds it will publish) before anything is published, then completed
with the answer. A retry that finds it pending past the publish timeout (its first attempt died
mid-way) publishes the same eventIds again, flagged so that the stream inserts only what is missing.
Requests with the same key are serialized in this process; across producer processes a concurrent
duplicate finds the key pending and gets 409.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from logstream.kafka import REPUBLISHED_HEADER
from producer_api.errors import IngestError
from producer_api.gateway import Upstreams

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
REPUBLISHED = [(REPUBLISHED_HEADER, b"1")]
KEY_FORMAT = re.compile(r"^[\x21-\x7e]{1,255}$")


class InvalidIdempotencyKeyError(IngestError):
    status, code, title = 400, "invalid_idempotency_key", "The Idempotency-Key is not valid"


class IdempotencyKeyReusedError(IngestError):
    status, code, title = 422, "idempotency_key_reused", "The Idempotency-Key was used for another request"


class IdempotencyInProgressError(IngestError):
    status, code, title = 409, "idempotency_in_progress", "A request with this Idempotency-Key is in progress"


@dataclass(frozen=True)
class Entry:
    digest: str
    event_ids: list[str]
    response: str
    state: str
    age_ms: int


def check_key(key: str) -> str:
    if not KEY_FORMAT.match(key):
        raise InvalidIdempotencyKeyError("the Idempotency-Key must be 1 to 255 printable ASCII characters")
    return key


def request_digest(document: Any) -> str:
    """The same logs give the same digest, whatever the JSON's whitespace or key order."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


class IdempotencyStore:
    def __init__(self, upstreams: Upstreams, pending_stale_s: float):
        self._upstreams = upstreams
        self.pending_stale_ms = int(pending_stale_s * 1000)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def lookup(self, key: str) -> Entry | None:
        found = await self._upstreams.call("GET", "/internal/idempotency", params={"key": key}, timeout=5.0)
        if not found.get("found"):
            return None
        return Entry(found["requestSha256"], found["eventIds"], found["response"], found["state"], found["ageMs"])

    async def record(self, key: str, digest: str, event_ids: list[str], state: str, response: str = "") -> None:
        await self._upstreams.call("POST", "/internal/idempotency", timeout=5.0, json={
            "key": key, "requestSha256": digest, "eventIds": event_ids, "state": state, "response": response})

    def retry_after(self, entry: Entry) -> dict[str, str]:
        return {"Retry-After": str(max(1, (self.pending_stale_ms - entry.age_ms) // 1000 + 1))}
