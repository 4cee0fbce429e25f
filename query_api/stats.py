"""GET /v1/stats/*: time series, summary, top lists, navigation. Exact; rollups where they can
answer, the raw table where they cannot (see query_api/rollups.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import repeat
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from logstream.contract import EARLIEST_TIME, LATEST_TIME, render_time
from logstream.responses import JSONBytesResponse
from query_api import stats_queries
from query_api.deps import FilterDep, FromQuery, SettingsDep, StoreDep, ToQuery, TypeQuery, example
from query_api.errors import InvalidParameterError
from query_api.filters import ActionFilter, build_filter
from query_api.rollups import aligned_grains
from query_api.stats_queries import COUNT_GRAINS, TYPES, Dimension
from query_api.timeseries import Interval, bucket_starts, parse_zone, render_starts

router = APIRouter(tags=["stats"])

TOP_MAX_LIMIT = 1000
TopLimit = Annotated[int, Query(ge=1, le=TOP_MAX_LIMIT, description=f"How many, 1 to {TOP_MAX_LIMIT}")]


async def time_type_filter(type: TypeQuery = None, from_: FromQuery = None, to: ToQuery = None) -> ActionFilter:
    return build_filter(user_id=None, session_id=None, type_=type, start=from_, end=to)


TimeTypeFilterDep = Annotated[ActionFilter, Depends(time_type_filter)]


def utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    return render_time(value.replace(tzinfo=UTC) if value.tzinfo is None else value, "Z")


def types_of(action_filter: ActionFilter) -> tuple[str, ...]:
    return tuple(t for t in TYPES if t in action_filter.types) if action_filter.types else TYPES


TIMESERIES_EXAMPLE = {"interval": "hour", "tz": "America/Edmonton", "buckets": [
    {"start": "2018-10-18T21:00:00-06:00", "total": 3, "byType": {"CLICK": 1, "VIEW": 1, "NAVIGATE": 1}},
    {"start": "2018-10-18T22:00:00-06:00", "total": 0, "byType": {"CLICK": 0, "VIEW": 0, "NAVIGATE": 0}}]}


TIMESERIES_PATH = "/v1/stats/timeseries"  # a hot route (logstream/hot_routes.py)


@router.get(TIMESERIES_PATH, responses=example(TIMESERIES_EXAMPLE), summary="Actions per time bucket")
async def get_timeseries(
    store: StoreDep, settings: SettingsDep, action_filter: FilterDep,
    interval: Annotated[Interval, Query(description="Bucket size")] = Interval.HOUR,
    tz: Annotated[str, Query(description="IANA time zone the buckets are aligned in",
                             examples=["America/Edmonton"])] = "UTC",
) -> JSONBytesResponse:
    """Counts per bucket over [from, to), every bucket present (zero-filled), aligned in `tz`: a
    bucket starts at a whole local minute, hour (and at each UTC offset change, so a day with a
    DST change has 23 or 25 hours), local midnight, Monday or first of the month, and runs to the
    next bucket's start. The first and last buckets may be partial: only actions in [from, to)
    count. `from` and `to` are required, within [2000-01-01, 2100-01-01]; more than 10,000
    buckets (LOGSTREAM_QUERY_MAX_BUCKETS) is a 400 saying how to narrow the request."""
    zone = parse_zone(tz)
    for name, value in (("from", action_filter.start), ("to", action_filter.end)):
        if value is None:
            raise InvalidParameterError(name, "a time series needs both from and to")
        if not EARLIEST_TIME <= value <= LATEST_TIME:
            raise InvalidParameterError(name, "must be within [2000-01-01, 2100-01-01]")
    assert action_filter.start is not None and action_filter.end is not None
    starts = bucket_starts(action_filter.start, action_filter.end, interval, zone, settings.query_max_buckets)
    types = types_of(action_filter)
    counts: dict[int, tuple[int, ...]] = {}  # bucket start -> its row (start, then one count per type)
    if starts:
        grains = aligned_grains(starts[1:], COUNT_GRAINS)
        sql, parameters = stats_queries.timeseries(action_filter, starts, grains)
        counts = {row[0]: row for row in await store.rows(sql, parameters, max_rows=len(starts) + 1)}
    rows = map(counts.get, starts, repeat((0,) * (1 + len(TYPES))))
    texts = render_starts(starts, zone)
    if types == TYPES == ("CLICK", "VIEW", "NAVIGATE"):  # the common case, spelled out: it runs per bucket
        buckets = [{"start": text, "total": click + view + navigate,
                    "byType": {"CLICK": click, "VIEW": view, "NAVIGATE": navigate}}
                   for text, (_, click, view, navigate) in zip(texts, rows, strict=True)]
    else:
        columns = [1 + TYPES.index(t) for t in types]
        buckets = [{"start": text, "total": sum(row[i] for i in columns),
                    "byType": {TYPES[i - 1]: row[i] for i in columns}} for text, row in zip(texts, rows, strict=True)]
    return JSONBytesResponse({"interval": interval.value, "tz": tz, "buckets": buckets})


SUMMARY_EXAMPLE = {"total": 3, "byType": {"CLICK": 1, "VIEW": 1, "NAVIGATE": 1}, "uniqueUsers": 1,
                   "uniqueSessions": 1, "firstTime": "2018-10-19T03:37:28Z", "lastTime": "2018-10-19T03:37:30Z"}


@router.get("/v1/stats/summary", responses=example(SUMMARY_EXAMPLE), summary="Totals, exact uniques, first and last")
async def get_summary(store: StoreDep, action_filter: FilterDep) -> JSONBytesResponse:
    """Over [from, to) (both optional): actions in total and per type, EXACT counts of distinct
    users and sessions (each id has a number of its own, and numbers are counted as bitmaps: no
    hashing, no sampling, no HyperLogLog), and the first and last action's time (UTC)."""
    sql, parameters = stats_queries.summary(action_filter)
    by_type = dict.fromkeys(types_of(action_filter), 0)
    first: datetime | None = None
    last: datetime | None = None
    users = sessions = 0
    for kind, actions, first_time, last_time, distinct_users, distinct_sessions in await store.rows(sql, parameters):
        if kind == "":
            users, sessions = distinct_users, distinct_sessions
        elif actions:
            by_type[kind] = actions
            first = first_time if first is None else min(first, first_time)
            last = last_time if last is None else max(last, last_time)
    return JSONBytesResponse({"total": sum(by_type.values()), "byType": by_type, "uniqueUsers": users,
                              "uniqueSessions": sessions, "firstTime": utc_text(first), "lastTime": utc_text(last)})


TOP_EXAMPLE = {"dimension": "pageTo", "items": [{"value": "inventory", "count": 1520},
                                                {"value": "communities", "count": 873}]}


@router.get("/v1/stats/top", responses=example(TOP_EXAMPLE), summary="Most frequent values of a dimension")
async def get_top(store: StoreDep, action_filter: TimeTypeFilterDep,
                  dimension: Annotated[Dimension, Query(description="What to rank")],
                  limit: TopLimit = 10) -> JSONBytesResponse:
    """The `limit` most frequent values over [from, to) with their action counts, most frequent
    first (ties by value). `pageFrom` and `pageTo` are NAVIGATE properties and `viewedId` a VIEW
    property: a `type` filter without that type gives an empty list."""
    query = stats_queries.top(action_filter, dimension, limit)
    rows = await store.rows(*query) if query else []
    return JSONBytesResponse({"dimension": dimension, "items": [{"value": v, "count": n} for v, n in rows]})


NAVIGATION_EXAMPLE = {"transitions": [{"pageFrom": "communities", "pageTo": "inventory", "count": 412},
                                      {"pageFrom": "inventory", "pageTo": "checkout", "count": 198}]}


@router.get("/v1/stats/navigation", responses=example(NAVIGATION_EXAMPLE), summary="Most frequent page transitions")
async def get_navigation(store: StoreDep, from_: FromQuery = None, to: ToQuery = None,
                         limit: TopLimit = 10) -> JSONBytesResponse:
    """The `limit` most frequent `pageFrom -> pageTo` pairs of NAVIGATE actions in [from, to)."""
    action_filter = build_filter(user_id=None, session_id=None, type_=None, start=from_, end=to)
    rows = await store.rows(*stats_queries.navigation(action_filter, limit))
    return JSONBytesResponse({"transitions": [{"pageFrom": f, "pageTo": t, "count": n} for f, t, n in rows]})
