"""Seed 003 (Flask + MongoDB): GET /logs/?userId&types=A,B&from&to, both ends inclusive."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import in_shape
from logstream.responses import JSONBytesResponse
from query_api.compat.reads import action, by_session, exact_types, fetch, full_instant, time_range

PARAMETERS = ("userId", "types", "from", "to")
# GET /logs/?userId=ABC123XYZ&types=CLICK,VIEW,NAVIGATE after the README's example body
EXAMPLE = [{"userId": "ABC123XYZ", "sessionId": "XYZ456ABC", "actions": [
    {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 52, "locationY": 11}},
    {"time": "2018-10-18T21:37:30-06:00", "type": "VIEW", "properties": {"viewedId": "FDJKLHSLD"}},
    {"time": "2018-10-18T21:37:30-06:00", "type": "NAVIGATE",
     "properties": {"pageFrom": "communities", "pageTo": "inventory"}}]}]


@in_shape(shapes.seed003)
async def read(request: Request, *, user_id: str | None, types: str | None, start: str | None,
               end: str | None) -> Response:
    """`[{userId, sessionId, actions:[{time, type, properties}]}]`: one entry per (userId, sessionId) with
    its matching actions; sessions without any are left out. `types` is a comma-separated list matched
    exactly (unknown names match nothing). A bound that is not a full time with an offset (003's README:
    `2019-10-18T21:37:28-06:00`): 400 `{"success":false,"code":"INVALID_TIME_FORMAT"}`."""
    low, high = time_range(full_instant("from", start), full_instant("to", end), end_inclusive=True)
    rows = await fetch(request, user_id=user_id, types=exact_types(*(types or "").split(",")), start=low, end=high)
    return JSONBytesResponse(by_session(rows, action))
