"""GET /v1/actions/live: actions as they become queryable, as Server-Sent Events.

What became queryable is told by `inserted_at`, the engine's clock when a stream worker's insert
was written (Kafka offsets would not do: the embedded broker keeps no log across restarts, so its
offsets start again at 0). Inserts overlap, so an insert stamped earlier may become visible after
one stamped later: each poll reads back LOGSTREAM_LIVE_LOOKBACK_S before the newest stamp sent, and
skips the actions it already sent (their ids, kept for that long). Nothing is skipped or repeated
while a stream stays open.

Memory per client is bounded: one poll reads at most `LOGSTREAM_LIVE_BATCH` new actions, plus the
ids sent within the look-back; the next poll waits until that batch was written to the socket (a
slow reader slows its own polls, never the others'). A poll that fills its batch means the client
is behind: it is told (`event: behind`) and carries on from where it is. Every `actions` event's
`id` is the stream's position (the newest stamp and action id sent), so a client that reconnects
with `Last-Event-ID` (EventSource does it by itself) resumes after it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Request
from starlette.responses import StreamingResponse

from query_api.deps import FilterDep, SettingsDep, StoreDep
from query_api.errors import InvalidParameterError, QueryError
from query_api.queries import ch_time, where
from query_api.routes import ACTION_EXAMPLE, action_out
from query_api.store import Store

router = APIRouter()

LIVE_PATH = "/v1/actions/live"
ENGINE_NOW = "SELECT now64(3, 'UTC')"
RECENT = (
    "SELECT action_id, event_id, user_id, session_id, type, time, time_offset, properties, inserted_at "
    "FROM actions WHERE inserted_at >= {{since:DateTime64(3, 'UTC')}} AND {where} "
    "ORDER BY inserted_at, action_id LIMIT {{limit:UInt32}}"
)
HEARTBEAT_S = 15.0
# Sent before the first event: how long EventSource waits before it reconnects.
RETRY_MS = 1000


@dataclass
class Position:
    """Where a client's stream is: the newest stamp sent, the ids sent since `newest - lookback`, and
    (after a reconnect, whose sent ids are gone) the last (stamp, id) sent before it."""

    newest: datetime
    sent: dict[str, datetime] = field(default_factory=dict)
    resumed_after: tuple[datetime, str] | None = None

    def is_new(self, stamp: datetime, action_id: str) -> bool:
        if action_id in self.sent:
            return False
        return self.resumed_after is None or (stamp, action_id) > self.resumed_after

    def record(self, stamp: datetime, action_id: str, lookback: timedelta) -> None:
        self.sent[action_id] = stamp
        if stamp > self.newest:
            self.newest = stamp
            oldest = stamp - lookback
            self.sent = {i: s for i, s in self.sent.items() if s >= oldest}

    def encode(self, last_id: str) -> str:
        body = orjson.dumps([self.newest.isoformat(), last_id])
        return base64.urlsafe_b64encode(body).decode().rstrip("=")


def decode_position(text: str) -> Position:
    try:
        stamp, action_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        newest = datetime.fromisoformat(stamp)
        if newest.tzinfo is None:
            raise ValueError("no offset")
        return Position(newest, resumed_after=(newest, str(UUID(action_id))))
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError("Last-Event-ID", "not an id this stream sent") from exc


def recent_query(where_sql: str, where_parameters: dict[str, Any], since: datetime,
                 limit: int) -> tuple[str, dict[str, Any]]:
    return RECENT.format(where=where_sql), {**where_parameters, "since": ch_time(since), "limit": limit}


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def opening_position(store: Store, where_sql: str, where_parameters: dict[str, Any],
                           lookback: timedelta) -> Position:
    """After what is stored now; what is stored within the look-back counts as sent, so that only
    what becomes queryable from now on is."""
    (now,), = await store.rows(ENGINE_NOW, {})
    position = Position(utc(now))
    rows = await store.rows(*recent_query(where_sql, where_parameters, position.newest - lookback, 100_000))
    position.sent = {str(row[0]): utc(row[8]) for row in rows}
    return position


def event(name: str, data: Any, event_id: str | None = None) -> bytes:
    head = f"event: {name}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + b"data: " + orjson.dumps(data) + b"\n\n"


LIVE_EXAMPLE = ("event: actions\n"
                "id: WyIyMDE4LTEwLTE5VDAzOjM3OjMxLjIwNCswMDowMCIsIjBiOGY4YjhlLTZhOGUtNWMxZS05ZDBlLTNmOWExYzJiNGQ1ZSJd\n"
                f"data: {orjson.dumps({'actions': [ACTION_EXAMPLE]}).decode()}\n\n")
LIVE_DESCRIPTION = f"""A `text/event-stream` of the actions that become queryable from now on, with
the filters of /v1/actions (`userId`, `sessionId`, `type`, `from`, `to`: on the action's time).

- `event: actions`: `data` is `{{"actions": [...]}}` (as in /v1/actions), in the order they were
  stored; its `id` is the stream's position after them.
- `event: behind`: more actions were waiting than one event carries (LOGSTREAM_LIVE_BATCH): the
  client is behind. Nothing is skipped: the following events carry on from where it is.
- `event: error`: a query failed (e.g. ClickHouse unavailable); the stream ends, and reconnecting
  with the last id resumes.
- Comments (`: keep-alive`) every {HEARTBEAT_S:.0f} s.

A new stream starts after the actions stored when it opens; while it stays open, no action is
skipped or repeated. Reconnecting with `Last-Event-ID: <id>` (EventSource does it by itself)
resumes after that event (an insert that overlapped the reconnect by less than
LOGSTREAM_LIVE_LOOKBACK_S may be missed then). Each client holds one event's actions and the ids
sent within the look-back in memory; a slow reader slows only its own stream.

Example event:

```
{LIVE_EXAMPLE}```"""


@router.get(LIVE_PATH, summary="Actions as they become queryable (Server-Sent Events)",
            description=LIVE_DESCRIPTION, response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}, "example": LIVE_EXAMPLE}},
                             "description": "An event stream"},
                       400: {"description": "Bad parameter, or a Last-Event-ID this stream did not send"},
                       503: {"description": "ClickHouse unavailable"}})
async def live_actions(request: Request, store: StoreDep, settings: SettingsDep, action_filter: FilterDep,
                       last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=4096)] = None,
                       ) -> StreamingResponse:
    where_sql, where_parameters = where(action_filter, None)
    limit, lookback = settings.live_batch, timedelta(seconds=settings.live_lookback_s)
    position = (decode_position(last_event_id) if last_event_id
                else await opening_position(store, where_sql, where_parameters, lookback))
    loop = asyncio.get_running_loop()

    async def events() -> AsyncIterator[bytes]:
        yield f"retry: {RETRY_MS}\n".encode() + event("ready", {"batch": limit})
        quiet_since = loop.time()
        while not await request.is_disconnected():
            try:
                # the sent ids come back too: the limit leaves room for them
                cap = limit + len(position.sent)
                rows = await store.rows(*recent_query(where_sql, where_parameters, position.newest - lookback, cap))
            except QueryError as exc:  # said in the stream; the client reconnects from its last id
                yield event("error", {"code": exc.code, "detail": exc.detail})
                return
            fresh = [row for row in rows if position.is_new(utc(row[8]), str(row[0]))][:limit]
            if fresh:
                for row in fresh:
                    position.record(utc(row[8]), str(row[0]), lookback)
                yield event("actions", {"actions": [action_out(row[:8]) for row in fresh]},
                            position.encode(str(fresh[-1][0])))
                quiet_since = loop.time()
                if len(rows) == cap:  # the poll was cut short: more are waiting
                    yield event("behind", {"detail": f"more than {limit} actions were waiting: "
                                                     "the next events carry on from here"})
                    continue
            elif loop.time() - quiet_since >= HEARTBEAT_S:
                yield b": keep-alive\n\n"
                quiet_since = loop.time()
            await asyncio.sleep(settings.live_poll_s)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
