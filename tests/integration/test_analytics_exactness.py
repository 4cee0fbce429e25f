"""Funnels, retention and paths never disagree with a brute force over the raw rows.

Randomized actions (many users and sessions, late and out-of-order delivery through the real sink,
ties in time, pairs of actions exactly a window apart, times around DST changes in several zones)
are stored; then each endpoint is asked randomized questions and every answer is compared with a
computation in plain Python over the raw `actions` rows, written from the definitions in the API
docs (query_api/funnels.py, retention.py, paths.py), not from the SQL. Set EXACTNESS_SEED to replay.
"""

from __future__ import annotations

import random
import uuid
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient

from logstream.clickhouse import connect
from query_api.app import create_app
from query_api.settings import QuerySettings
from tests.integration.test_exactness import (
    DAYS,
    OFFSETS,
    SEED,
    ZONES,
    Row,
    brute_starts,
    deliver,
    edge_times,
    iso,
    text,
)

PAGES = ["home", "inventory", "cart", "checkout", "é/ü", 'quo"te', "back\\slash;x", "inv"]
TYPES = ("CLICK", "VIEW", "NAVIGATE")
WINDOWS = {"1": 1, "60s": 60, "10m": 600, "1h": 3600, "1d": 86400, "7d": 7 * 86400}


def properties(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "CLICK":
        return {"locationX": rng.randint(0, 3), "locationY": 1, **({"pageTo": "cart"} if rng.random() < 0.2 else {})}
    if kind == "VIEW":
        return {"viewedId": rng.choice(["item-1", "item-12", "item-2"])}
    return {"pageFrom": rng.choice(PAGES), "pageTo": rng.choice(PAGES)}


def generate(rng: random.Random) -> list[bytes]:
    """~3,000 actions in ~500 logs: 30 users, 120 sessions (one shared by two users), each log a
    burst of actions minutes apart, some at the same millisecond, some exactly a window apart."""
    edges = edge_times(rng)
    sessions = [(f"user-{rng.randrange(30)}", f"session-{index}") for index in range(120)]
    sessions.append(("user-0", "session-7"))
    anchors = {session: rng.choice(edges) + timedelta(hours=rng.randint(-30, 30)) for _, session in sessions}
    logs = []
    for _ in range(500):
        user, session = rng.choice(sessions)
        moment = anchors[session] + timedelta(milliseconds=rng.randint(0, 3 * 86400_000))
        actions = []
        for _ in range(rng.randint(1, 12)):
            gap = rng.choice([0, 0, 1, 999, 60_000, 600_000, rng.randint(0, 900_000), 3600_000, 86400_000])
            moment = rng.choice(edges) if rng.random() < 0.05 else moment + timedelta(milliseconds=gap)
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            kind = rng.choice(TYPES)
            actions.append({"time": iso(moment, rng.choice(OFFSETS), True), "type": kind,
                            "properties": properties(rng, kind)})
        logs.append(orjson.dumps({"userId": user, "sessionId": session, "eventId": str(uuid.uuid4()),
                                  "actions": actions}))
    return logs


@dataclass
class World:
    client: TestClient
    rows: list[Row]  # in order of (time, action_id)
    rng: random.Random


@pytest.fixture(scope="module")
def world(chdb_dir: Path) -> Iterator[World]:
    rng = random.Random(SEED + 15)
    settings = QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"f_{uuid.uuid4().hex[:8]}")
    logs = generate(rng)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        deliver(settings, logs, rng)
        raw = connect(settings).query("SELECT toString(action_id), user_id, session_id, toString(type), "
                                      "toUnixTimestamp64Milli(time), properties FROM actions "
                                      "ORDER BY time, action_id").result_rows
        rows = [Row(a, u, s, k, ms, orjson.loads(p), rank) for rank, (a, u, s, k, ms, p) in enumerate(raw)]
        assert len(rows) == sum(len(orjson.loads(log)["actions"]) for log in logs)
        yield World(client, rows, rng)


def get(world: World, path: str, params: dict[str, Any]) -> Any:
    response = world.client.get(path, params=params)
    assert response.status_code == 200, (SEED, path, params, response.text)
    return response.json()


def random_range(rng: random.Random) -> tuple[datetime, datetime]:
    anchor = datetime.combine(rng.choice(DAYS), datetime.min.time(), UTC)
    start = anchor + timedelta(milliseconds=rng.randint(-3 * 86400_000, 2 * 86400_000))
    if rng.random() < 0.3:
        start = start.replace(minute=0, second=0, microsecond=0)
    return start, start + timedelta(milliseconds=rng.randint(3600_000, 9 * 86400_000))


def in_range(rows: list[Row], start: datetime, end: datetime) -> list[Row]:
    low, high = start.timestamp() * 1000, end.timestamp() * 1000
    return [r for r in rows if low <= r.ms < high]


# ---------------------------------------------------------------- steps

Spec = tuple[str, str, list[tuple[str, str, str]]]  # (text, type, [(key, operator, value)])

STEP_CHOICES: list[Spec] = [
    ("NAVIGATE:pageTo=inventory", "NAVIGATE", [("pageTo", "=", "inventory")]),
    ("navigate:pageTo^=inv", "NAVIGATE", [("pageTo", "^=", "inv")]),
    ("NAVIGATE:pageFrom=home;pageTo=cart", "NAVIGATE", [("pageFrom", "=", "home"), ("pageTo", "=", "cart")]),
    ("NAVIGATE:pageTo=back\\\\slash\\;x", "NAVIGATE", [("pageTo", "=", "back\\slash;x")]),
    ("NAVIGATE:pageTo=é/ü", "NAVIGATE", [("pageTo", "=", "é/ü")]),
    ("NAVIGATE", "NAVIGATE", []),
    ("VIEW", "VIEW", []),
    ("VIEW:viewedId^=item-1", "VIEW", [("viewedId", "^=", "item-1")]),
    ("CLICK", "CLICK", []),
    ("CLICK:pageTo=cart", "CLICK", [("pageTo", "=", "cart")]),
    ("CLICK:locationX=1", "CLICK", [("locationX", "=", "1")]),  # a number: never matches a string condition
]


def matches(spec: Spec, row: Row) -> bool:
    _, kind, conditions = spec
    if row.type != kind:
        return False
    for key, operator, value in conditions:
        found = row.properties.get(key)
        if not isinstance(found, str) or not (found == value if operator == "=" else found.startswith(value)):
            return False
    return True


# ---------------------------------------------------------------- funnels

def strict_chain(events: list[Row], steps: list[Spec], window_ms: int) -> list[int]:
    """The conversion reaching the highest step whose first action is the latest; each later step
    the earliest matching action strictly later than the previous step (same millisecond: not after)."""
    best: list[int] = []
    for first in events:
        if not matches(steps[0], first):
            continue
        chain = [first.ms]
        for step in steps[1:]:
            found = next((row.ms for row in events if row.ms > chain[-1] and matches(step, row)), None)
            if found is None or found - first.ms > window_ms:
                break
            chain.append(found)
        if len(chain) >= len(best):
            best = chain
    return best


def any_chain(events: list[Row], steps: list[Spec], window_ms: int) -> list[int]:
    """The first millisecond ending a span of at most the window with the most steps; each step at
    its latest action in that span."""
    best: list[int] = []
    for last in events:
        latest = {}
        for row in events:
            if last.ms - window_ms <= row.ms <= last.ms:
                for number, step in enumerate(steps):
                    if matches(step, row):
                        latest[number] = max(latest.get(number, row.ms), row.ms)
        if len(latest) > len(best):
            best = sorted(latest.values())
    return best


def nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    return ordered[-(-len(ordered) * percent // 100) - 1]


def expected_steps(chains: list[list[int]], steps: list[Spec], strict: bool) -> list[dict[str, Any]]:
    rows, first = [], sum(1 for c in chains if c)
    previous = first
    for number in range(1, len(steps) + 1):
        reached = [c for c in chains if len(c) >= number]
        gaps = [c[number - 1] - c[number - 2] for c in reached] if number > 1 else []
        rows.append({"step": number, "spec": steps[number - 1][0] if strict else None, "entered": len(reached),
                     "conversionFromFirst": len(reached) / first if first else None,
                     "conversionFromPrevious": len(reached) / previous if previous else None,
                     "medianMsFromPrevious": nearest_rank(gaps, 50) if gaps else None,
                     "p90MsFromPrevious": nearest_rank(gaps, 90) if gaps else None})
        previous = len(reached)
    return rows


def test_funnels(world: World) -> None:
    rng = world.rng
    for case in range(60):
        steps = [rng.choice(STEP_CHOICES) for _ in range(rng.choice([1, 2, 3, 3, 4, 5, 10]))]
        window_text = rng.choice(list(WINDOWS))
        window_ms = WINDOWS[window_text] * 1000
        by, order = rng.choice(["user", "session"]), rng.choice(["strict", "any"])
        start, end = random_range(rng)
        interval = rng.choice([None, None, "day", "week"])
        zone_name = rng.choice(ZONES)
        params: dict[str, Any] = {"steps": [s[0] for s in steps], "window": window_text, "by": by, "order": order,
                                  "from": text(start), "to": text(end)}
        if interval:
            params.update(interval=interval, tz=zone_name)
        entities: dict[str, list[Row]] = defaultdict(list)
        for row in in_range(world.rows, start, end):
            entities[row.user if by == "user" else row.session].append(row)
        chain_of = strict_chain if order == "strict" else any_chain
        chains = [chain_of(events, steps, window_ms) for events in entities.values()]
        expected: dict[str, Any] = {"by": by, "order": order, "windowSeconds": window_ms // 1000,
                                    "steps": expected_steps(chains, steps, order == "strict")}
        if interval:
            zone = ZoneInfo(zone_name)
            starts = brute_starts(start, end, zone, interval)
            per: dict[int, list[list[int]]] = defaultdict(list)
            for chain in chains:
                if chain:
                    per[starts[bisect_right(starts, chain[0] / 1000) - 1]].append(chain)
            expected.update(interval=interval, tz=zone_name, periods=[
                {"start": datetime.fromtimestamp(s, zone).isoformat(),
                 "steps": expected_steps(per[s], steps, order == "strict")} for s in starts])
        assert get(world, "/v1/stats/funnel", params) == expected, (SEED, case, params)


# ---------------------------------------------------------------- retention

def test_retention(world: World) -> None:
    rng = world.rng
    starts_choices: list[Spec | None] = [None, None, *STEP_CHOICES]
    for case in range(40):
        interval = rng.choice(["day", "day", "week", "month"])
        zone_name = rng.choice(ZONES)
        zone = ZoneInfo(zone_name)
        start, end = random_range(rng)
        if interval != "day":
            end = start + timedelta(days=rng.randint(1, 70))
        first, back = rng.choice(starts_choices), rng.choice(starts_choices)
        params: dict[str, Any] = {"interval": interval, "tz": zone_name, "from": text(start), "to": text(end),
                                  **({"start": first[0]} if first else {}), **({"return": back[0]} if back else {})}
        starts = brute_starts(start, end, zone, interval)

        def period(row: Row, starts: list[int] = starts) -> int:
            return bisect_right(starts, row.ms / 1000) - 1

        cohort: dict[str, int] = {}
        returns: dict[str, set[int]] = defaultdict(set)
        for row in in_range(world.rows, start, end):  # in order: the first start action sets the cohort
            if (first is None or matches(first, row)) and row.user not in cohort:
                cohort[row.user] = period(row)
            if back is None or matches(back, row):
                returns[row.user].add(period(row))
        cohorts = []
        for index, at in enumerate(starts):
            members = [u for u, c in cohort.items() if c == index]
            retained = [sum(1 for u in members if later in returns[u]) for later in range(index, len(starts))]
            cohorts.append({"start": datetime.fromtimestamp(at, zone).isoformat(), "users": len(members),
                            "retained": retained,
                            "shares": [n / len(members) if members else None for n in retained]})
        expected = {"interval": interval, "tz": zone_name, "start": first[0] if first else None,
                    "return": back[0] if back else None, "cohorts": cohorts}
        assert get(world, "/v1/stats/retention", params) == expected, (SEED, case, params)


# ---------------------------------------------------------------- paths

def test_paths(world: World) -> None:
    rng = world.rng
    for case in range(40):
        start, end = random_range(rng)
        page, depth, limit = rng.choice(PAGES), rng.randint(1, 6), rng.randint(1, 12)
        towards = rng.random() < 0.5
        sessions: dict[str, list[Row]] = defaultdict(list)
        for row in in_range(world.rows, start, end):
            if row.type == "NAVIGATE":
                sessions[row.session].append(row)
        paths: Counter[tuple[str, ...]] = Counter()
        for navigations in sessions.values():
            pages = [navigations[0].properties["pageFrom"]] + [n.properties["pageTo"] for n in navigations]
            if page in pages:
                at = pages.index(page)
                paths[tuple(pages[max(0, at - depth): at + 1] if towards else pages[at: at + depth + 1])] += 1
        ranked = sorted(paths.items(), key=lambda item: (-item[1], [p.encode() for p in item[0]]))[:limit]
        params = {"from": text(start), "to": text(end), "depth": depth, "limit": limit,
                  ("end" if towards else "start"): page}
        expected = {"start": None if towards else page, "end": page if towards else None, "depth": depth,
                    "paths": [{"pages": list(p), "sessions": n} for p, n in ranked]}
        assert get(world, "/v1/stats/paths", params) == expected, (SEED, case, params)
