"""After erasures, every answer still equals a brute force over the remaining raw rows.

The randomized world of test_exactness (late, out-of-order and re-delivered batches through the real
sink, ties, DST edges) is stored, then a few of its users are erased, with more logs stored between
erasures. The same randomized questions are asked (the test functions of test_exactness run here on
this world), and the rollups are compared, table by table, with a database that never held the erased
users. Set EXACTNESS_SEED to replay.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from logstream.clickhouse import connect, migrate
from query_api.app import create_app
from query_api.queries import ARRIVAL_ORDER
from query_api.settings import QuerySettings
from stream.erasure import Eraser
from stream.projections import derived_tables, merged_totals
from tests.integration.test_exactness import (  # noqa: F401 (the tests run again on this module's world)
    SEED,
    Row,
    World,
    deliver,
    generate,
    test_export,
    test_sessions_and_users,
    test_summary,
    test_timeseries,
    test_top_lists_and_navigation,
)


def user_of(log: bytes) -> str:
    return orjson.loads(log)["userId"]


@pytest.fixture(scope="module")
def erased_world(chdb_dir: Path) -> Iterator[tuple[World, set[str], QuerySettings, QuerySettings]]:
    rng = random.Random(SEED)
    settings = QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"e_{uuid.uuid4().hex[:8]}")
    without = QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"w_{uuid.uuid4().hex[:8]}")
    logs = generate(rng)
    session_7 = {user_of(log) for log in logs if orjson.loads(log)["sessionId"] == "session-7"}
    erased = set(rng.sample(sorted({user_of(log) for log in logs} - session_7), 3))
    kept = [log for log in logs if user_of(log) not in erased]
    first, later = logs[: len(logs) // 2], logs[len(logs) // 2:]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        migrate(without)
        deliver(without, kept, random.Random(SEED + 1))
        eraser = Eraser(connect(settings), settings.clickhouse_database, settle_s=0)
        deliver(settings, first, rng)
        victims = sorted(erased)
        eraser.erase(uuid.uuid4(), victims[0], datetime.now(UTC))
        deliver(settings, [log for log in later if user_of(log) != victims[0]], rng)  # ingestion goes on
        for victim in victims[1:]:
            eraser.erase(uuid.uuid4(), victim, datetime.now(UTC))
        raw = connect(settings).query("SELECT toString(action_id), user_id, session_id, toString(type), "
                                      "toUnixTimestamp64Milli(time), properties FROM actions "
                                      "ORDER BY " + ARRIVAL_ORDER).result_rows
        rows = [Row(a, u, s, k, ms, orjson.loads(p), rank) for rank, (a, u, s, k, ms, p) in enumerate(raw)]
        assert len(rows) == sum(len(orjson.loads(log)["actions"]) for log in kept), "every other action stays, once"
        assert not {r.user for r in rows} & erased
        yield World(client, rows, rng), erased, settings, without


@pytest.fixture(scope="module")
def world(erased_world: tuple[World, set[str], QuerySettings, QuerySettings]) -> World:
    return erased_world[0]


def test_every_rollup_equals_one_that_never_held_the_erased_users(erased_world) -> None:
    _, erased, settings, without = erased_world
    client = connect(settings)
    for table in derived_tables(client, settings.clickhouse_database):
        live = merged_totals(client, settings.clickhouse_database, table)
        never = merged_totals(client, without.clickhouse_database, table)
        assert live == never, (SEED, table, erased)  # action ids derive from the logs' eventIds: the same in both


def test_no_read_shows_an_erased_user(erased_world) -> None:
    world, erased, _, _ = erased_world
    for user in erased:
        assert world.client.get(f"/v1/users/{user}/sessions").json()["sessions"] == []
        assert world.client.get("/v1/actions", params={"userId": user}).json()["actions"] == []
        summary = world.client.get("/v1/stats/summary", params={"userId": user}).json()
        assert summary["total"] == 0 and summary["uniqueUsers"] == 0
    top_users = world.client.get("/v1/stats/top", params={"dimension": "userId", "limit": 100}).json()["items"]
    assert not {item["value"] for item in top_users} & erased


def test_erasing_again_and_erasing_an_unknown_user_complete(erased_world) -> None:
    _, erased, settings, _ = erased_world
    eraser = Eraser(connect(settings), settings.clickhouse_database, settle_s=0)
    again = eraser.erase(uuid.uuid4(), sorted(erased)[0], datetime.now(UTC))
    unknown = eraser.erase(uuid.uuid4(), "nobody-ever", datetime.now(UTC))
    assert (again.state, again.actions_erased) == ("done", 0)
    assert (unknown.state, unknown.actions_erased) == ("done", 0)
    assert eraser.erase(again.erasure_id, again.user_id, again.requested_at).state == "done"
