"""Seed 002 (Flask + SQLite): GET /log?userId&type&startTime&endTime, both ends inclusive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import in_shape
from logstream.responses import JSONBytesResponse
from query_api.compat.reads import as_sent, exact_types, fetch, instant, properties, time_range

router = APIRouter(tags=["compatibility: 002"])


# GET /log?userId=ABC12312XYZ after the README's curl
READ_EXAMPLE = {"result": [
    {"userId": "ABC12312XYZ", "sessionId": "XYZ45126ABC", "time": "2013-10-18T21:37:28-06:00", "type": "CLICK",
     "properties": {"locationX": 52, "locationY": 11}},
    {"userId": "ABC12312XYZ", "sessionId": "XYZ45126ABC", "time": "2018-10-18T21:37:30-06:00", "type": "VIEW",
     "properties": {"viewedId": "FDJKLHSLD"}},
    {"userId": "ABC12312XYZ", "sessionId": "XYZ45126ABC", "time": "2018-10-18T21:37:30-06:00", "type": "NAVIGATE",
     "properties": {"pageFrom": "communities", "pageTo": "inventory"}}]}


@router.get("/log", summary="002: actions by user, type (exact) and time range (inclusive)",
            responses={**shapes.example(READ_EXAMPLE), **shapes.documented(shapes.READ_REFUSALS, "seed002")})
@in_shape(shapes.seed002)
async def read_log(
    request: Request,
    userId: Annotated[str | None, Query()] = None,
    type: Annotated[str | None, Query(description="Exact: CLICK, VIEW or NAVIGATE")] = None,
    startTime: Annotated[str | None, Query(description="ISO 8601, inclusive; no offset means UTC")] = None,
    endTime: Annotated[str | None, Query(description="ISO 8601, inclusive; no offset means UTC")] = None,
) -> Response:
    """`{"result":[{userId, sessionId, time, type, properties}]}`, ordered by time; times keep their
    offset. Errors: 400 `{"success":false,"errorCode":"Bad request"}`."""
    low, high = time_range(instant("startTime", startTime), instant("endTime", endTime), end_inclusive=True)
    rows = await fetch(request, user_id=userId, types=exact_types(type), start=low, end=high)
    result = [{"userId": r[2], "sessionId": r[3], "time": as_sent(r), "type": r[4], "properties": properties(r)}
              for r in rows]
    return JSONBytesResponse({"result": result})
