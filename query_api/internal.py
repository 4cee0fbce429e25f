"""Internal routes the producer calls (the front door never forwards /internal/ to here):
whether a request's actions are queryable yet, and seed 000's user registry."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from logstream.contract import ID_MAX_LENGTH, ActionType
from logstream.responses import JSONBytesResponse
from query_api.deps import StoreDep
from query_api.queries import ch_time

router = APIRouter(prefix="/internal", include_in_schema=False)

# How many of these events' actions are stored. Action ids are deterministic per (eventId, index) and
# the sink never stores one twice, so the count reaches the number sent exactly when all are there,
# even if an insert spanning partitions became visible part by part. The request's types and time
# range let the sort key (type, time, action_id) find the few granules.
VISIBLE_ACTIONS = """
SELECT uniqExact(action_id) FROM actions
WHERE type IN {types:Array(String)}
  AND time >= {start:DateTime64(3, 'UTC')} AND time <= {end:DateTime64(3, 'UTC')}
  AND event_id IN {event_ids:Array(UUID)}
"""
EVENTS_PER_QUERY = 1000
REGISTERED_USER = "SELECT 1 FROM compat_users WHERE user_id = {user_id:String} LIMIT 1"

POLL_FIRST_S, POLL_MAX_S = 0.02, 0.2


UserId = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH)]


class Event(BaseModel):
    eventId: uuid.UUID
    actions: int = Field(ge=1, le=1_000_000)


class VisibleIn(BaseModel):
    events: list[Event] = Field(min_length=1, max_length=1_000_000)
    types: list[ActionType] = Field(min_length=1)
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    timeoutMs: int = Field(0, ge=0, le=60_000)


class UsersIn(BaseModel):
    userIds: list[UserId] = Field(max_length=100_000)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.post("/visible")
async def visible(body: VisibleIn, store: StoreDep) -> JSONBytesResponse:
    """Waits (at most timeoutMs) until every action of these events is in ClickHouse."""
    bounds = {"types": [t.value for t in body.types],
              # a millisecond either side: stored times are truncated to the millisecond
              "start": ch_time(_utc(body.start) - timedelta(milliseconds=1)),
              "end": ch_time(_utc(body.end) + timedelta(milliseconds=1))}
    pending = [body.events[i:i + EVENTS_PER_QUERY] for i in range(0, len(body.events), EVENTS_PER_QUERY)]
    expected = sum(event.actions for event in body.events)
    found_done = 0  # the actions of the chunks already complete
    deadline = time.monotonic() + body.timeoutMs / 1000
    pause = POLL_FIRST_S
    while True:
        found_pending, still = 0, []
        for chunk in pending:
            parameters = {**bounds, "event_ids": [str(event.eventId) for event in chunk]}
            found = (await store.rows(VISIBLE_ACTIONS, parameters))[0][0]
            if found >= sum(event.actions for event in chunk):
                found_done += found
            else:
                found_pending += found
                still.append(chunk)
        pending = still
        if not pending or time.monotonic() >= deadline:
            break
        await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, POLL_MAX_S)
    found = found_done + found_pending
    return JSONBytesResponse({"visible": not pending, "expected": expected, "found": found})


@router.post("/users")
async def register_users(body: UsersIn, store: StoreDep) -> JSONBytesResponse:
    unique = list(dict.fromkeys(body.userIds))
    if unique:
        await store.insert("compat_users", [[user_id] for user_id in unique], ["user_id"])
    return JSONBytesResponse({"registered": len(unique)})


@router.get("/users/registered")
async def is_registered(store: StoreDep,
                        userId: Annotated[str, Query(min_length=1, max_length=ID_MAX_LENGTH)]) -> JSONBytesResponse:
    rows = await store.rows(REGISTERED_USER, {"user_id": userId})
    return JSONBytesResponse({"registered": bool(rows)})
