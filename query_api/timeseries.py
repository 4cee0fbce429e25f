"""Time-series buckets aligned in an IANA time zone: where each one starts, rendered how.

A bucket runs from its start to the next bucket's start. Starts are:
- minute: every UTC minute (every zone's offset is a whole number of minutes);
- hour: every instant the zone's clock shows a whole hour, and every change of its UTC offset
  (a day with a DST change has 23 or 25 hour buckets; a 30-minute change makes a half hour);
- day, week (ISO, from Monday), month: the first instant of that local date, week or month
  (local midnight; where midnight is skipped by a DST change, the instant of the change).

Bucketing is defined here once, with the zoneinfo database; ClickHouse only sorts rows into the
buckets whose starts it is given (`roundDown(time, starts)`), so the SQL never depends on the
server's own time-zone tables.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from query_api.errors import InvalidParameterError, TooManyBucketsError


class Interval(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


# The longest a bucket of each interval can be, for a lower bound on a range's bucket count.
LONGEST_BUCKET_S = {Interval.MINUTE: 60, Interval.HOUR: 2 * 3600, Interval.DAY: 26 * 3600,
                    Interval.WEEK: 7 * 86400 + 7200, Interval.MONTH: 31 * 86400 + 7200}
# Offsets are sampled this often to find their changes: since 2000 no zone in the tz database
# changes its offset twice within 6.9 days (tests/unit/test_timeseries.py checks a day is safe).
OFFSET_SAMPLE_S = 86400


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=512)
def parse_zone(name: str) -> ZoneInfo:
    if name not in zone_names():
        raise InvalidParameterError("tz", f"not an IANA time zone: {name[:64]!r}; e.g. UTC, America/Edmonton")
    return ZoneInfo(name)


def _offset(zone: ZoneInfo, instant: int) -> int:
    return int(datetime.fromtimestamp(instant, zone).utcoffset().total_seconds())  # type: ignore[union-attr]


# A zone's offset changes are facts of the tz database, not of any answer: they are found once per
# zone and stretch of OFFSET_CHUNK_S seconds (about a year), then reused by every request in it.
OFFSET_CHUNK_S = 1 << 25


def _changes_between(zone: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int]]:
    """(instant, offset from then on) for each change of the zone's UTC offset in (lo, hi]: offsets
    sampled every OFFSET_SAMPLE_S, each change found to the second by bisection."""
    changes = []
    at, offset = lo, _offset(zone, lo)
    while at < hi:
        then = min(at + OFFSET_SAMPLE_S, hi)
        new = _offset(zone, then)
        if new != offset:
            before, after = at, then  # offset at `before`, new at `after`: bisect to the second
            while after - before > 1:
                middle = (before + after) // 2
                before, after = (middle, after) if _offset(zone, middle) == offset else (before, middle)
            changes.append((after, new))
            offset = new
        at = then
    return changes


@lru_cache(maxsize=4096)
def _chunk_changes(zone: ZoneInfo, chunk: int) -> tuple[tuple[int, int], ...]:
    return tuple(_changes_between(zone, chunk * OFFSET_CHUNK_S, (chunk + 1) * OFFSET_CHUNK_S))


def offset_changes(zone: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int]]:
    """(instant, offset from then on) for each change of the zone's UTC offset in (lo, hi]."""
    if lo >= hi:
        return []
    found = []
    for chunk in range(lo // OFFSET_CHUNK_S, (hi - 1) // OFFSET_CHUNK_S + 1):
        found += [change for change in _chunk_changes(zone, chunk) if lo < change[0] <= hi]
    return found


def _hour_boundaries(zone: ZoneInfo, lo: int, hi: int) -> list[int]:
    """Every bucket boundary in [lo, hi): whole local hours and offset changes."""
    segments = [(lo, _offset(zone, lo)), *offset_changes(zone, lo, hi)]
    boundaries: list[int] = []
    for index, (begin, offset) in enumerate(segments):
        end = segments[index + 1][0] if index + 1 < len(segments) else hi
        first = begin + (-(begin + offset)) % 3600
        if index:
            boundaries.append(begin)  # an offset change starts a bucket
            if first == begin:
                first += 3600
        boundaries.extend(range(first, end, 3600))
    return boundaries


def _next_date(day: date, interval: Interval) -> date:
    if interval is Interval.DAY:
        return day + timedelta(days=1)
    if interval is Interval.WEEK:
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _local_midnight(zone: ZoneInfo, day: date) -> int:
    # fold=0: an ambiguous midnight is its first occurrence; a skipped one maps to the change.
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Within this of an offset change, a local midnight is left to zoneinfo; farther, it is plain arithmetic.
NEAR_CHANGE_S = 2 * 86400


def _calendar_starts(zone: ZoneInfo, lo: int, hi: int, interval: Interval, limit: int) -> list[int]:
    day = datetime.fromtimestamp(lo, zone).date()
    if interval is Interval.WEEK:
        day -= timedelta(days=day.weekday())
    elif interval is Interval.MONTH:
        day = day.replace(day=1)
    # Offsets are under a day: a midnight with no offset change within two days of its local time is
    # that time minus the offset in force (zoneinfo would say the same, slower).
    since = (day.toordinal() - EPOCH_ORDINAL) * 86400 - NEAR_CHANGE_S
    offset, changes, pending = _offset(zone, since), offset_changes(zone, since, hi + 2 * NEAR_CHANGE_S), 0
    starts: list[int] = []
    while len(starts) <= limit:
        local = (day.toordinal() - EPOCH_ORDINAL) * 86400
        while pending < len(changes) and changes[pending][0] < local - NEAR_CHANGE_S:
            offset = changes[pending][1]
            pending += 1
        if pending < len(changes) and changes[pending][0] <= local + NEAR_CHANGE_S:
            start = _local_midnight(zone, day)
        else:
            start = local - offset
        if start >= hi:
            break
        starts.append(start)
        day = _next_date(day, interval)
    return starts


def bucket_starts(start: datetime, end: datetime, interval: Interval, zone: ZoneInfo, limit: int) -> list[int]:
    """Epoch seconds of the buckets covering [start, end): the first starts at or before `start`.
    More than `limit` buckets is a TooManyBucketsError saying how to narrow the request."""
    if start >= end:
        return []
    lo = int(start.timestamp() // 1)
    hi_exact = end.timestamp()
    hi = int(-(-hi_exact // 1))
    at_least = int((hi_exact - lo) // LONGEST_BUCKET_S[interval])
    if at_least > limit:
        raise _too_many(interval, f"more than {at_least:,}", limit)
    if interval is Interval.MINUTE:
        starts = list(range(lo - lo % 60, hi, 60))
    elif interval is Interval.HOUR:
        boundaries = _hour_boundaries(zone, lo - 7200, hi)
        starts = boundaries[bisect_right(boundaries, lo) - 1:]
    else:
        starts = _calendar_starts(zone, lo, hi, interval, limit)
    starts = starts[:bisect_left(starts, hi_exact)]  # those before `end` (sorted)
    if len(starts) > limit:
        raise _too_many(interval, f"at least {len(starts):,}", limit)
    return starts


def _too_many(interval: Interval, count: str, limit: int) -> TooManyBucketsError:
    coarser = {Interval.MINUTE: "hour", Interval.HOUR: "day", Interval.DAY: "week", Interval.WEEK: "month"}
    advice = f" or use interval={coarser[interval]}" if interval in coarser else ""
    return TooManyBucketsError(f"interval={interval.value} over this range gives {count} buckets, more than "
                               f"{limit:,}: narrow from/to{advice}",
                               errors=[{"path": "interval", "code": "too_many_buckets",
                                        "message": f"at most {limit:,} buckets per request"}])


def render_start(instant: int, zone: ZoneInfo) -> str:
    """2018-10-18T21:00:00-06:00: the bucket's start as the zone's clock showed it."""
    return datetime.fromtimestamp(instant, zone).isoformat()


# "THH:MM:00" for every minute of a day: most starts are on a whole minute of the local clock.
CLOCK = [f"T{minute // 60:02d}:{minute % 60:02d}:00" for minute in range(1440)]


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


@lru_cache(maxsize=64)
def _clock(offset: int) -> tuple[str, ...]:
    """"THH:MM:00<offset>" for every minute of a day, for one UTC offset."""
    suffix = _offset_text(offset)
    return tuple(text + suffix for text in CLOCK)


def render_starts(starts: list[int], zone: ZoneInfo) -> list[str]:
    """render_start() of each start (sorted), one stretch of the same UTC offset at a time."""
    if not starts:
        return []
    changes = offset_changes(zone, starts[0], starts[-1])
    segments = [(_offset(zone, starts[0]), starts[0]), *((offset, at) for at, offset in changes)]
    rendered: list[str] = []
    append = rendered.append
    first = 0
    for index, (offset, _) in enumerate(segments):
        last = bisect_left(starts, segments[index + 1][1], first) if index + 1 < len(segments) else len(starts)
        clock, suffix = _clock(offset), _offset_text(offset)
        day_number, day_text = None, ""
        for start in starts[first:last]:
            days, second = divmod(start + offset, 86400)
            if days != day_number:
                day_number, day_text = days, date.fromordinal(EPOCH_ORDINAL + days).isoformat()
            if second % 60:
                append(f"{day_text}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}{suffix}")
            else:
                append(day_text + clock[second // 60])
        first = last
    return rendered
