"""Internal routes for the producer's Idempotency-Key store (kept in ClickHouse, which the query
process owns in the embedded default)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from logstream.responses import JSONBytesResponse
from query_api.deps import StoreDep

router = APIRouter(prefix="/internal/idempotency", include_in_schema=False)

NEWEST_ENTRY = """
SELECT request_sha256, event_ids, response, state, dateDiff('millisecond', created_at, now64(3)) AS age_ms
FROM idempotency_keys WHERE key = {key:String} ORDER BY version DESC LIMIT 1
"""
COLUMNS = ["key", "request_sha256", "event_ids", "response", "state", "created_at", "version"]

Key = Annotated[str, Field(min_length=1, max_length=255)]


class EntryIn(BaseModel):
    key: Key
    requestSha256: str = Field(min_length=64, max_length=64)
    eventIds: list[uuid.UUID] = Field(min_length=1)
    response: str = ""
    state: Literal["pending", "done"]


@router.get("")
async def lookup(store: StoreDep, key: Annotated[str, Query(min_length=1, max_length=255)]) -> JSONBytesResponse:
    rows = await store.rows(NEWEST_ENTRY, {"key": key})
    if not rows:
        return JSONBytesResponse({"found": False})
    digest, event_ids, response, state, age_ms = rows[0]
    return JSONBytesResponse({"found": True, "requestSha256": digest, "eventIds": [str(e) for e in event_ids],
                              "response": response, "state": state, "ageMs": age_ms})


@router.post("")
async def record(entry: EntryIn, store: StoreDep) -> JSONBytesResponse:
    row = [entry.key, entry.requestSha256, entry.eventIds, entry.response, entry.state, datetime.now(UTC),
           time.time_ns()]
    await store.insert("idempotency_keys", [row], COLUMNS)
    return JSONBytesResponse({"recorded": True})
