"""Seed 001 (Flask + SQLite): GET /api/retrievelogs?userId&logType&fromTime&toTime, a flat list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import SeedError, in_shape
from logstream.responses import JSONBytesResponse
from query_api.compat.reads import Row, as_sent, fetch, parsed_time, time_range

router = APIRouter(tags=["compatibility: 001"])

# 001 kept one table per type, with these columns (prefixed with "_") and no type column.
COLUMNS = {"CLICK": ("locationX", "locationY"), "VIEW": ("viewedId",), "NAVIGATE": ("pageFrom", "pageTo")}
LOG_TYPES = ("click", "view", "navigate")


def entry(row: Row) -> dict[str, Any]:
    sent = orjson.loads(row[7])
    return {"_userId": row[2], "_sessionId": row[3], "_time": as_sent(row),
            **{f"_{key}": sent.get(key) for key in COLUMNS.get(row[4], ())}}


# No offset is wider: a wall-clock bound holds actions at most this far from it as instants.
WIDEST_OFFSET = timedelta(hours=24)


def wall_clock(parsed: datetime | None) -> datetime | None:
    """A time written without an offset, as a wall-clock reading (labelled UTC); None for an instant."""
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else None


def instant_of(parsed: datetime | None) -> datetime | None:
    return parsed.astimezone(UTC) if parsed is not None and parsed.tzinfo is not None else None


def bounds(from_time: str | None, to_time: str | None) -> dict[str, datetime | None]:
    """fetch()'s bounds, both inclusive. A bound with an offset is an instant; one without (`2018-10-19`,
    `2018-10-19T08:00:00`) is a wall-clock time, compared with each action's time in the offset it was
    sent with: the answer 001 gave for its own data (it compared the stored text), without comparing
    strings. A wall-clock bound also bounds the instants within a day of it, so the time index is used."""
    low, high = parsed_time("fromTime", from_time), parsed_time("toTime", to_time)
    local_low, local_high = (wall_clock(t) for t in (low, high))
    low, high = time_range(instant_of(low), instant_of(high), end_inclusive=True)
    local_low, local_high = time_range(local_low, local_high, end_inclusive=True)
    if local_low is not None:
        low = local_low - WIDEST_OFFSET if low is None else max(low, local_low - WIDEST_OFFSET)
    if local_high is not None:
        high = local_high + WIDEST_OFFSET if high is None else min(high, local_high + WIDEST_OFFSET)
    return {"start": low, "end": high, "local_start": local_low, "local_end": local_high}


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
    fromTime: Annotated[str | None, Query(description="ISO 8601, inclusive; needs toTime. Without an offset: "
                                                      "that wall-clock time in each action's own offset")] = None,
    toTime: Annotated[str | None, Query(description="ISO 8601, inclusive; needs fromTime. Without an offset: "
                                                    "that wall-clock time in each action's own offset")] = None,
) -> Response:
    """A flat list of `{_userId, _sessionId, _time, _locationX, _locationY}` (CLICK), `{..., _viewedId}`
    (VIEW) or `{..., _pageFrom, _pageTo}` (NAVIGATE), ordered by time. Errors: 400 `{"status": message}`."""
    if not userId and not logType and not (fromTime and toTime):
        raise refuse("missing_parameters", "parameter(s) must be provided")
    if bool(fromTime) != bool(toTime):
        raise refuse("missing_parameters", "fromTime and toTime must be provided together")
    if logType and logType.lower() not in LOG_TYPES:
        raise refuse("invalid_parameter", "logType must be click, view, or navigate")
    types = (logType.upper(),) if logType else ()
    rows = await fetch(request, user_id=userId, types=types, **bounds(fromTime, toTime))
    return JSONBytesResponse([entry(row) for row in rows])
