"""SQL for the read API. Values always travel as server-side parameters; the only text that
varies is chosen from the closed set of clauses below."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from logstream.contract import ActionType
from query_api.cursor import Cursor
from query_api.filters import ActionFilter

ACTION_COLUMNS = "action_id, event_id, user_id, session_id, type, time, time_offset, properties"

CLAUSES = {
    "user_id": "user_id = {user_id:String}",
    "session_id": "session_id = {session_id:String}",
    "types": "type IN {types:Array(String)}",
    "start": "time >= {start:DateTime64(3, 'UTC')}",
    "end": "time < {end:DateTime64(3, 'UTC')}",
    # The keyset condition, plus a plain bound the primary key can use.
    "after": "time >= {after_time:DateTime64(3, 'UTC')} "
             "AND (time, action_id) > ({after_time:DateTime64(3, 'UTC')}, {after_id:UUID})",
    # The same, newest first: the rows before the cursor.
    "before": "time <= {after_time:DateTime64(3, 'UTC')} "
              "AND (time, action_id) < ({after_time:DateTime64(3, 'UTC')}, {after_id:UUID})",
}

Order = Literal["asc", "desc"]
ORDER_BY = {"asc": "time, action_id", "desc": "time DESC, action_id DESC"}
TYPES = tuple(t.value for t in ActionType)
ACTIONS_PAGE = (
    "SELECT " + ACTION_COLUMNS + " FROM actions WHERE {where} ORDER BY {order} LIMIT {{limit:UInt32}}"
)
# One page per type, merged. `actions` is sorted by (type, time, action_id): with the type fixed, a
# page is read in order from where it starts (the first granules of a time range, or its last for
# newest first) instead of sorting every row of three interleaved runs.
ACTIONS_PAGE_PER_TYPE = "SELECT " + ACTION_COLUMNS + " FROM ({pages}) ORDER BY {order} LIMIT {{limit:UInt32}}"
TYPE_PAGE = ("SELECT " + ACTION_COLUMNS + " FROM actions WHERE type = {{{name}:String}} AND {where} "
             "ORDER BY {order} LIMIT {{limit:UInt32}}")


def ch_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def where(action_filter: ActionFilter, cursor: Cursor | None, order: Order = "asc",
          *, types: bool = True) -> tuple[str, dict[str, Any]]:
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
    used = [name for name in ("user_id", "session_id", "types", "start", "end") if name in parameters]
    if cursor is not None:
        parameters["after_time"] = ch_time(cursor.time)
        parameters["after_id"] = str(cursor.action_id)
        used.append("after" if order == "asc" else "before")
    return " AND ".join(CLAUSES[name] for name in used) or "1", parameters


def actions_page(action_filter: ActionFilter, cursor: Cursor | None, limit: int,
                 order: Order = "asc") -> tuple[str, dict[str, Any]]:
    """One more row than asked for: its presence says there is a next page. A user's rows come from
    the projection sorted by user; any other page is merged from one page per type."""
    kinds = [t for t in TYPES if not action_filter.types or t in action_filter.types]
    if action_filter.user_id is not None or not kinds:  # (no known type asked for: a page of nothing)
        condition, parameters = where(action_filter, cursor, order)
        parameters["limit"] = limit + 1
        return ACTIONS_PAGE.format(where=condition, order=ORDER_BY[order]), parameters
    condition, parameters = where(action_filter, cursor, order, types=False)
    parameters["limit"] = limit + 1
    pages = []
    for index, kind in enumerate(kinds):
        parameters[f"type_{index}"] = kind
        pages.append(TYPE_PAGE.format(name=f"type_{index}", where=condition, order=ORDER_BY[order]))
    return ACTIONS_PAGE_PER_TYPE.format(pages=" UNION ALL ".join(pages), order=ORDER_BY[order]), parameters
