"""Which rows answer which part of a time range: rollups for the aligned middle, raw edges.

A range [from, to) is split into pieces: the longest middle that whole rollup rows cover (days,
quarter hours or minutes, in UTC), then finer rollups for what is left at each end, then the raw
table for the sub-minute edges. Each action falls in exactly one piece, so adding the pieces'
aggregates (sum, min, max, bitmaps of id numbers) gives exactly the answer over the raw table.

The SQL text that varies is built only from the closed set of grains and columns below, with
numbered parameters; every value travels as a server-side parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from logstream.contract import EARLIEST_TIME, LATEST_TIME
from query_api.filters import ActionFilter


class Grain(Enum):
    DAY = 86_400_000
    QUARTER_HOUR = 900_000
    MINUTE = 60_000
    RAW = 1

    @property
    def ms(self) -> int:
        return self.value


@dataclass(frozen=True)
class TimeColumn:
    """A grain's time column and the ClickHouse type its bounds are passed as."""

    name: str
    type: str

    def bound(self, millis: int) -> str:
        moment = datetime.fromtimestamp(millis / 1000, UTC)
        if self.type == "Date":
            return moment.strftime("%Y-%m-%d")
        if self.type.startswith("DateTime64"):
            return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return moment.strftime("%Y-%m-%d %H:%M:%S")


RAW_TIME = TimeColumn("time", "DateTime64(3, 'UTC')")
MINUTE_TIME = TimeColumn("minute", "DateTime('UTC')")
QUARTER_TIME = TimeColumn("quarter", "DateTime('UTC')")
DAY_TIME = TimeColumn("day", "Date")

Ranges = dict[Grain, list[tuple[int, int]]]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def millis(value: datetime) -> int:
    """Epoch milliseconds, rounded up: a stored (millisecond) time t is >= value iff t >= millis(value)."""
    return -(-((value - EPOCH) // timedelta(microseconds=1)) // 1000)


def bounds(action_filter: ActionFilter) -> tuple[int, int]:
    """The filter's [from, to) in epoch milliseconds, within the times an action can have."""
    earliest, latest = millis(EARLIEST_TIME), millis(LATEST_TIME)
    start = max(millis(action_filter.start), earliest) if action_filter.start else earliest
    end = min(millis(action_filter.end), latest) if action_filter.end else latest
    return start, max(start, end)


def split(start: int, end: int, grains: tuple[Grain, ...]) -> Ranges:
    """[start, end) as disjoint ranges per grain: coarse in the middle, finer toward the edges,
    RAW for whatever no grain covers."""
    pieces: Ranges = {}
    _split(start, end, grains, pieces)
    return pieces


def _split(start: int, end: int, grains: tuple[Grain, ...], pieces: Ranges) -> None:
    if start >= end:
        return
    if not grains:
        pieces.setdefault(Grain.RAW, []).append((start, end))
        return
    size = grains[0].ms
    low, high = -(-start // size) * size, end // size * size
    if low >= high:
        _split(start, end, grains[1:], pieces)
        return
    pieces.setdefault(grains[0], []).append((low, high))
    _split(start, low, grains[1:], pieces)
    _split(high, end, grains[1:], pieces)


def aligned_grains(boundaries: list[int], candidates: tuple[Grain, ...]) -> tuple[Grain, ...]:
    """The grains whose rows never straddle one of these boundaries (epoch seconds)."""
    step = math.gcd(*boundaries)  # every boundary is a multiple of n iff their gcd is (0 when there are none)
    return tuple(g for g in candidates if step % (g.ms // 1000) == 0)


def range_condition(column: TimeColumn, ranges: list[tuple[int, int]], prefix: str,
                    parameters: dict[str, Any]) -> str:
    """`(col >= lo AND col < hi) OR ...` for each range, with its bounds added to `parameters`."""
    clauses = []
    for index, (low, high) in enumerate(ranges):
        lo_name, hi_name = f"{prefix}_lo_{index}", f"{prefix}_hi_{index}"
        if lo_name in parameters or hi_name in parameters:
            raise ValueError(f"parameter prefix {prefix!r} used twice in one statement")
        parameters[lo_name], parameters[hi_name] = column.bound(low), column.bound(high)
        name, kind = column.name, column.type
        clauses.append(f"({name} >= {{{lo_name}:{kind}}} AND {name} < {{{hi_name}:{kind}}})")
    return "(" + " OR ".join(clauses) + ")"


RAW_FILTERS = {
    "user_id": "user_id = {user_id:String}",
    "session_id": "session_id = {session_id:String}",
    "types": "type IN {types:Array(String)}",
}


def raw_filters(action_filter: ActionFilter, parameters: dict[str, Any]) -> list[str]:
    """The filter's non-time conditions on the raw table."""
    clauses = []
    if action_filter.user_id is not None:
        parameters["user_id"] = action_filter.user_id
        clauses.append(RAW_FILTERS["user_id"])
    if action_filter.session_id is not None:
        parameters["session_id"] = action_filter.session_id
        clauses.append(RAW_FILTERS["session_id"])
    if action_filter.types:
        parameters["types"] = list(action_filter.types)
        clauses.append(RAW_FILTERS["types"])
    return clauses


def answerable_by_rollups(action_filter: ActionFilter) -> bool:
    """Rollups are per type and time only: a user or session filter goes to the raw table."""
    return action_filter.user_id is None and action_filter.session_id is None
