"""SQL for the read API. Values always travel as server-side parameters; the only text that
varies is chosen from the closed set of clauses below."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from logstream.contract import ActionType
from query_api.cursor import Cursor
from query_api.filters import ActionFilter

# Every read lists actions in this order: by time, then ties by arrival (when the log was received,
# its record's place on the raw topic, the action's place in its log), action_id last for rows stored
# before migration 0011 (their action_index is 0). Total, and the same on every replay.
ARRIVAL_ORDER = "time, received_at, kafka_partition, kafka_offset, action_index, action_id"
# What a response needs, then the rest of ARRIVAL_ORDER (for the cursor of the last row).
ACTION_COLUMNS = ("action_id, event_id, user_id, session_id, type, time, time_offset, properties, "
                  "received_at, kafka_partition, kafka_offset, action_index")

# An action's time offset in seconds, from its stored text ("Z" or "+HH:MM"): its wall-clock time is
# `time + toIntervalSecond(OFFSET_SECONDS)`.
OFFSET_SECONDS = ("if(time_offset = 'Z', 0, if(substring(time_offset, 1, 1) = '-', -1, 1) * "
                  "(toInt32(substring(time_offset, 2, 2)) * 3600 + toInt32(substring(time_offset, 5, 2)) * 60))")
WALL_CLOCK = f"(time + toIntervalSecond({OFFSET_SECONDS}))"

CLAUSES = {
    "user_id": "user_id = {user_id:String}",
    "session_id": "session_id = {session_id:String}",
    # The session's users, from the `user_sessions` rollup (filled by the same inserts as `actions`):
    # with them the rows come from the projection sorted by user instead of the session_id bloom
    # filter over the whole table (a first page 136 ms -> 12 ms on the 10M dataset).
    "session_users": "user_id IN (SELECT user_id FROM user_sessions WHERE session_id = {session_id:String})",
    "types": "type IN {types:Array(String)}",
    "start": "time >= {start:DateTime64(3, 'UTC')}",
    "end": "time < {end:DateTime64(3, 'UTC')}",
    "local_start": WALL_CLOCK + " >= {local_start:DateTime64(3, 'UTC')}",
    "local_end": WALL_CLOCK + " < {local_end:DateTime64(3, 'UTC')}",
    # The keyset condition, plus a plain bound the primary key can use.
    "after": "time >= {after_time:DateTime64(3, 'UTC')} AND (" + ARRIVAL_ORDER + ") > "
             "({after_time:DateTime64(3, 'UTC')}, {after_received:DateTime64(3, 'UTC')}, {after_partition:UInt32}, "
             "{after_offset:UInt64}, {after_index:UInt32}, {after_id:UUID})",
    # A cursor from before ARRIVAL_ORDER, (time, action_id): read on in that former order (LEGACY_ORDER).
    "after_legacy": "time >= {after_time:DateTime64(3, 'UTC')} "
                    "AND (time, action_id) > ({after_time:DateTime64(3, 'UTC')}, {after_id:UUID})",
    # The same two, newest first: the rows before the cursor.
    "before": "time <= {after_time:DateTime64(3, 'UTC')} AND (" + ARRIVAL_ORDER + ") < "
              "({after_time:DateTime64(3, 'UTC')}, {after_received:DateTime64(3, 'UTC')}, {after_partition:UInt32}, "
              "{after_offset:UInt64}, {after_index:UInt32}, {after_id:UUID})",
    "before_legacy": "time <= {after_time:DateTime64(3, 'UTC')} "
                     "AND (time, action_id) < ({after_time:DateTime64(3, 'UTC')}, {after_id:UUID})",
}

KEY_ORDER = "time, action_id"  # `actions`' sorting key with the type fixed
# The order before ARRIVAL_ORDER (the key order). A listing begun with a cursor of that time goes on in it to its end
# (each page hands out a cursor of the same kind): switching orders mid-listing would repeat or skip
# the ties of a time.
LEGACY_ORDER = KEY_ORDER
ACTIONS_PAGE = "SELECT " + ACTION_COLUMNS + " FROM actions WHERE {where} ORDER BY {order} LIMIT {{limit:UInt32}}"
Order = Literal["asc", "desc"]
TYPES = tuple(t.value for t in ActionType)
# One page per type, merged. `actions` is sorted by (type, time, action_id): with the type fixed, a
# page is read in time order from where it starts (the first granules of a time range, or its last
# for newest first) instead of sorting every row of three interleaved runs. ClickHouse reads in key
# order only up to `time` for ARRIVAL_ORDER, and then reads far more than a page (10-20x the time
# of a page in key order on the 10M dataset), so each type's page is bounded first: the time of its
# last row in key order (BOUND_OF_PAGE), which the page in ARRIVAL_ORDER cannot pass (the two
# orders share `time`, and ties of that time are all kept). With no row the bound is 1970 and the
# page is empty either way.
ACTIONS_PAGE_PER_TYPE = "SELECT " + ACTION_COLUMNS + " FROM ({pages}) ORDER BY {order} LIMIT {{limit:UInt32}}"
TYPE_ROWS = "FROM actions WHERE type = {{{name}:String}} AND {where}"
BOUND_OF_PAGE = {"asc": "time <= (SELECT max(time) FROM (SELECT time {rows} ORDER BY {key} LIMIT {{limit:UInt32}}))",
                 "desc": "time >= (SELECT min(time) FROM (SELECT time {rows} ORDER BY {key} LIMIT {{limit:UInt32}}))"}
TYPE_PAGE = "SELECT " + ACTION_COLUMNS + " {rows} AND {bound} ORDER BY {order} LIMIT {{limit:UInt32}}"
# A page is first read within a window of time from where it starts (the cursor, the range's edge, or
# the table's first or last action), widened until it is full, and only then over the whole range.
# A window reads the few granules of its time from each part, where a page over the whole range
# reads each type's run: on the 10M dataset a 1-hour window's page took 23-27 ms against 90 ms for
# the page per type. The window bounds one side only, so a stale anchor costs time, never rows.
PAGE_WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=16))
WINDOW = {"asc": "time < {anchor} + toIntervalSecond({{window_s:UInt32}})",
          "desc": "time >= {anchor} - toIntervalSecond({{window_s:UInt32}})"}
TABLE_EDGE = {"asc": "(SELECT min(time) FROM actions)", "desc": "(SELECT max(time) FROM actions)"}


def order_by(columns: str, order: Order) -> str:
    return columns if order == "asc" else ", ".join(f"{column.strip()} DESC" for column in columns.split(","))


def ch_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def where(action_filter: ActionFilter, cursor: Cursor | None, order: Order = "asc",
          *, types: bool = True, session_users: bool = False) -> tuple[str, dict[str, Any]]:
    """`session_users`: narrow a session's rows by its users (CLAUSES["session_users"])."""
    parameters: dict[str, Any] = {}
    if action_filter.user_id is not None:
        parameters["user_id"] = action_filter.user_id
    if action_filter.session_id is not None:
        parameters["session_id"] = action_filter.session_id
    if action_filter.types and types:
        parameters["types"] = list(action_filter.types)
    if action_filter.start is not None:
        parameters["start"] = ch_time(action_filter.start)
    if action_filter.end is not None:
        parameters["end"] = ch_time(action_filter.end)
    if action_filter.local_start is not None:
        parameters["local_start"] = ch_time(action_filter.local_start)
    if action_filter.local_end is not None:
        parameters["local_end"] = ch_time(action_filter.local_end)
    used = [name for name in ("user_id", "session_id", "types", "start", "end", "local_start", "local_end")
            if name in parameters]
    if session_users and action_filter.session_id is not None and action_filter.user_id is None:
        used.insert(0, "session_users")
    if cursor is not None:
        parameters["after_time"] = ch_time(cursor.time)
        parameters["after_id"] = str(cursor.action_id)
        direction = "after" if order == "asc" else "before"
        if cursor.arrival is None:
            used.append(f"{direction}_legacy")
        else:
            received, partition, offset, index = cursor.arrival
            parameters.update(after_received=ch_time(received), after_partition=partition, after_offset=offset,
                              after_index=index)
            used.append(direction)
    return " AND ".join(CLAUSES[name] for name in used) or "1", parameters


def actions_page(action_filter: ActionFilter, cursor: Cursor | None, limit: int,
                 order: Order = "asc") -> tuple[str, dict[str, Any]]:
    """One more row than asked for: its presence says there is a next page. A user's or a session's
    rows come from the projection sorted by user; any other page is merged from one page per type."""
    columns = LEGACY_ORDER if cursor is not None and cursor.arrival is None else ARRIVAL_ORDER
    kinds = [t for t in TYPES if not action_filter.types or t in action_filter.types]
    if by_user(action_filter) or not kinds:  # (no known type asked for: a page of nothing)
        condition, parameters = where(action_filter, cursor, order, session_users=True)
        parameters["limit"] = limit + 1
        return ACTIONS_PAGE.format(where=condition, order=order_by(columns, order)), parameters
    condition, parameters = where(action_filter, cursor, order, types=False)
    parameters["limit"] = limit + 1
    pages = []
    for index, kind in enumerate(kinds):
        parameters[f"type_{index}"] = kind
        rows = TYPE_ROWS.format(name=f"type_{index}", where=condition)
        bound = BOUND_OF_PAGE[order].format(rows=rows, key=order_by(KEY_ORDER, order))
        pages.append(TYPE_PAGE.format(rows=rows, bound=bound, order=order_by(columns, order)))
    return ACTIONS_PAGE_PER_TYPE.format(pages=" UNION ALL ".join(pages), order=order_by(columns, order)), parameters


def page_attempts(action_filter: ActionFilter, cursor: Cursor | None, limit: int,
                  order: Order = "asc") -> list[tuple[str, dict[str, Any]]]:
    """The statements to read a page with, in turn: the page is the first that returns more than
    `limit` rows, or else the last (see PAGE_WINDOWS)."""
    whole = actions_page(action_filter, cursor, limit, order)
    if by_user(action_filter) or not set(action_filter.types or TYPES) & set(TYPES):
        return [whole]  # a user's rows come from their projection; no known type: a page of nothing
    condition, parameters = where(action_filter, cursor, order)
    parameters["limit"] = limit + 1
    columns = LEGACY_ORDER if cursor is not None and cursor.arrival is None else ARRIVAL_ORDER
    window = WINDOW[order].format(anchor=_anchor(action_filter, cursor, order))
    span = _span(action_filter, cursor, order)
    attempts = []
    for width in PAGE_WINDOWS:
        if span is not None and span <= width:  # the range is narrower: one plain read is the page
            return [*attempts, (ACTIONS_PAGE.format(where=condition, order=order_by(columns, order)), parameters)]
        sql = ACTIONS_PAGE.format(where=f"{condition} AND {window}", order=order_by(columns, order))
        attempts.append((sql, {**parameters, "window_s": int(width.total_seconds())}))
    return [*attempts, whole]


def by_user(action_filter: ActionFilter) -> bool:
    """Whether the rows are read through the projection sorted by user: a user's, or a session's."""
    return action_filter.user_id is not None or action_filter.session_id is not None


def _anchor(action_filter: ActionFilter, cursor: Cursor | None, order: Order) -> str:
    """Where a page starts: its cursor, else its range's edge, else the table's edge."""
    edge = action_filter.start if order == "asc" else action_filter.end
    if cursor is not None:
        return "{after_time:DateTime64(3, 'UTC')}"
    if edge is not None:
        return "{start:DateTime64(3, 'UTC')}" if order == "asc" else "{end:DateTime64(3, 'UTC')}"
    return TABLE_EDGE[order]


def _span(action_filter: ActionFilter, cursor: Cursor | None, order: Order) -> timedelta | None:
    """How much time is left to read, when both ends are known."""
    low, high = action_filter.start, action_filter.end
    if cursor is not None:
        low, high = (cursor.time, high) if order == "asc" else (low, cursor.time)
    return high - low if low is not None and high is not None else None
