"""What the compatibility read routes share: time parameters, one query, and the renderings.

The rows come from the same parameterized query as /v1/actions (query_api.queries), ordered by time
then by arrival (ARRIVAL_ORDER), without pagination: these APIs had none, so a read matching more than
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


def parsed_time(parameter: str, text: str | None) -> datetime | None:
    """ISO 8601, as written: aware if it has an offset (or Z), naive if not. Empty means absent."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(DECODED_PLUS.sub(r"\1+\2", text.strip()))
    except ValueError:
        raise InvalidParameterError(parameter, f"not an ISO 8601 time: {text[:64]!r}") from None


def instant(parameter: str, text: str | None) -> datetime | None:
    """ISO 8601 with any offset (or Z); without one, or a bare date, it is UTC. Empty means absent."""
    parsed = parsed_time(parameter, text)
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# A full time with its offset: date, hours, minutes, seconds (fractions allowed), then Z or +HH:MM.
FULL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([.,]\d+)?(Z|z|[+-]\d\d:\d\d)")


def full_instant(parameter: str, text: str | None) -> datetime | None:
    """`instant`, for a service whose format required the whole time and its offset: anything less
    (a bare date, no seconds, no offset) is refused, not guessed."""
    if text and FULL_TIME.fullmatch(DECODED_PLUS.sub(r"\1+\2", text.strip())) is None:
        raise InvalidParameterError(parameter, f"not a full time with an offset, e.g. 2018-10-18T21:37:28-06:00: "
                                               f"{text[:64]!r}")
    return instant(parameter, text)


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
                end: datetime | None, local_start: datetime | None = None,
                local_end: datetime | None = None) -> list[Row]:
    """Every action matching, [start, end) as instants and [local_start, local_end) as wall-clock times
    (see ActionFilter), in the order of every read (query_api.queries.ACTIONS_PAGE)."""
    settings: QuerySettings = request.app.state.settings
    store: Store = request.app.state.store
    if any(low is not None and high is not None and low >= high
           for low, high in ((start, end), (local_start, local_end))):
        return []
    cap = settings.compat_max_actions
    action_filter = ActionFilter(user_id or None, None, tuple(types), start, end, local_start, local_end)
    sql, parameters = actions_page(action_filter, None, cap)
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
