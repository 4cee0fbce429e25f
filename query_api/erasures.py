"""GET /v1/erasures/{erasureId}: how far an erasure has got (stream/erasure.py carries it out), and
the producer's internal route that records a request the moment it is accepted."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from logstream.contract import ID_MAX_LENGTH
from logstream.responses import JSONBytesResponse
from query_api.deps import StoreDep
from query_api.errors import NotFoundError

router = APIRouter()
internal = APIRouter(prefix="/internal", include_in_schema=False)

PROGRESS = """
SELECT toString(erasure_id), user_id, toString(state), requested_at, completed_at, actions_erased, pass
FROM erasures FINAL WHERE erasure_id = {id:UUID}
"""
EXAMPLE = {"erasureId": "5b0f3c8e-0d1a-4c51-9d0b-8f7c2a1e6b34", "userId": "ABC123XYZ", "state": "done",
           "requestedAt": "2026-12-01T10:00:00.000Z", "completedAt": "2026-12-01T10:00:14.250Z",
           "actionsErased": 1234, "passes": 2}


class Erasure(BaseModel):
    erasureId: uuid.UUID
    userId: str
    state: Literal["requested", "erasing", "done"] = Field(
        description="requested: recorded, not started; erasing: under way; done: nothing of the user remains")
    requestedAt: datetime
    completedAt: datetime | None
    actionsErased: int
    passes: int = Field(description="passes that found rows of the user (later logs already in flight need another)")


def _stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


@router.get("/v1/erasures/{erasureId}", response_model=Erasure, summary="An erasure's progress",
            responses={200: {"content": {"application/json": {"example": EXAMPLE}}},
                       404: {"description": "No erasure with this id", "content": {"application/problem+json": {}}}})
async def erasure(erasureId: uuid.UUID, store: StoreDep) -> JSONBytesResponse:
    """Needs an erase key when keys are on. `done` means no read shows anything of the user any more,
    the archive holds nothing of them, and the stream drops their later logs (docs/privacy.md)."""
    rows = await store.rows(PROGRESS, {"id": str(erasureId)})
    if not rows:
        raise NotFoundError(f"no erasure {erasureId}")
    erasure_id, user_id, state, requested_at, completed_at, erased, passes = rows[0]
    body: dict[str, Any] = {"erasureId": erasure_id, "userId": user_id, "state": state,
                            "requestedAt": _stamp(requested_at), "completedAt": _stamp(completed_at),
                            "actionsErased": erased, "passes": passes}
    return JSONBytesResponse(body)


class ErasureRecord(BaseModel):
    erasureId: uuid.UUID
    userId: str = Field(min_length=1, max_length=ID_MAX_LENGTH)
    requestedAt: datetime


@internal.post("/erasures")
async def record_erasure(body: ErasureRecord, store: StoreDep) -> JSONBytesResponse:
    """The producer records a request as soon as the broker acked it, so GET finds it at once."""
    if not await store.rows(PROGRESS, {"id": str(body.erasureId)}):
        await store.insert("erasures", [[body.erasureId, body.userId, "requested", 0, "capture", 0, body.requestedAt,
                                         None, time.time_ns()]],
                           ["erasure_id", "user_id", "state", "pass", "phase", "actions_erased", "requested_at",
                            "completed_at", "version"])
    return JSONBytesResponse({"recorded": True})
