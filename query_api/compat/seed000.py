"""Seed 000 (Flask + SQLAlchemy): GET /api/v1/retrieve?userId&type&start&end, both ends inclusive."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import in_shape
from logstream.responses import JSONBytesResponse
from query_api.compat.reads import Row, as_sent, by_session, exact_types, fetch, instant, properties, time_range

router = APIRouter(tags=["compatibility: 000"])


def action(row: Row) -> dict[str, Any]:
    # 000 answered through Flask's jsonify, which sorts keys; the order is kept for diff-minded clients
    return {"properties": properties(row), "time": as_sent(row), "type": row[4]}


# GET /api/v1/retrieve?userId=dDYLl2mT8 after the README's example log; keys in jsonify's order, as answered
RETRIEVE_EXAMPLE = {"logs": [{"actions": [
    {"properties": {"locationX": 52, "locationY": 11}, "time": "2018-10-18T21:37:28-06:00", "type": "CLICK"},
    {"properties": {"viewedId": "FDJKLHSLD"}, "time": "2018-10-18T21:37:30-06:00", "type": "VIEW"},
    {"properties": {"pageFrom": "communities", "pageTo": "inventory"}, "time": "2018-10-18T21:37:30-06:00",
     "type": "NAVIGATE"}], "sessionId": "999TGF123", "userId": "dDYLl2mT8"}], "status": "success"}


@router.get("/api/v1/retrieve", summary="000: logs by user, type (exact) and time range (inclusive)",
            responses={**shapes.example(RETRIEVE_EXAMPLE), **shapes.documented(shapes.READ_REFUSALS, "seed000")})
@in_shape(shapes.seed000)
async def retrieve(
    request: Request,
    userId: Annotated[str | None, Query()] = None,
    type: Annotated[str | None, Query(description="Exact: CLICK, VIEW or NAVIGATE")] = None,
    start: Annotated[str | None, Query(description="ISO 8601, inclusive; no offset means UTC")] = None,
    end: Annotated[str | None, Query(description="ISO 8601, inclusive; no offset means UTC")] = None,
) -> Response:
    """`{"status":"success","logs":[{userId, sessionId, actions:[{time, type, properties}]}]}`, one log
    per (userId, sessionId); times keep the offset they were sent with. A bad time: 400 `{"status":"failed"}`."""
    low, high = time_range(instant("start", start), instant("end", end), end_inclusive=True)
    rows = await fetch(request, user_id=userId, types=exact_types(type), start=low, end=high)
    logs = [{"actions": log["actions"], "sessionId": log["sessionId"], "userId": log["userId"]}
            for log in by_session(rows, action)]
    return JSONBytesResponse({"logs": logs, "status": "success"})
