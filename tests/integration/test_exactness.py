"""The rollups never disagree with the raw table.

Randomized actions (out of order, late, on bucket edges, around DST changes in many zones) go
through the real sink, some batches re-delivered and one half-written first, as Kafka does after a
rebalance or crash. Then every analyst endpoint is asked randomized questions and each answer is
compared with a brute-force computation over the raw `actions` rows. Buckets are computed here by
scanning every minute for a change of the local date/hour/offset: independent of the app's code.
Set EXACTNESS_SEED to replay a failure.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient

from logstream.clickhouse import connect
from query_api.app import create_app
from query_api.queries import ARRIVAL_ORDER
from query_api.settings import QuerySettings
from stream import batch
from stream.sink import ClickHouseSink
from stream.split import Source

SEED = int(os.environ.get("EXACTNESS_SEED", time.time_ns() % 1_000_000))
ZONES = ["UTC", "America/Edmonton", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Sao_Paulo",
         "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns", "Australia/Sydney"]
# Days with DST changes in those zones (2018-2019), and a plain one.
DAYS = [date(2018, 10, 28), date(2018, 11, 4), date(2019, 3, 10), date(2019, 3, 31), date(2019, 4, 7),
        date(2019, 1, 15), date(2018, 12, 31)]
OFFSETS = ["Z", "+05:30", "-06:00", "+13:45", "-03:30", "+00:00"]
PAGES = ["home", "inventory", "communities", "é/ü", 'quo"te', "back\\slash", ""]
TYPES = ("CLICK", "VIEW", "NAVIGATE")
TYPE_SETS = [(), ("CLICK",), ("VIEW", "NAVIGATE"), ("NAVIGATE",)]


@dataclass(frozen=True)
class Row:
    action_id: str
    user: str
    session: str
    type: str
    ms: int  # epoch milliseconds, UTC
    properties: dict[str, Any]
    rank: int  # position in the reads' order (query_api.queries.ARRIVAL_ORDER), as the engine sorts it


def edge_times(rng: random.Random) -> list[datetime]:
    """Instants on local hour and midnight marks of the zones, and around them."""
    found = []
    for day in DAYS:
        for zone_name in rng.sample(ZONES, 4):
            zone = ZoneInfo(zone_name)
            mark = datetime(day.year, day.month, day.day, rng.choice([0, 1, 2, 3]), tzinfo=zone).astimezone(UTC)
            for shift_ms in (0, 1, -1, 60_000, 900_000 - 1):
                found.append(mark + timedelta(milliseconds=shift_ms))
    return found


def iso(moment: datetime, offset: str, with_ms: bool) -> str:
    if offset == "Z":
        local, suffix = moment, "Z"
    else:
        sign = -1 if offset[0] == "-" else 1
        local = moment + sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        suffix = offset
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{moment.microsecond // 1000:03d}" if with_ms else "") + suffix


def properties(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "CLICK":
        extra = {"pageTo": "not-a-navigation"} if rng.random() < 0.2 else {}
        return {"locationX": rng.randint(0, 99), "locationY": rng.random(), **extra}
    if kind == "VIEW":
        return {"viewedId": rng.choice(PAGES[:5])}
    return {"pageFrom": rng.choice(PAGES), "pageTo": rng.choice(PAGES)}


def generate(rng: random.Random) -> list[bytes]:
    """~2,500 actions in ~600 logs: 40 users, 150 sessions (one shared by two users)."""
    edges = edge_times(rng)
    sessions = [(f"user-{rng.randrange(40)}", f"session-{index}") for index in range(150)]
    sessions.append(("user-0", "session-7"))  # a sessionId sent by two users
    logs = []
    for _ in range(600):
        user, session = rng.choice(sessions)
        base = rng.choice(edges) + timedelta(milliseconds=rng.randint(-40 * 3600_000, 40 * 3600_000))
        actions = []
        for _ in range(rng.randint(1, 8)):
            later = base + timedelta(milliseconds=rng.randint(0, 600_000))
            moment = rng.choice(edges) if rng.random() < 0.15 else later
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            kind = rng.choice(TYPES)
            actions.append({"time": iso(moment, rng.choice(OFFSETS), moment.microsecond != 0 or rng.random() < 0.3),
                            "type": kind.lower() if rng.random() < 0.1 else kind,
                            "properties": properties(rng, kind)})
        logs.append(orjson.dumps({"userId": user, "sessionId": session, "eventId": str(uuid.uuid4()),
                                  "actions": actions}))
    return logs


def deliver(settings: QuerySettings, logs: list[bytes], rng: random.Random) -> None:
    """Shuffled (times out of order, late ones last or anywhere) over 3 partitions, in batches; some
    batches re-delivered after a "rebalance", one half-written by a "crashed" worker first."""
    logs = logs[:]
    rng.shuffle(logs)
    records = [(None, value, Source("raw", index % 3, index // 3)) for index, value in enumerate(logs)]
    client = connect(settings)
    sink = ClickHouseSink(client, max_backoff_s=1)
    batches, at = [], 0
    while at < len(records):
        size = rng.randint(5, 60)
        batches.append(records[at:at + size])
        at += size
    for number, records_of_batch in enumerate(batches):
        rows = batch.build(records_of_batch).rows
        if number == 3:  # a crash mid-insert: half the batch stored, then the whole batch again
            half = batch.build(records_of_batch[: len(records_of_batch) // 2]).rows
            ClickHouseSink(client, max_backoff_s=1).write_now(half)
            sink.recheck_stored()
        sink.write_now(rows)
        if rng.random() < 0.3:  # a rebalance re-delivers the uncommitted tail
            sink.recheck_stored()
            sink.write_now(rows)
    assert sink.duplicates_skipped > 0


@dataclass
class World:
    client: TestClient
    rows: list[Row]
    rng: random.Random


@pytest.fixture(scope="module")
def world(chdb_dir: Path) -> Iterator[World]:
    rng = random.Random(SEED)
    settings = QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"x_{uuid.uuid4().hex[:8]}")
    logs = generate(rng)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        deliver(settings, logs, rng)
        raw = connect(settings).query("SELECT toString(action_id), user_id, session_id, toString(type), "
                                      "toUnixTimestamp64Milli(time), properties FROM actions "
                                      "ORDER BY " + ARRIVAL_ORDER).result_rows
        rows = [Row(a, u, s, k, ms, orjson.loads(p), rank) for rank, (a, u, s, k, ms, p) in enumerate(raw)]
        assert len(rows) == sum(len(orjson.loads(log)["actions"]) for log in logs), "the raw table holds each once"
        yield World(client, rows, rng)


def get(world: World, path: str, params: dict[str, Any]) -> Any:
    response = world.client.get(path, params=params)
    assert response.status_code == 200, (SEED, path, params, response.text)
    return response.json()


def utc_text(ms: int) -> str:
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms % 1000:03d}" if ms % 1000 else "") + "Z"


def random_range(rng: random.Random, longest: timedelta) -> tuple[datetime, datetime]:
    anchor = datetime.combine(rng.choice(DAYS), datetime.min.time(), UTC)
    start = anchor + timedelta(milliseconds=rng.randint(-2 * 86400_000, 86400_000))
    if rng.random() < 0.4:
        start = start.replace(second=0, microsecond=0, minute=rng.choice([0, 15, start.minute]))
    end = start + timedelta(milliseconds=rng.randint(1, int(longest.total_seconds() * 1000)))
    return start, end


def text(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def selected(rows: list[Row], start: datetime | None = None, end: datetime | None = None, types: tuple = (),
             user: str | None = None, session: str | None = None) -> list[Row]:
    low = int(start.timestamp() * 1000) if start else -(10**15)
    high = int(end.timestamp() * 1000) if end else 10**15
    return [r for r in rows if low <= r.ms < high and (not types or r.type in types)
            and (user is None or r.user == user) and (session is None or r.session == session)]


# ---------------------------------------------------------------- time series

def label(instant: int, zone: ZoneInfo, interval: str) -> tuple:
    local = datetime.fromtimestamp(instant, zone)
    day = local.date()
    return {"minute": (instant // 60,), "hour": (day, local.hour, local.utcoffset()), "day": (day,),
            "week": (day - timedelta(days=day.weekday()),), "month": (day.year, day.month)}[interval]


def brute_starts(start: datetime, end: datetime, zone: ZoneInfo, interval: str) -> list[int]:
    """Bucket starts: every minute where the local label changes (scanned from well before)."""
    low, high = int(start.timestamp()), end.timestamp()
    minute = low - low % 60 - {"month": 32, "week": 8}.get(interval, 2) * 86400
    starts, previous = [], None
    while minute < high:
        current = label(minute, zone, interval)
        if current != previous:
            starts.append(minute)
        previous, minute = current, minute + 60
    return starts[bisect_right(starts, low) - 1:]


LONGEST = {"minute": timedelta(hours=20), "hour": timedelta(days=5), "day": timedelta(days=20),
           "week": timedelta(days=50), "month": timedelta(days=120)}


def test_timeseries(world: World) -> None:
    rng = world.rng
    for interval in ["minute"] * 6 + ["hour"] * 14 + ["day"] * 10 + ["week"] * 3 + ["month"] * 3:
        zone_name = rng.choice(ZONES)
        zone = ZoneInfo(zone_name)
        start, end = random_range(rng, LONGEST[interval])
        types = rng.choice(TYPE_SETS)
        user = rng.choice([None, None, None, f"user-{rng.randrange(40)}"])
        params = {"interval": interval, "tz": zone_name, "from": text(start), "to": text(end), "type": ",".join(types)}
        if user:
            params["userId"] = user
        body = get(world, "/v1/stats/timeseries", params)
        starts = brute_starts(start, end, zone, interval)
        counts: dict[int, Counter] = defaultdict(Counter)
        for row in selected(world.rows, start, end, types, user):
            counts[starts[bisect_right(starts, row.ms / 1000) - 1]][row.type] += 1
        shown = [t for t in TYPES if not types or t in types]
        expected = [{"start": datetime.fromtimestamp(s, zone).isoformat(), "total": sum(counts[s].values()),
                     "byType": {t: counts[s][t] for t in shown}} for s in starts]
        assert body == {"interval": interval, "tz": zone_name, "buckets": expected}, (SEED, params)


# ---------------------------------------------------------------- summary, top lists, navigation

def test_summary(world: World) -> None:
    rng = world.rng
    cases = [({}, None, None), ({"type": "view"}, None, None)]
    for _ in range(30):
        start, end = random_range(rng, rng.choice([timedelta(hours=3), timedelta(days=3), timedelta(days=200)]))
        cases.append(({}, start if rng.random() < 0.8 else None, end if rng.random() < 0.8 else None))
    for extra, start, end in cases:
        types = tuple(t.upper() for t in extra.get("type", "").split(",") if t) or rng.choice(TYPE_SETS)
        user = rng.choice([None, None, f"user-{rng.randrange(40)}"])
        params = {"type": ",".join(types), **({"from": text(start)} if start else {}),
                  **({"to": text(end)} if end else {}), **({"userId": user} if user else {})}
        rows = selected(world.rows, start, end, types, user)
        by_type = Counter(r.type for r in rows)
        expected = {"total": len(rows), "byType": {t: by_type[t] for t in TYPES if not types or t in types},
                    "uniqueUsers": len({r.user for r in rows}), "uniqueSessions": len({r.session for r in rows}),
                    "firstTime": utc_text(min(r.ms for r in rows)) if rows else None,
                    "lastTime": utc_text(max(r.ms for r in rows)) if rows else None}
        assert get(world, "/v1/stats/summary", params) == expected, (SEED, params)


def ranked(counts: Counter, limit: int) -> list[tuple[Any, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


def test_top_lists_and_navigation(world: World) -> None:
    rng = world.rng
    property_types = {"pageTo": "NAVIGATE", "pageFrom": "NAVIGATE", "viewedId": "VIEW"}
    for _ in range(40):
        dimension = rng.choice(["pageTo", "pageFrom", "viewedId", "userId", "sessionId"])
        start, end = random_range(rng, rng.choice([timedelta(hours=5), timedelta(days=4), timedelta(days=200)]))
        if rng.random() < 0.2:
            start = end = None
        types, limit = rng.choice(TYPE_SETS), rng.randint(1, 8)
        params = {"dimension": dimension, "type": ",".join(types), "limit": limit,
                  **({"from": text(start), "to": text(end)} if start and end else {})}
        rows = selected(world.rows, start, end, types)
        if dimension in property_types:
            values = Counter(r.properties[dimension] for r in rows if r.type == property_types[dimension])
        else:
            values = Counter(r.user if dimension == "userId" else r.session for r in rows)
        expected = [{"value": v, "count": n} for v, n in ranked(values, limit)]
        assert get(world, "/v1/stats/top", params) == {"dimension": dimension, "items": expected}, (SEED, params)
    for _ in range(15):
        start, end = random_range(rng, rng.choice([timedelta(hours=5), timedelta(days=4), timedelta(days=200)]))
        limit = rng.randint(1, 10)
        pairs = Counter((r.properties["pageFrom"], r.properties["pageTo"])
                        for r in selected(world.rows, start, end) if r.type == "NAVIGATE")
        expected = [{"pageFrom": f, "pageTo": t, "count": n} for (f, t), n in ranked(pairs, limit)]
        params = {"from": text(start), "to": text(end), "limit": limit}
        assert get(world, "/v1/stats/navigation", params)["transitions"] == expected, (SEED, params)


# ---------------------------------------------------------------- sessions, users, export

def test_sessions_and_users(world: World) -> None:
    rng = world.rng
    by_session: dict[str, list[Row]] = defaultdict(list)
    for row in world.rows:
        by_session[row.session].append(row)
    for session in ["session-7", *rng.sample(sorted(by_session), 12)]:
        rows = sorted(by_session[session], key=lambda r: r.rank)
        body = get(world, f"/v1/sessions/{session}", {})
        users = list(dict.fromkeys(r.user for r in rows))
        counts = Counter(r.type for r in rows)
        assert [a["actionId"] for a in body["actions"]] == [r.action_id for r in rows], (SEED, session)
        assert {k: v for k, v in body.items() if k != "actions"} == {
            "sessionId": session, "userId": users[0], "userIds": users, "firstTime": utc_text(rows[0].ms),
            "lastTime": utc_text(max(r.ms for r in rows)), "durationMs": max(r.ms for r in rows) - rows[0].ms,
            "total": len(rows), "byType": {t: counts[t] for t in TYPES}, "truncated": False}, (SEED, session)
    for user in [f"user-{n}" for n in rng.sample(range(40), 10)]:
        start, end = random_range(rng, timedelta(days=120))
        per_session: dict[str, list[Row]] = defaultdict(list)
        for row in world.rows:
            if row.user == user:
                per_session[row.session].append(row)
        newest_first = []  # by the first action's instant, not its text: "...:00Z" sorts after "...:00.001Z"
        for session, rows in per_session.items():
            first, last = min(r.ms for r in rows), max(r.ms for r in rows)
            if start.timestamp() * 1000 <= first < end.timestamp() * 1000:
                counts = Counter(r.type for r in rows)
                newest_first.append((first, session, {
                    "sessionId": session, "firstTime": utc_text(first), "lastTime": utc_text(last),
                    "durationMs": last - first, "total": len(rows), "byType": {t: counts[t] for t in TYPES}}))
        expected = [listed for _, _, listed in sorted(newest_first, key=lambda s: s[:2], reverse=True)]
        pages, cursor = [], None
        while True:
            params = {"from": text(start), "to": text(end), "limit": 2, **({"cursor": cursor} if cursor else {})}
            body = get(world, f"/v1/users/{user}/sessions", params)
            pages += body["sessions"]
            cursor = body["nextCursor"]
            if cursor is None:
                break
        assert pages == expected, (SEED, user, start, end)


def test_listings(world: World) -> None:
    """Pages in both orders, over ranges or none, through cursors: a page is read in a window of time
    first and widened (query_api.queries.PAGE_WINDOWS), which these sparse, clustered times cross."""
    rng = world.rng
    for number in range(24):
        start, end = random_range(rng, rng.choice([timedelta(minutes=30), timedelta(days=3), timedelta(days=60)]))
        bounded = number % 4 != 0
        types = rng.choice(TYPE_SETS)
        order = rng.choice(["asc", "desc"])
        limit = rng.choice([1, 7, 60, 400])
        # every third listing is a session's (read through its users), session-7 is sent by two users
        session = rng.choice(["session-7", f"session-{rng.randrange(150)}"]) if number % 3 == 0 else None
        params = {"type": ",".join(types), "order": order, "limit": limit,
                  **({"from": text(start), "to": text(end)} if bounded else {}),
                  **({"sessionId": session} if session else {})}
        listed, cursor, pages = [], None, 0
        while pages < 6:
            body = get(world, "/v1/actions", {**params, **({"cursor": cursor} if cursor else {})})
            listed += [a["actionId"] for a in body["actions"]]
            cursor, pages = body["nextCursor"], pages + 1
            if cursor is None:
                break
        rows = sorted(selected(world.rows, *((start, end) if bounded else ()), types=types, session=session),
                      key=lambda r: r.rank)
        expected = [r.action_id for r in (rows if order == "asc" else rows[::-1])]
        assert listed == expected[:len(listed)] and (cursor is not None or len(listed) == len(expected)), (
            SEED, params)
        assert len(listed) == min(len(expected), pages * limit), (SEED, params)


def test_export(world: World) -> None:
    rng = world.rng
    for _ in range(4):
        start, end = random_range(rng, timedelta(days=120))
        types = rng.choice(TYPE_SETS)
        response = world.client.get("/v1/actions/export", params={"from": text(start), "to": text(end),
                                                                   "type": ",".join(types)})
        assert response.status_code == 200
        exported = [orjson.loads(line) for line in response.content.splitlines()]
        rows = sorted(selected(world.rows, start, end, types), key=lambda r: r.rank)
        assert [a["actionId"] for a in exported] == [r.action_id for r in rows], (SEED, start, end, types)
        assert [a["properties"] for a in exported] == [r.properties for r in rows]
