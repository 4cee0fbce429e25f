"""GET /v1/actions and GET /v1/logs: filtered, time-ordered, keyset-paginated."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel

from logstream.contract import ActionOut, render_time
from logstream.responses import JSONBytesResponse
from query_api.cursor import Cursor
from query_api.deps import FilterDep, SettingsDep, StoreDep, example
from query_api.errors import InvalidParameterError
from query_api.filters import ActionFilter, parse_cursor
from query_api.queries import Order, page_attempts
from query_api.settings import QuerySettings
from query_api.store import Store

router = APIRouter()

CursorQuery = Annotated[str | None, Query(description="nextCursor of the previous page")]
LimitQuery = Annotated[int, Query(description="Rows per page, 1 to 10,000")]
OrderQuery = Annotated[Order, Query(description="asc: oldest first; desc: newest first. Pass the same order "
                                                "with the nextCursor it gave")]


class ActionsPage(BaseModel):
    actions: list[ActionOut]
    nextCursor: str | None


class LogOut(BaseModel):
    userId: str
    sessionId: str
    actions: list[ActionOut]


class LogsPage(BaseModel):
    logs: list[LogOut]
    nextCursor: str | None


def action_out(row: tuple[Any, ...]) -> dict[str, Any]:
    action_id, event_id, user_id, session_id, kind, time, offset, properties = row[:8]
    return {"actionId": str(action_id), "eventId": str(event_id), "userId": user_id, "sessionId": session_id,
            "type": kind, "time": render_time(time.replace(tzinfo=UTC), offset),
            "properties": orjson.Fragment(properties)}


async def fetch_page(store: Store, settings: QuerySettings, action_filter: ActionFilter, cursor: str | None,
                     limit: int, order: Order = "asc") -> tuple[list[tuple[Any, ...]], str | None]:
    if not 1 <= limit <= settings.query_max_limit:
        raise InvalidParameterError("limit", f"must be between 1 and {settings.query_max_limit}")
    after = parse_cursor(cursor)
    for sql, parameters in page_attempts(action_filter, after, limit, order):
        rows = await store.rows(sql, parameters)
        if len(rows) > limit:
            break
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    if after is not None and after.arrival is None:  # a listing begun before the arrival order
        return rows, Cursor(last[5], last[0]).encode()
    return rows, Cursor.of_row(last).encode()


ACTION_EXAMPLE = {"actionId": "0b8f8b8e-6a8e-5c1e-9d0e-3f9a1c2b4d5e", "eventId": "4c0c6d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
                  "userId": "ABC123XYZ", "sessionId": "XYZ456ABC", "type": "CLICK",
                  "time": "2018-10-18T21:37:28-06:00", "properties": {"locationX": 52, "locationY": 11}}
ACTIONS_EXAMPLE = {"actions": [ACTION_EXAMPLE], "nextCursor": "WzE1Mzk5MTQ2NDgwMDAsIjBiOGY4YjhlLi4uIl0"}
LOGS_EXAMPLE = {"logs": [{"userId": "ABC123XYZ", "sessionId": "XYZ456ABC", "actions": [ACTION_EXAMPLE]}],
                "nextCursor": None}


@router.get("/v1/actions", response_model=ActionsPage, responses=example(ACTIONS_EXAMPLE),
            summary="Actions, ordered by time")
async def list_actions(store: StoreDep, settings: SettingsDep, action_filter: FilterDep,
                       cursor: CursorQuery = None, limit: LimitQuery = 100,
                       order: OrderQuery = "asc") -> JSONBytesResponse:
    """Ordered by time, actions with the same time in the order they arrived (`order=desc`: newest
    first, both reversed); `from` inclusive, `to` exclusive; times come back with the offset they were
    sent with. Follow `nextCursor` (with the same `order`) until it is null: no row is skipped or repeated."""
    rows, next_cursor = await fetch_page(store, settings, action_filter, cursor, limit, order)
    return JSONBytesResponse({"actions": [action_out(r) for r in rows], "nextCursor": next_cursor})


@router.get("/v1/logs", response_model=LogsPage, responses=example(LOGS_EXAMPLE), summary="Actions grouped per session")
async def list_logs(store: StoreDep, settings: SettingsDep, action_filter: FilterDep,
                    cursor: CursorQuery = None, limit: LimitQuery = 100,
                    order: OrderQuery = "asc") -> JSONBytesResponse:
    """The same page as /v1/actions (limit counts actions, `order` orders them), grouped per
    (userId, sessionId) in order of first appearance. A session's actions may continue on the next page."""
    rows, next_cursor = await fetch_page(store, settings, action_filter, cursor, limit, order)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row[2], row[3]), []).append(action_out(row))
    logs = [{"userId": u, "sessionId": s, "actions": actions} for (u, s), actions in groups.items()]
    return JSONBytesResponse({"logs": logs, "nextCursor": next_cursor})
