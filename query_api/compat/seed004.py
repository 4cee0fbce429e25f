"""Seed 004 (Django REST framework): GET /logs/?user&type&start_time&end_time, the end EXCLUSIVE,
times rendered in UTC with Z."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import in_shape
from logstream.responses import JSONBytesResponse
from query_api.compat.reads import exact_types, fetch, in_utc, instant, properties, time_range

PARAMETERS = ("user", "type", "start_time", "end_time")
# GET /logs/?user=ABC123XYZ after the README's creation
EXAMPLE = [{"time": "2018-10-19T03:37:28Z", "type": "CLICK", "properties": {"locationX": 52, "locationY": 11},
            "userId": "ABC123XYZ", "sessionId": "XYZ456ABC"}]


@in_shape(shapes.seed004)
async def read(request: Request, *, user: str | None, type_: str | None, start: str | None,
               end: str | None) -> Response:
    """A flat list `[{time, type, properties, userId, sessionId}]`, ordered by time."""
    low, high = time_range(instant("start_time", start), instant("end_time", end), end_inclusive=False)
    rows = await fetch(request, user_id=user, types=exact_types(type_), start=low, end=high)
    return JSONBytesResponse([{"time": in_utc(r), "type": r[4], "properties": properties(r), "userId": r[2],
                               "sessionId": r[3]} for r in rows])
