"""SQL for the /v1/stats routes: counts, uniques and top lists, from rollups plus raw edges.

Each builder returns (sql, parameters) for ONE statement. What varies in the text comes from
closed sets (grains, dimensions, the action types); values are server-side parameters.
"""

from __future__ import annotations

from typing import Any, Literal

from logstream.contract import ActionType
from query_api.filters import ActionFilter
from query_api.rollups import (
    DAY_TIME,
    MINUTE_TIME,
    QUARTER_TIME,
    RAW_FILTERS,
    RAW_TIME,
    Grain,
    Ranges,
    TimeColumn,
    answerable_by_rollups,
    bounds,
    range_condition,
    raw_filters,
    split,
)

TYPES = tuple(t.value for t in ActionType)
COUNT_GRAINS = (Grain.QUARTER_HOUR, Grain.MINUTE)
SUMMARY_GRAINS = (Grain.DAY, Grain.QUARTER_HOUR, Grain.MINUTE)
UNIQUE_GRAINS = (Grain.DAY, Grain.QUARTER_HOUR)  # the grains with distinct-id bitmaps
DAY_GRAINS = (Grain.DAY,)

# grain -> (table, time column, the columns t (epoch s), type, n, first, last)
COUNT_SOURCES: dict[Grain, tuple[str, TimeColumn, str]] = {
    Grain.DAY: ("totals_per_day", DAY_TIME,
                "toUnixTimestamp(toDateTime(day, 'UTC')) AS t, type, actions AS n, first_time AS first, "
                "last_time AS last"),
    Grain.QUARTER_HOUR: ("actions_per_quarter_hour", QUARTER_TIME,
                         "toUnixTimestamp(quarter) AS t, type, actions AS n, first_time AS first, last_time AS last"),
    Grain.MINUTE: ("actions_per_minute", MINUTE_TIME,
                   "toUnixTimestamp(minute) AS t, type, actions AS n, first_time AS first, last_time AS last"),
    Grain.RAW: ("actions", RAW_TIME, "toUnixTimestamp(time) AS t, type, 1 AS n, time AS first, time AS last"),
}

# The starts travel as one string (binding a long list element by element costs more than the query).
TIMESERIES = ("SELECT roundDown(t, CAST({{starts:String}}, 'Array(UInt32)')) AS bucket, "
              + ", ".join(f"sumIf(n, type = '{kind}')" for kind in TYPES)
              + " FROM ({rows}) GROUP BY bucket")

# `kind` is the type, or '' on the uniques row (an alias named `type` would shadow the column in WHERE).
SUMMARY_COUNTS = ("SELECT type AS kind, sum(n) AS actions, min(first) AS first_time, max(last) AS last_time, "
                  "0 AS users, 0 AS sessions FROM ({rows}) GROUP BY type")
SUMMARY_ALL_TIME = (
    "SELECT type AS kind, sum(actions), min(first_time), max(last_time), 0, 0 FROM totals_all_time "
    "WHERE type IN {count_types:Array(String)} GROUP BY type UNION ALL "
    "SELECT '' AS kind, 0, toDateTime64(0, 3, 'UTC'), toDateTime64(0, 3, 'UTC'), groupBitmapMerge(users), "
    "groupBitmapMerge(sessions) FROM totals_all_time WHERE type IN {scopes:Array(String)}")
UNIQUES = ("SELECT '' AS kind, 0, toDateTime64(0, 3, 'UTC'), toDateTime64(0, 3, 'UTC'), "
           "groupBitmapMerge(u), groupBitmapMerge(s) FROM ({states})")
UNIQUES_PER_DAY = ("SELECT users AS u, sessions AS s FROM totals_per_day "
                   "WHERE type IN {{scopes:Array(String)}} AND {days}")
UNIQUES_PER_QUARTER_HOUR = ("SELECT users AS u, sessions AS s FROM uniques_per_quarter_hour "
                            "WHERE type IN {{scopes:Array(String)}} AND {quarters}")
# A row stored before its writer knew an id's number holds 0 for it (logstream.clickhouse.NUMBERED_ROWS):
# those ids' numbers come from id_numbers, found by one more pass over the raw rows (a join of every
# raw row would cost more than the rest of a summary).
UNIQUES_RAW = ("SELECT groupBitmapStateIf(user_number, user_number != 0) AS u, "
               "groupBitmapStateIf(session_number, session_number != 0) AS s FROM actions WHERE {where} UNION ALL "
               "SELECT groupBitmapStateIf(n, kind = 'user') AS u, groupBitmapStateIf(n, kind = 'session') AS s FROM "
               "(SELECT kind, argMin(number, _block_number) AS n FROM id_numbers WHERE (kind, id) IN ("
               "SELECT x.1, x.2 FROM (SELECT arrayJoin(arrayFilter(x -> x.3, [('user', user_id, user_number = 0), "
               "('session', session_id, session_number = 0)])) AS x FROM actions "
               "WHERE {where} AND (user_number = 0 OR session_number = 0))) GROUP BY kind, id)")
# A user's or session's rows come from the projection ordered by user, which holds the ids, not their numbers.
UNIQUES_OF_RAW_ONLY = ("SELECT '' AS kind, 0, toDateTime64(0, 3, 'UTC'), toDateTime64(0, 3, 'UTC'), "
                       "uniqExact(user_id), uniqExact(session_id) FROM actions WHERE {where}")

Dimension = Literal["pageTo", "pageFrom", "viewedId", "userId", "sessionId"]
# A property dimension is the property of one action type (the contract's required keys).
PROPERTY_TYPES: dict[str, str] = {"pageTo": "NAVIGATE", "pageFrom": "NAVIGATE", "viewedId": "VIEW"}
TOP_PROPERTY = """
SELECT value, sum(n) AS count FROM (
    {rollup}
    SELECT JSONExtractString(properties, {{dimension:String}}) AS value, 1 AS n FROM actions WHERE {raw}
) GROUP BY value ORDER BY count DESC, value LIMIT {{limit:UInt32}}"""
TOP_PROPERTY_ROLLUP = ("SELECT value, actions AS n FROM property_values_per_day "
                       "WHERE dimension = {{dimension:String}} AND {days} UNION ALL")
# userId / sessionId -> the column of sessions_per_day (and of actions) to rank
TOP_ID_COLUMNS = {"userId": "user_id", "sessionId": "session_id"}
TOP_ID = """
SELECT value, sum(n) AS count FROM (
    {rollup}
    SELECT {column} AS value, 1 AS n FROM actions WHERE {raw}
) GROUP BY value ORDER BY count DESC, value LIMIT {{limit:UInt32}}"""
TOP_ID_ROLLUP = "SELECT {column} AS value, actions AS n FROM sessions_per_day WHERE {where} UNION ALL"
NAVIGATION = """
SELECT page_from, page_to, sum(n) AS count FROM (
    {rollup}
    SELECT JSONExtractString(properties, 'pageFrom') AS page_from, JSONExtractString(properties, 'pageTo') AS page_to,
           1 AS n
    FROM actions WHERE type = 'NAVIGATE' AND {raw}
) GROUP BY page_from, page_to ORDER BY count DESC, page_from, page_to LIMIT {{limit:UInt32}}"""
NAVIGATION_ROLLUP = "SELECT page_from, page_to, actions AS n FROM navigation_per_day WHERE {days} UNION ALL"

NOTHING = "0"  # a condition no row meets: the raw branch when rollups cover the whole range


def pieces(action_filter: ActionFilter, grains: tuple[Grain, ...]) -> Ranges:
    start, end = bounds(action_filter)
    return split(start, end, grains if answerable_by_rollups(action_filter) else ())


def count_rows(action_filter: ActionFilter, ranges: Ranges, parameters: dict[str, Any]) -> str:
    """UNION ALL of (t, type, n, first, last) rows over the pieces: each action counted once."""
    branches = []
    for grain, spans in ranges.items():
        table, column, columns = COUNT_SOURCES[grain]
        conditions = [range_condition(column, spans, f"count_{grain.name.lower()}", parameters)]
        if grain is Grain.RAW:
            conditions += raw_filters(action_filter, parameters)
        elif grain is Grain.DAY:  # the day totals also hold rows for all types (type = '')
            parameters["count_types"] = list(action_filter.types or TYPES)
            conditions.append("type IN {count_types:Array(String)}")
        elif action_filter.types:
            parameters["types"] = list(action_filter.types)
            conditions.append(RAW_FILTERS["types"])
        branches.append(f"SELECT {columns} FROM {table} WHERE {' AND '.join(conditions)}")
    if not branches:  # an empty range
        branches.append(f"SELECT {COUNT_SOURCES[Grain.RAW][2]} FROM actions WHERE {NOTHING}")
    return " UNION ALL ".join(branches)


def timeseries(action_filter: ActionFilter, starts: list[int], grains: tuple[Grain, ...]) -> tuple[str, dict[str, Any]]:
    """Counts per bucket (one row per bucket with data: bucket start, then one count per type)."""
    parameters: dict[str, Any] = {"starts": "[" + ",".join(map(str, starts)) + "]"}
    return TIMESERIES.format(rows=count_rows(action_filter, pieces(action_filter, grains), parameters)), parameters


def _raw_where(action_filter: ActionFilter, ranges: Ranges, parameters: dict[str, Any]) -> str:
    spans = ranges.get(Grain.RAW)
    if not spans:
        return NOTHING
    return " AND ".join([range_condition(RAW_TIME, spans, "raw", parameters), *raw_filters(action_filter, parameters)])


def summary(action_filter: ActionFilter) -> tuple[str, dict[str, Any]]:
    """Rows (kind, actions, first, last, 0, 0) per type, then ('', 0, _, _, users, sessions)."""
    parameters: dict[str, Any] = {"scopes": list(action_filter.types) or [""]}
    if answerable_by_rollups(action_filter) and action_filter.start is None and action_filter.end is None:
        parameters["count_types"] = list(action_filter.types or TYPES)
        return SUMMARY_ALL_TIME, parameters
    ranges = pieces(action_filter, SUMMARY_GRAINS)
    counts = SUMMARY_COUNTS.format(rows=count_rows(action_filter, ranges, parameters))
    if not answerable_by_rollups(action_filter):
        uniques = UNIQUES_OF_RAW_ONLY.format(where=_raw_where(action_filter, ranges, parameters))
        return f"{counts} UNION ALL {uniques}", parameters
    states = []
    if Grain.DAY in ranges:
        states.append(UNIQUES_PER_DAY.format(days=range_condition(DAY_TIME, ranges[Grain.DAY], "day", parameters)))
    if Grain.QUARTER_HOUR in ranges:
        quarters = range_condition(QUARTER_TIME, ranges[Grain.QUARTER_HOUR], "quarter", parameters)
        states.append(UNIQUES_PER_QUARTER_HOUR.format(quarters=quarters))
    # distinct users and sessions come from the day and quarter-hour states and the raw rows
    rest = sorted(span for grain, spans in ranges.items() if grain not in UNIQUE_GRAINS for span in spans)
    states.append(UNIQUES_RAW.format(where=_raw_where(action_filter, {Grain.RAW: rest}, parameters)))
    return f"{counts} UNION ALL {UNIQUES.format(states=' UNION ALL '.join(states))}", parameters


def top(action_filter: ActionFilter, dimension: Dimension, limit: int) -> tuple[str, dict[str, Any]] | None:
    """The top values of a dimension with their counts; None when the type filter rules them all out."""
    parameters: dict[str, Any] = {"limit": limit}
    ranges = pieces(action_filter, DAY_GRAINS)
    if dimension in PROPERTY_TYPES:
        kind = PROPERTY_TYPES[dimension]
        if action_filter.types and kind not in action_filter.types:
            return None
        parameters["dimension"], parameters["property_type"] = dimension, kind
        raw_only = ActionFilter(start=action_filter.start, end=action_filter.end)
        raw = "type = {property_type:String} AND " + _raw_where(raw_only, ranges, parameters)
        rollup = ""
        if Grain.DAY in ranges:
            rollup = TOP_PROPERTY_ROLLUP.format(days=range_condition(DAY_TIME, ranges[Grain.DAY], "day", parameters))
        return TOP_PROPERTY.format(rollup=rollup, raw=raw), parameters
    column = TOP_ID_COLUMNS[dimension]
    rollup = ""
    if Grain.DAY in ranges:
        conditions = [range_condition(DAY_TIME, ranges[Grain.DAY], "day", parameters)]
        if action_filter.types:
            parameters["types"] = list(action_filter.types)
            conditions.append(RAW_FILTERS["types"])
        rollup = TOP_ID_ROLLUP.format(column=column, where=" AND ".join(conditions))
    raw = _raw_where(action_filter, ranges, parameters)
    return TOP_ID.format(rollup=rollup, column=column, raw=raw), parameters


def navigation(action_filter: ActionFilter, limit: int) -> tuple[str, dict[str, Any]]:
    parameters: dict[str, Any] = {"limit": limit}
    ranges = pieces(action_filter, DAY_GRAINS)
    rollup = ""
    if Grain.DAY in ranges:
        rollup = NAVIGATION_ROLLUP.format(days=range_condition(DAY_TIME, ranges[Grain.DAY], "day", parameters))
    raw = _raw_where(ActionFilter(start=action_filter.start, end=action_filter.end), ranges, parameters)
    return NAVIGATION.format(rollup=rollup, raw=raw), parameters
