"""Bucket starts aligned in a time zone: DST days, half-hour zones, skipped midnights, limits."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import TZPATH, ZoneInfo, available_timezones
from zoneinfo._common import load_data, load_tzdata

import pytest

from query_api.errors import InvalidParameterError, TooManyBucketsError
from query_api.timeseries import (
    OFFSET_CHUNK_S,
    OFFSET_SAMPLE_S,
    Interval,
    _calendar_starts,
    _changes_between,
    _local_midnight,
    _next_date,
    bucket_starts,
    offset_changes,
    parse_zone,
    render_start,
    render_starts,
)


def starts(zone: str, interval: Interval, start: str, end: str, limit: int = 10_000) -> list[str]:
    tz = ZoneInfo(zone)
    found = bucket_starts(datetime.fromisoformat(start), datetime.fromisoformat(end), interval, tz, limit)
    rendered = render_starts(found, tz)
    assert rendered == [render_start(s, tz) for s in found]
    return rendered


def test_a_day_has_23_or_25_hours_across_dst() -> None:
    fall = starts("America/Edmonton", Interval.HOUR, "2018-11-04T00:00:00-06:00", "2018-11-05T00:00:00-07:00")
    assert len(fall) == 25 and fall[1:3] == ["2018-11-04T01:00:00-06:00", "2018-11-04T01:00:00-07:00"]
    spring = starts("America/Edmonton", Interval.HOUR, "2019-03-10T00:00:00-07:00", "2019-03-11T00:00:00-06:00")
    assert len(spring) == 23 and spring[2] == "2019-03-10T03:00:00-06:00"
    assert starts("Europe/Berlin", Interval.DAY, "2018-10-28T00:00:00+02:00", "2018-10-30T00:00:00+01:00") == [
        "2018-10-28T00:00:00+02:00", "2018-10-29T00:00:00+01:00"]


def test_half_hour_zones_and_half_hour_dst() -> None:
    assert starts("Asia/Kolkata", Interval.HOUR, "2019-01-01T00:10:00Z", "2019-01-01T02:00:00Z") == [
        "2019-01-01T05:00:00+05:30", "2019-01-01T06:00:00+05:30", "2019-01-01T07:00:00+05:30"]
    assert starts("Asia/Kathmandu", Interval.DAY, "2019-01-01T00:00:00Z", "2019-01-02T00:00:00Z") == [
        "2019-01-01T00:00:00+05:45", "2019-01-02T00:00:00+05:45"]
    # Lord Howe falls back half an hour at 02:00: the 01:00 hour lasts 90 minutes, then a bucket
    # starts at the change (01:30 again, now +10:30) and at 02:00.
    lord_howe = starts("Australia/Lord_Howe", Interval.HOUR, "2019-04-07T00:00:00+11:00", "2019-04-07T03:00:00+10:30")
    assert lord_howe == ["2019-04-07T00:00:00+11:00", "2019-04-07T01:00:00+11:00", "2019-04-07T01:30:00+10:30",
                         "2019-04-07T02:00:00+10:30"]


def test_a_skipped_midnight_starts_the_day_at_the_change() -> None:
    # Sao Paulo, 2018-11-04: clocks jumped from 00:00 to 01:00.
    assert starts("America/Sao_Paulo", Interval.DAY, "2018-11-03T12:00:00-03:00", "2018-11-05T00:00:00-02:00") == [
        "2018-11-03T00:00:00-03:00", "2018-11-04T01:00:00-02:00"]


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    assert starts("UTC", Interval.WEEK, "2018-10-18T12:00:00Z", "2018-11-01T00:00:00Z") == [
        "2018-10-15T00:00:00+00:00", "2018-10-22T00:00:00+00:00", "2018-10-29T00:00:00+00:00"]
    assert starts("America/Edmonton", Interval.MONTH, "2018-10-18T00:00:00Z", "2019-01-01T00:00:00-07:00") == [
        "2018-10-01T00:00:00-06:00", "2018-11-01T00:00:00-06:00", "2018-12-01T00:00:00-07:00"]


def test_too_many_buckets_says_how_to_narrow() -> None:
    with pytest.raises(TooManyBucketsError, match="narrow from/to or use interval=hour"):
        starts("UTC", Interval.MINUTE, "2018-01-01T00:00:00Z", "2018-01-08T00:00:00Z")
    assert len(starts("UTC", Interval.MINUTE, "2018-01-01T00:00:00Z", "2018-01-01T00:10:00Z", limit=10)) == 10
    with pytest.raises(TooManyBucketsError):
        starts("UTC", Interval.MINUTE, "2018-01-01T00:00:00Z", "2018-01-01T00:10:00.001Z", limit=10)
    assert starts("UTC", Interval.DAY, "2018-01-01T00:00:00Z", "2018-01-01T00:00:00Z") == []


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "", "utc "])
def test_only_iana_zones(name: str) -> None:
    with pytest.raises(InvalidParameterError):
        parse_zone(name)
    assert parse_zone("UTC") == ZoneInfo("UTC")


def _transitions(name: str) -> list[int]:
    for directory in TZPATH:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, "rb") as file:
                return list(load_data(file)[1])
    with load_tzdata(name) as file:
        return list(load_data(file)[1])


def test_no_zone_changes_its_offset_twice_within_the_sampling_step() -> None:
    """offset_changes() samples offsets every OFFSET_SAMPLE_S: it must not miss a change and its undoing."""
    since_2000 = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
    for name in available_timezones():
        times = [t for t in _transitions(name) if t >= since_2000]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps, default=OFFSET_SAMPLE_S) >= OFFSET_SAMPLE_S, name
    # beyond the files' last transition, zoneinfo follows the zone's yearly rule
    zone = ZoneInfo("America/Edmonton")
    assert len({(datetime(2090, 1, 1, tzinfo=UTC) + timedelta(days=d)).astimezone(zone).utcoffset()
                for d in range(366)}) == 2


SINCE_2000, UNTIL_2100 = 946_684_800, 4_102_444_800
SAMPLED_ZONES = ["America/Edmonton", "Australia/Lord_Howe", "America/Sao_Paulo", "Asia/Kolkata", "Pacific/Chatham",
                 "Europe/Berlin", "America/St_Johns", "Africa/Casablanca", "Asia/Tehran", "Pacific/Apia", "UTC"]


def test_offset_changes_found_per_chunk_are_those_of_the_range() -> None:
    """Changes are looked up once per zone and chunk (cached): the same as sampling the range itself,
    across chunk edges too."""
    rng = random.Random(3)
    for name in SAMPLED_ZONES:
        zone = ZoneInfo(name)
        ranges = [(edge + a, edge + b) for edge in range(SINCE_2000 // OFFSET_CHUNK_S * OFFSET_CHUNK_S, UNTIL_2100,
                                                          OFFSET_CHUNK_S * 7)
                  for a, b in ((-1, 0), (0, 1), (-200 * 86400, 200 * 86400))]
        for _ in range(30):
            lo = rng.randrange(SINCE_2000, UNTIL_2100)
            ranges.append((lo, lo + rng.choice([0, 3600, 86400, 40 * 86400, 800 * 86400])))
        for lo, hi in ranges:
            assert offset_changes(zone, lo, hi) == _changes_between(zone, lo, hi), (name, lo, hi)


def test_render_starts_is_render_start_for_any_instants() -> None:
    rng = random.Random(4)
    for name in SAMPLED_ZONES:
        zone = ZoneInfo(name)
        for _ in range(10):
            lo = rng.randrange(SINCE_2000, UNTIL_2100 - 900 * 86400)
            hours = [lo - lo % 3600 + 3600 * k for k in range(30)]
            instants = sorted(rng.sample(range(lo, lo + 900 * 86400), 60) + hours)
            assert render_starts(instants, zone) == [render_start(s, zone) for s in instants], name


def test_calendar_starts_are_zoneinfo_local_midnights() -> None:
    """Midnights far from an offset change are computed by arithmetic, the others by zoneinfo: the
    same as zoneinfo for every one, in zones whose changes fall at or across midnight too."""
    rng = random.Random(5)
    for name in [*SAMPLED_ZONES, "America/Havana", "Asia/Beirut", "America/Santiago", "Africa/Cairo", "Asia/Gaza",
                 "America/Asuncion", "Asia/Amman", "Antarctica/Troll", "Pacific/Kiritimati"]:
        zone = ZoneInfo(name)
        for _ in range(8):
            lo = rng.randrange(SINCE_2000, UNTIL_2100 - 800 * 86400)
            hi = lo + rng.randrange(1, 700 * 86400)
            for interval in (Interval.DAY, Interval.WEEK, Interval.MONTH):
                day = datetime.fromtimestamp(lo, zone).date()
                day = day - timedelta(days=day.weekday()) if interval is Interval.WEEK else day
                day = day.replace(day=1) if interval is Interval.MONTH else day
                expected = []
                while (start := _local_midnight(zone, day)) < hi:
                    expected.append(start)
                    day = _next_date(day, interval)
                assert _calendar_starts(zone, lo, hi, interval, 10_000) == expected, (name, lo, hi, interval)
