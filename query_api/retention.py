"""GET /v1/stats/retention: cohorts of users by the period of their first `start` action, and for
each later period the share of the cohort with a `return` action in it. Exact, periods aligned
in the zone by query_api/timeseries.py: one pass over who acted in each quarter hour of the range
(user_activity_per_quarter_hour) when the steps are plain types, and over the raw rows for the
range's unaligned edges and for steps with property conditions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from logstream.responses import JSONBytesResponse
from query_api.deps import FromQuery, SettingsDep, StoreDep, ToQuery, example
from query_api.errors import TooManyBucketsError, TooManyPeriodsError
from query_api.funnels import required_range, share
from query_api.rollups import QUARTER_TIME, RAW_TIME, Grain, aligned_grains, millis, range_condition, split
from query_api.steps import Step, parse_optional_step
from query_api.timeseries import Interval, bucket_starts, parse_zone, render_starts

router = APIRouter(tags=["stats"])

MAX_PERIODS = 400  # a triangle of 400 periods has 80,200 cells

# Per (cohort period, period of a return action): distinct users. Each user once per period it
# returned in, from its cohort's period on; cohort sizes on the rows whose second column is 0.
RETENTION = """
SELECT cohort, returned, count() FROM (
    SELECT minIf(period, is_start) AS cohort, groupUniqArrayIf(period, is_return) AS periods
    FROM ({rows})
    WHERE is_start OR is_return
    GROUP BY user_id
    HAVING max(is_start)
) ARRAY JOIN arrayPushFront(arrayFilter(p -> p >= cohort, periods), toUInt32(0)) AS returned
GROUP BY cohort, returned
"""
# (user, period, is_start, is_return) per action, or per user and quarter hour from the rollup
RAW_ROWS = """
SELECT user_id, roundDown(toUnixTimestamp(time), CAST({{starts:String}}, 'Array(UInt32)')) AS period,
       {start} AS is_start, {back} AS is_return
FROM actions WHERE {where}"""
QUARTER_ROWS = """
SELECT user_id, roundDown(toUnixTimestamp(quarter), CAST({{starts:String}}, 'Array(UInt32)')) AS period,
       {start} AS is_start, {back} AS is_return
FROM user_activity_per_quarter_hour WHERE {where}"""
ANY_ACTION = "1"
TYPES = "type IN {types:Array(String)}"
# the type bits of user_activity_per_quarter_hour.types (0007_user_activity_per_quarter_hour.sql)
TYPE_BITS = {"CLICK": 0, "VIEW": 1, "NAVIGATE": 2}
HAS_TYPE = "bitTest(types, {bit})"
QUARTER = (Grain.QUARTER_HOUR,)


class RetentionInterval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def rollup_condition(step: Step | None) -> str:
    return ANY_ACTION if step is None else HAS_TYPE.format(bit=TYPE_BITS[step.type])


def retention_sql(first: Step | None, back: Step | None, starts: list[int], start: datetime, end: datetime
                  ) -> tuple[str, dict[str, Any]]:
    """The quarter-hour rollup covers the aligned middle of the range when both steps are plain
    types and every period starts on a quarter hour; the raw rows cover the rest."""
    parameters: dict[str, Any] = {"starts": "[" + ",".join(map(str, starts)) + "]"}
    plain = all(step is None or not step.conditions for step in (first, back))
    grains = aligned_grains(starts[1:], QUARTER) if plain else ()
    ranges = split(millis(start), millis(end), grains)
    branches = []
    if Grain.QUARTER_HOUR in ranges:
        where = range_condition(QUARTER_TIME, ranges[Grain.QUARTER_HOUR], "quarter", parameters)
        branches.append(QUARTER_ROWS.format(start=rollup_condition(first), back=rollup_condition(back), where=where))
    if Grain.RAW in ranges:
        conditions = [range_condition(RAW_TIME, ranges[Grain.RAW], "raw", parameters)]
        if first and back:  # only then can rows of the other types be skipped
            parameters["types"] = sorted({first.type, back.type})
            conditions.append(TYPES)
        branches.append(RAW_ROWS.format(start=first.sql("first", parameters) if first else ANY_ACTION,
                                        back=back.sql("back", parameters) if back else ANY_ACTION,
                                        where=" AND ".join(conditions)))
    return RETENTION.format(rows=" UNION ALL ".join(branches)), parameters


RETENTION_EXAMPLE = {
    "interval": "week", "tz": "America/Edmonton", "start": None, "return": "NAVIGATE:pageTo=checkout",
    "cohorts": [
        {"start": "2026-09-07T00:00:00-06:00", "users": 1200, "retained": [310, 412, 208],
         "shares": [0.25833333333333336, 0.3433333333333333, 0.17333333333333334]},
        {"start": "2026-09-14T00:00:00-06:00", "users": 950, "retained": [254, 301], "shares": [
            0.2673684210526316, 0.3168421052631579]},
        {"start": "2026-09-21T00:00:00-06:00", "users": 0, "retained": [0], "shares": [None]}]}
StepQuery = Annotated[str | None, Query(description="A step (as in /v1/stats/funnel); default: any action",
                                        examples=["NAVIGATE:pageTo=checkout"])]


@router.get("/v1/stats/retention", responses=example(RETENTION_EXAMPLE), summary="Cohort retention triangle")
async def get_retention(
    store: StoreDep, settings: SettingsDep, from_: FromQuery = None, to: ToQuery = None,
    interval: Annotated[RetentionInterval, Query(description="Period size")] = RetentionInterval.WEEK,
    tz: Annotated[str, Query(description="IANA time zone the periods are aligned in",
                             examples=["America/Edmonton"])] = "UTC",
    start: StepQuery = None, return_: Annotated[str | None, Query(
        alias="return", description="A step (as in /v1/stats/funnel); default: any action",
        examples=["CLICK"])] = None,
) -> JSONBytesResponse:
    """**Periods** are days, ISO weeks (from Monday) or months in `tz`, from local midnight to the
    next (DST-correct, as the buckets of /v1/stats/timeseries): the first is the one holding
    `from`, the last the one holding the last instant before `to`. Only actions in [from, to)
    count, so the first and last periods may be partial. At most 400 periods (`too_many_periods`).

    **Cohorts.** A user's cohort is the period of their first `start` action in the range
    (`start` and `return` are steps as in /v1/stats/funnel, e.g. `NAVIGATE:pageTo=signup`; by
    default any action). Every period has a cohort, empty ones included.

    **Retained.** For a cohort of period c, `retained[n]` is how many of its users have a `return`
    action in period c + n (n = 0 is the cohort's own period: before or after their first `start`
    action in it), and `shares[n]` that over the cohort's size (null for an empty cohort). A
    cohort has one figure per period from its own to the last: a triangle.
    """
    first, back = parse_optional_step("start", start), parse_optional_step("return", return_)
    begin, end = required_range(from_, to)
    zone = parse_zone(tz)
    limit = min(MAX_PERIODS, settings.query_max_buckets)
    try:
        starts = bucket_starts(begin, end, Interval(interval.value), zone, limit)
    except TooManyBucketsError as exc:  # said in this endpoint's terms
        raise TooManyPeriodsError(f"interval={interval.value} over this range gives more than {limit} periods: "
                                  "narrow from/to or use a longer interval",
                                  errors=[{"path": "interval", "code": "too_many_periods",
                                           "message": f"at most {limit} periods"}]) from exc
    counts: dict[tuple[int, int], int] = {}
    if starts and begin < end:
        sql, parameters = retention_sql(first, back, starts, begin, end)
        cells = len(starts) * (len(starts) + 1) // 2 + len(starts)  # the triangle and the cohort sizes
        counts = {(cohort, returned): n for cohort, returned, n in await store.rows(sql, parameters, max_rows=cells)}
    cohorts = []
    for index, (cohort, text) in enumerate(zip(starts, render_starts(starts, zone), strict=True)):
        users = counts.get((cohort, 0), 0)
        retained = [counts.get((cohort, later), 0) for later in starts[index:]]
        cohorts.append({"start": text, "users": users, "retained": retained,
                        "shares": [share(n, users) for n in retained]})
    return JSONBytesResponse({"interval": interval.value, "tz": tz, "start": first.text if first else None,
                              "return": back.text if back else None, "cohorts": cohorts})
