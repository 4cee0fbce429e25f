"""What the compatibility read routes share: time parameters, one query, and the renderings.

The rows come from the same parameterized query as /v1/actions (query_api.queries), ordered by time
then actionId, without pagination: these APIs had none, so a read matching more than
LOGSTREAM_COMPAT_MAX_ACTIONS actions is refused rather than silently cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import Request

from logstream.contract import EARLIEST_TIME, LATEST_TIME, render_time
from query_api.errors import InvalidParameterError, QueryError
from query_api.filters import ActionFilter
from query_api.queries import actions_page
from query_api.settings import QuerySettings
from query_api.store import Store

Row = tuple[Any, ...]  # action_id, event_id, user_id, session_id, type, time (UTC), offset, properties
MILLISECOND = timedelta(milliseconds=1)


class TooManyActionsError(QueryError):
    status, code, title = 400, "too_many_actions", "Too many actions match; narrow the filters"


# A "+" left unencoded in a query string arrives as a space: 2018-10-18T21:37:28 05:30.
DECODED_PLUS = re.compile(r"(T[\d:.,]+) (\d\d(:?\d\d)?)$")


def instant(parameter: str, text: str | None) -> datetime | None:
    """ISO 8601 with any offset (or Z); without one, or a bare date, it is UTC. Empty means absent."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(DECODED_PLUS.sub(r"\1+\2", text.strip()))
    except ValueError:
        raise InvalidParameterError(parameter, f"not an ISO 8601 time: {text[:64]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _floor_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _ceil_ms(value: datetime) -> datetime:
    floored = _floor_ms(value)
    return floored if floored == value else floored + MILLISECOND


def time_range(start: datetime | None, end: datetime | None, *,
               end_inclusive: bool) -> tuple[datetime | None, datetime | None]:
    """[start, end) as the store asks for it. Times are stored to the millisecond, so `time >= start` is
    `time >= ceil_ms(start)` and `time <= end` is `time < floor_ms(end) + 1 ms`. Bounds are clamped to
    the contract's range (nothing is stored outside it), which keeps any year the parser takes safe."""
    low = _clamp(_ceil_ms(start)) if start else None
    high = _clamp(_floor_ms(end) + MILLISECOND if end_inclusive else _ceil_ms(end)) if end else None
    return low, high


def _clamp(value: datetime) -> datetime:
    return min(max(value, EARLIEST_TIME), LATEST_TIME)


def exact_types(*names: str | None) -> tuple[str, ...]:
    """Type values matched exactly as given (they are stored upper-case, as the contract keeps them)."""
    return tuple(dict.fromkeys(name for name in names if name))


async def fetch(request: Request, *, user_id: str | None, types: Sequence[str], start: datetime | None,
                end: datetime | None) -> list[Row]:
    """Every action matching, [start, end), ordered by time then actionId."""
    settings: QuerySettings = request.app.state.settings
    store: Store = request.app.state.store
    if start is not None and end is not None and start >= end:
        return []
    cap = settings.compat_max_actions
    sql, parameters = actions_page(ActionFilter(user_id or None, None, tuple(types), start, end), None, cap)
    rows = await store.rows(sql, parameters, max_rows=cap + 1)
    if len(rows) > cap:
        raise TooManyActionsError(f"more than {cap} actions match; narrow the filters (user, type, time range)")
    return rows


def as_sent(row: Row) -> str:
    """The time with the offset it was sent with: 2018-10-18T21:37:28-06:00."""
    return render_time(row[5].replace(tzinfo=UTC), row[6])


def in_utc(row: Row) -> str:
    """The same instant in UTC with Z: 2018-10-19T03:37:28Z."""
    return render_time(row[5].replace(tzinfo=UTC), "Z")


def properties(row: Row) -> orjson.Fragment:
    return orjson.Fragment(row[7])


def action(row: Row, render: Callable[[Row], str] = as_sent) -> dict[str, Any]:
    return {"time": render(row), "type": row[4], "properties": properties(row)}


def by_session(rows: list[Row], render_action: Callable[[Row], dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (userId, sessionId), in order of its first matching action; sessions with no
    matching action do not appear."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row[2], row[3]), []).append(render_action(row))
    return [{"userId": user, "sessionId": session, "actions": actions} for (user, session), actions in groups.items()]
