"""GET /v1/stats/funnel: of the users (or sessions) who entered the first step, how many went
on to each next one within the window, and how fast. Exact: one pass over the raw rows of the
range (query_api/funnel_queries.py), no sampling."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from logstream.contract import EARLIEST_TIME, LATEST_TIME
from logstream.responses import JSONBytesResponse
from query_api import funnel_queries as q
from query_api.deps import FromQuery, SettingsDep, StoreDep, ToQuery, example
from query_api.errors import InvalidParameterError, TooManyStepsError, WindowOutOfRangeError
from query_api.filters import parse_time
from query_api.queries import ch_time
from query_api.steps import Step, parse_step
from query_api.timeseries import Interval, bucket_starts, parse_zone, render_starts

router = APIRouter(tags=["stats"])

MAX_STEPS = 10
WINDOW_MIN_S, WINDOW_MAX_S = 1, 90 * 86400
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
ENTITY_COLUMNS = {"user": "user_id", "session": "session_id"}


class By(StrEnum):
    USER = "user"
    SESSION = "session"


class Order(StrEnum):
    STRICT = "strict"
    ANY = "any"


class PeriodInterval(StrEnum):
    DAY = "day"
    WEEK = "week"


def parse_window(text: str) -> int:
    """Seconds: `3600`, `3600s`, `30m`, `12h` or `14d`; 1 second to 90 days."""
    match = re.fullmatch(r"\s*(\d{1,9})\s*([smhd]?)\s*", text)
    if match is None:
        raise WindowOutOfRangeError(f"window: {text[:32]!r} is not a duration such as 3600, 90s, 30m, 12h or 14d",
                                    errors=[{"path": "window", "code": "window_out_of_range",
                                             "message": "a whole number of s, m, h or d"}])
    seconds = int(match.group(1)) * UNITS[match.group(2) or "s"]
    if not WINDOW_MIN_S <= seconds <= WINDOW_MAX_S:
        raise WindowOutOfRangeError(f"window: {seconds:,} s is outside 1 second to 90 days",
                                    errors=[{"path": "window", "code": "window_out_of_range",
                                             "message": "from 1s to 90d"}])
    return seconds


def parse_steps(texts: list[str]) -> list[Step]:
    if not texts:
        raise InvalidParameterError("steps", "give at least one step, e.g. steps=NAVIGATE:pageTo=inventory&steps=VIEW")
    if len(texts) > MAX_STEPS:
        raise TooManyStepsError(f"steps: {len(texts)} steps, at most {MAX_STEPS}",
                                errors=[{"path": "steps", "code": "too_many_steps",
                                         "message": f"at most {MAX_STEPS} steps"}])
    return [parse_step(f"steps[{index}]", text) for index, text in enumerate(texts, 1)]


def required_range(start_text: str | None, end_text: str | None) -> tuple[datetime, datetime]:
    """[from, to): both required, within [2000-01-01, 2100-01-01], from not after to."""
    values = []
    for name, text in (("from", start_text), ("to", end_text)):
        value = parse_time(name, text)
        if value is None:
            raise InvalidParameterError(name, "required: both from and to")
        if not EARLIEST_TIME <= value <= LATEST_TIME:
            raise InvalidParameterError(name, "must be within [2000-01-01, 2100-01-01]")
        values.append(value)
    if values[0] > values[1]:
        raise InvalidParameterError("from", "from must not be after to")
    return values[0], values[1]


def funnel_sql(steps: list[Step], by: By, order: Order, window_s: int, start: datetime, end: datetime,
               starts: list[int] | None) -> tuple[str, dict[str, Any]]:
    parameters: dict[str, Any] = {"types": sorted({s.type for s in steps}), "start": ch_time(start),
                                  "end": ch_time(end), "window": window_s * 1000}
    mask = " + ".join(f"{1 << index} * {step.sql(f's{index}', parameters)}" for index, step in enumerate(steps))
    events = q.EVENTS.format(entity=ENTITY_COLUMNS[by], mask=f"toUInt16({mask})")  # at most 10 bits
    chains = (q.strict_chains if order is Order.STRICT else q.any_chains)(events, len(steps))
    if starts is None:
        return q.STEP_COUNTS.format(period=q.WHOLE_RANGE, chains=chains, group_by=q.GROUP_BY_STEP), parameters
    parameters["starts"] = "[" + ",".join(map(str, starts)) + "]"
    return q.STEP_COUNTS.format(period=q.PERIOD, chains=chains, group_by=q.GROUP_BY_PERIOD_AND_STEP), parameters


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def step_rows(steps: list[Step], order: Order, counts: dict[int, tuple[int, int, int]]) -> list[dict[str, Any]]:
    """counts: step -> (entered, median ms, p90 ms)."""
    first = counts.get(1, (0, 0, 0))[0]
    rows, previous = [], first
    for number in range(1, len(steps) + 1):
        entered, median, p90 = counts.get(number, (0, 0, 0))
        timed = number > 1 and entered > 0
        rows.append({"step": number, "spec": steps[number - 1].text if order is Order.STRICT else None,
                     "entered": entered, "conversionFromFirst": share(entered, first),
                     "conversionFromPrevious": share(entered, previous),
                     "medianMsFromPrevious": median if timed else None, "p90MsFromPrevious": p90 if timed else None})
        previous = entered
    return rows


FUNNEL_EXAMPLE = {
    "by": "user", "order": "strict", "windowSeconds": 86400,
    "steps": [
        {"step": 1, "spec": "NAVIGATE:pageTo=inventory", "entered": 1200, "conversionFromFirst": 1.0,
         "conversionFromPrevious": 1.0, "medianMsFromPrevious": None, "p90MsFromPrevious": None},
        {"step": 2, "spec": "VIEW", "entered": 900, "conversionFromFirst": 0.75, "conversionFromPrevious": 0.75,
         "medianMsFromPrevious": 20113, "p90MsFromPrevious": 98410},
        {"step": 3, "spec": "CLICK", "entered": 810, "conversionFromFirst": 0.675, "conversionFromPrevious": 0.9,
         "medianMsFromPrevious": 19870, "p90MsFromPrevious": 61002}]}

StepsQuery = Annotated[list[str], Query(description=f"One step per parameter, in order; 1 to {MAX_STEPS}",
                                        examples=[["NAVIGATE:pageTo=inventory", "VIEW", "CLICK"]])]


@router.get("/v1/stats/funnel", responses=example(FUNNEL_EXAMPLE), summary="Conversion through ordered steps")
async def get_funnel(
    store: StoreDep, settings: SettingsDep, steps: StepsQuery, from_: FromQuery = None, to: ToQuery = None,
    window: Annotated[str, Query(description="Longest time from the first step to the last: 1s to 90d "
                                             "(seconds, or with a unit s, m, h, d)", examples=["1d"])] = "1d",
    by: Annotated[By, Query(description="Who converts: a user (userId) or a session (sessionId)")] = By.USER,
    order: Annotated[Order, Query(description="strict: steps in the given order; any: in any order")] = Order.STRICT,
    interval: Annotated[PeriodInterval | None, Query(description="Also per period of the first step")] = None,
    tz: Annotated[str, Query(description="IANA time zone the periods are aligned in",
                             examples=["America/Edmonton"])] = "UTC",
) -> JSONBytesResponse:
    """**Steps.** Each `steps` parameter is one step, `TYPE[:condition[;condition...]]`: an action
    of that type whose string properties meet every condition, `key=value` (equal) or
    `key^=prefix` (starts with), e.g. `NAVIGATE:pageTo=inventory`, `VIEW:viewedId^=item-1`. A
    value is compared as sent, case-sensitively; `\\;` in a value is a `;`, `\\\\` a backslash. A bad
    step is a 400 (`invalid_step`) naming it and its position (`steps[2]`); more than 10 steps is
    `too_many_steps`; a window outside 1 s to 90 days is `window_out_of_range`.

    **Time.** Only actions in [from, to) count: every step of a conversion lies in the range (one
    started before `from` or finished at or after `to` is cut there). Times are compared to the
    millisecond, and actions at the same millisecond are simultaneous: none is before another.

    **strict** (default): a conversion is a first-step action, then an action of step 2 strictly
    later, then one of step 3 strictly later than that, and so on; other actions may come between.
    Its last step is at most `window` after its first (edges included: exactly `window` later
    still counts). An entity enters step k if it has a conversion reaching step k. The times
    reported are those of its conversion that reaches its highest step and starts latest, each
    later step being the earliest matching action strictly after the previous step.

    **any**: the steps in any order within one window: an entity enters step k when one span of
    at most `window` (edges included) holds actions matching k different steps (an action
    matching several steps enters each of them). Step k of the answer means "any k of the steps"
    (`spec` is null). The times reported are those of the first millisecond that ends a span with
    the most steps, each step at its latest action in that span, in time order.

    **Answer.** Per step: `entered` (entities), `conversionFromFirst` and `conversionFromPrevious`
    (shares; null when dividing by 0), and the median and 90th percentile of the milliseconds from
    the previous step over the entities that entered it, nearest-rank (the smallest time that at
    least 50 % / 90 % of them took no longer than; null for step 1). With `interval`, also per
    day or ISO week in `tz` (DST-correct, as in /v1/stats/timeseries): each entity counted in
    the period of its conversion's first step, so the periods add up to the totals.
    """
    parsed = parse_steps(steps)
    window_s = parse_window(window)
    start, end = required_range(from_, to)
    zone = parse_zone(tz)
    starts = bucket_starts(start, end, Interval(interval.value), zone, settings.query_max_buckets) if interval else None
    rows: list[tuple[Any, ...]] = []
    if start < end and (starts is None or starts):
        sql, parameters = funnel_sql(parsed, by, order, window_s, start, end, starts)
        rows = await store.rows(sql, parameters, max_rows=(len(starts or ()) + 1) * len(parsed))
    totals: dict[int, tuple[int, int, int]] = {}
    per_period: dict[int, dict[int, tuple[int, int, int]]] = {}
    for period, step, entered, median, p90 in rows:
        (totals if period == 0 else per_period.setdefault(period, {}))[step] = (entered, median, p90)
    body: dict[str, Any] = {"by": by.value, "order": order.value, "windowSeconds": window_s,
                            "steps": step_rows(parsed, order, totals)}
    if starts is not None:
        body["interval"], body["tz"] = interval.value, tz  # type: ignore[union-attr]
        body["periods"] = [{"start": text, "steps": step_rows(parsed, order, per_period.get(s, {}))}
                           for s, text in zip(starts, render_starts(starts, zone), strict=True)]
    return JSONBytesResponse(body)
