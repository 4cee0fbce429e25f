"""Seed 001 (Flask + SQLite): GET /api/retrievelogs?userId&logType&fromTime&toTime, a flat list."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import SeedError, in_shape
from logstream.responses import JSONBytesResponse
from query_api.compat.reads import Row, as_sent, fetch, instant, time_range

router = APIRouter(tags=["compatibility: 001"])

# 001 kept one table per type, with these columns (prefixed with "_") and no type column.
COLUMNS = {"CLICK": ("locationX", "locationY"), "VIEW": ("viewedId",), "NAVIGATE": ("pageFrom", "pageTo")}
LOG_TYPES = ("click", "view", "navigate")


def entry(row: Row) -> dict[str, Any]:
    sent = orjson.loads(row[7])
    return {"_userId": row[2], "_sessionId": row[3], "_time": as_sent(row),
            **{f"_{key}": sent.get(key) for key in COLUMNS.get(row[4], ())}}


def refuse(code: str, detail: str) -> SeedError:
    return SeedError(shapes.seed001_read, 400, code, detail)


# GET /api/retrievelogs?userId=ABC123XYZ after the README example's three actions: one entry each, its type's columns
RETRIEVE_EXAMPLE = [
    {"_userId": "ABC123XYZ", "_sessionId": "XYZ456ABC", "_time": "2018-10-18T21:37:28-06:00",
     "_locationX": 52, "_locationY": 11},
    {"_userId": "ABC123XYZ", "_sessionId": "XYZ456ABC", "_time": "2018-10-18T21:37:30-06:00", "_viewedId": "FDJKLHSLD"},
    {"_userId": "ABC123XYZ", "_sessionId": "XYZ456ABC", "_time": "2018-10-18T21:37:30-06:00",
     "_pageFrom": "communities", "_pageTo": "inventory"}]


@router.get("/api/retrievelogs", summary="001: actions by user, logType and time range (both inclusive)",
            responses={**shapes.example(RETRIEVE_EXAMPLE), **shapes.documented(shapes.READ_REFUSALS, "seed001_read")})
@in_shape(shapes.seed001_read)
async def retrieve_logs(
    request: Request,
    userId: Annotated[str | None, Query()] = None,
    logType: Annotated[str | None, Query(description="click, view or navigate (any case)")] = None,
    fromTime: Annotated[str | None, Query(description="ISO 8601, inclusive; needs toTime")] = None,
    toTime: Annotated[str | None, Query(description="ISO 8601, inclusive; needs fromTime")] = None,
) -> Response:
    """A flat list of `{_userId, _sessionId, _time, _locationX, _locationY}` (CLICK), `{..., _viewedId}`
    (VIEW) or `{..., _pageFrom, _pageTo}` (NAVIGATE), ordered by time. Errors: 400 `{"status": message}`."""
    if not userId and not logType and not (fromTime and toTime):
        raise refuse("missing_parameters", "parameter(s) must be provided")
    if bool(fromTime) != bool(toTime):
        raise refuse("missing_parameters", "fromTime and toTime must be provided together")
    if logType and logType.lower() not in LOG_TYPES:
        raise refuse("invalid_parameter", "logType must be click, view, or navigate")
    low, high = time_range(instant("fromTime", fromTime), instant("toTime", toTime), end_inclusive=True)
    types = (logType.upper(),) if logType else ()
    rows = await fetch(request, user_id=userId, types=types, start=low, end=high)
    return JSONBytesResponse([entry(row) for row in rows])
