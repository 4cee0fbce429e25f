"""GET /v1/sessions/{sessionId} (one session's timeline) and GET /v1/users/{userId}/sessions
(a user's sessions, newest first). A session's rows are read through its users (the `user_sessions`
rollup, see 0002_analytics_rollups.sql) from the projection sorted by user; a user's sessions come
from that rollup too."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from logstream.responses import JSONBytesResponse
from query_api.cursor import SessionCursor
from query_api.deps import FromQuery, SettingsDep, StoreDep, ToQuery, example
from query_api.errors import NotFoundError
from query_api.filters import build_filter
from query_api.queries import ACTION_COLUMNS, ARRIVAL_ORDER, CLAUSES, ch_time
from query_api.routes import action_out
from query_api.stats import utc_text
from query_api.stats_queries import TYPES

router = APIRouter(tags=["sessions"])

SESSION_ROWS = "FROM actions WHERE " + CLAUSES["session_users"] + " AND " + CLAUSES["session_id"]
SESSION_ACTIONS = ("SELECT " + ACTION_COLUMNS + " " + SESSION_ROWS + " ORDER BY " + ARRIVAL_ORDER
                   + " LIMIT {limit:UInt32}")
# Only for a session longer than one page: its totals and users, over all its actions.
SESSION_COUNTS = "SELECT type, count(), min(time), max(time) " + SESSION_ROWS + " GROUP BY type"
SESSION_USERS = "SELECT user_id " + SESSION_ROWS + " GROUP BY user_id ORDER BY min((" + ARRIVAL_ORDER + "))"

USER_SESSIONS = """
SELECT session_id, min(first_time) AS first_at, max(last_time) AS last_at,
       sum(actions), sum(clicks), sum(views), sum(navigates)
FROM user_sessions WHERE user_id = {{user_id:String}}
GROUP BY session_id
HAVING {having}
ORDER BY first_at DESC, session_id DESC
LIMIT {{limit:UInt32}}"""
HAVING = {
    "start": "first_at >= {start:DateTime64(3, 'UTC')}",
    "end": "first_at < {end:DateTime64(3, 'UTC')}",
    "before": "(first_at, session_id) < ({before_time:DateTime64(3, 'UTC')}, {before_id:String})",
}
SESSIONS_MAX_LIMIT = 1000

SESSION_EXAMPLE = {
    "sessionId": "XYZ456ABC", "userId": "ABC123XYZ", "userIds": ["ABC123XYZ"],
    "firstTime": "2018-10-19T03:37:28Z", "lastTime": "2018-10-19T03:37:30Z", "durationMs": 2000,
    "total": 3, "byType": {"CLICK": 1, "VIEW": 1, "NAVIGATE": 1}, "truncated": False,
    "actions": [{"actionId": "0b8f8b8e-6a8e-5c1e-9d0e-3f9a1c2b4d5e", "eventId": "4c0c6d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
                 "userId": "ABC123XYZ", "sessionId": "XYZ456ABC", "type": "CLICK", "time": "2018-10-18T21:37:28-06:00",
                 "properties": {"locationX": 52, "locationY": 11}}],
}


def _span(first: datetime, last: datetime) -> int:
    return round((last - first).total_seconds() * 1000)


@router.get("/v1/sessions/{sessionId}", responses={**example(SESSION_EXAMPLE), 404: {"description": "No such session"}},
            summary="One session's timeline")
async def get_session(store: StoreDep, settings: SettingsDep,
                      sessionId: Annotated[str, Path(max_length=256, examples=["XYZ456ABC"])]) -> JSONBytesResponse:
    """The session's actions in time order (ties in arrival order), with its user, first and last time
    (UTC), duration and counts per type. A session of more than 10,000 actions
    (LOGSTREAM_QUERY_MAX_LIMIT) lists its first ones with `truncated: true` (page through the
    rest with /v1/actions?sessionId=); the totals always cover all of it. `userIds` lists every
    user that sent this sessionId, first seen first (normally just `userId`)."""
    limit = settings.query_max_limit
    parameters = {"session_id": sessionId}
    rows = await store.rows(SESSION_ACTIONS, {**parameters, "limit": limit + 1}, max_rows=limit + 1)
    if not rows:
        raise NotFoundError(f"no actions with sessionId {sessionId[:64]!r}")
    truncated = len(rows) > limit
    rows = rows[:limit]
    by_type = dict.fromkeys(TYPES, 0)
    if truncated:
        counts = await store.rows(SESSION_COUNTS, parameters)
        users = [row[0] for row in await store.rows(SESSION_USERS, parameters)]
        for kind, count, _, _ in counts:
            by_type[kind] = count
        first, last = min(row[2] for row in counts), max(row[3] for row in counts)
    else:
        for row in rows:
            by_type[row[4]] += 1
        users = list(dict.fromkeys(row[2] for row in rows))
        first, last = rows[0][5], max(row[5] for row in rows)
    return JSONBytesResponse({
        "sessionId": sessionId, "userId": users[0], "userIds": users, "firstTime": utc_text(first),
        "lastTime": utc_text(last), "durationMs": _span(first, last), "total": sum(by_type.values()),
        "byType": by_type, "truncated": truncated, "actions": [action_out(row) for row in rows]})


USER_SESSIONS_EXAMPLE = {"userId": "ABC123XYZ", "sessions": [
    {"sessionId": "XYZ456ABC", "firstTime": "2018-10-19T03:37:28Z", "lastTime": "2018-10-19T03:37:30Z",
     "durationMs": 2000, "total": 3, "byType": {"CLICK": 1, "VIEW": 1, "NAVIGATE": 1}}], "nextCursor": None}


@router.get("/v1/users/{userId}/sessions", responses=example(USER_SESSIONS_EXAMPLE), summary="A user's sessions")
async def list_user_sessions(
    store: StoreDep,
    userId: Annotated[str, Path(max_length=256, examples=["ABC123XYZ"])],
    from_: FromQuery = None, to: ToQuery = None,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=SESSIONS_MAX_LIMIT, description="Sessions per page")] = 50,
) -> JSONBytesResponse:
    """The user's sessions that started in [from, to) (both optional), newest first (by first
    action, then sessionId, descending), each with its first and last time (UTC), duration and
    counts per type over all its actions. Follow `nextCursor` until it is null."""
    bounds = build_filter(user_id=userId, session_id=None, type_=None, start=from_, end=to)
    parameters: dict[str, Any] = {"user_id": userId, "limit": limit + 1}
    having = []
    if bounds.start is not None:
        parameters["start"] = ch_time(bounds.start)
        having.append(HAVING["start"])
    if bounds.end is not None:
        parameters["end"] = ch_time(bounds.end)
        having.append(HAVING["end"])
    if cursor:
        after = SessionCursor.decode(cursor)
        parameters["before_time"], parameters["before_id"] = ch_time(after.first_time), after.session_id
        having.append(HAVING["before"])
    sql = USER_SESSIONS.format(having=" AND ".join(having) or "1")
    rows = await store.rows(sql, parameters, max_rows=limit + 1)
    next_cursor = SessionCursor(rows[limit - 1][1], rows[limit - 1][0]).encode() if len(rows) > limit else None
    sessions = [{"sessionId": session_id, "firstTime": utc_text(first), "lastTime": utc_text(last),
                 "durationMs": _span(first, last), "total": total,
                 "byType": {"CLICK": clicks, "VIEW": views, "NAVIGATE": navigates}}
                for session_id, first, last, total, clicks, views, navigates in rows[:limit]]
    return JSONBytesResponse({"userId": userId, "sessions": sessions, "nextCursor": next_cursor})

