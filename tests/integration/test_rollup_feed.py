"""The rollups fed after the rows (stream/rollup_feed.py): exactly once, whatever was interrupted.

Each case stores the same records through the real sink and engine as a worker would, with its
feed held back (`feed_later`) and the work cut short where a crash could cut it, then lets a fresh
sink take the batch again as Kafka would deliver it. Every rollup must then equal the rollups of a
database that stored the records once, in one go. And a read that must not wait for the feed,
the export, holds every row stored whatever the rollups hold yet.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import orjson
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from fastapi.testclient import TestClient

from logstream.clickhouse import ROLLUP_FEED_COLUMNS, WITHOUT_DEDUPLICATION, connect, migrate
from logstream.settings import ClickHouseSettings
from query_api.app import create_app
from query_api.settings import QuerySettings
from stream import batch
from stream.projections import FEED, derived_tables, merged_totals
from stream.rollup_feed import RollupFeed
from stream.sink import ClickHouseSink
from stream.split import COLUMNS, Columns, Source

ROOT = Path(__file__).resolve().parents[2]

TYPES = ("CLICK", "VIEW", "NAVIGATE")
PROPERTIES = {"CLICK": {"locationX": 1, "locationY": 2}, "VIEW": {"viewedId": "item-7"},
              "NAVIGATE": {"pageFrom": "home", "pageTo": "cart"}}


def database(chdb_dir: Path) -> Client:
    settings = ClickHouseSettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"f_{uuid.uuid4().hex[:8]}")
    migrate(settings)
    return connect(settings)


def payload(o: int, life: int = 1) -> bytes:
    """The record first published at offset `o` in the broker's `life`, as the producer writes it
    (with its eventId)."""
    return orjson.dumps({
        "eventId": str(uuid.uuid5(uuid.NAMESPACE_OID, f"feed-{o}" if life == 1 else f"feed-{o}-life-{life}")),
        "userId": f"user-{o % 7}", "sessionId": f"session-{o % 11}",
        "actions": [{"time": f"2026-03-0{1 + o % 3}T1{o % 10}:0{o % 6}:00Z", "type": kind,
                     "properties": PROPERTIES[kind]} for kind in TYPES[: 1 + o % 3]]})


def rows(count: int, first_offset: int = 0, life: int = 1) -> Columns:
    """Records at offsets first_offset.. of partition 0: each offset's record is the same in a life."""
    return batch.build((None, payload(o, life), Source("raw", 0, o))
                       for o in range(first_offset, first_offset + count)).rows


def rollups(client: Client) -> dict[str, dict[str, object]]:
    database = client.database
    return {table: merged_totals(client, database, table) for table in derived_tables(client, database)}


@pytest.fixture(scope="module")
def stored_once(chdb_dir: Path) -> dict[str, dict[str, object]]:
    client = database(chdb_dir)
    ClickHouseSink(client, max_backoff_s=1).write_now(rows(40))
    return rollups(client)


def test_rows_stored_but_never_fed_are_fed_when_the_batch_comes_again(chdb_dir: Path, stored_once: dict) -> None:
    client = database(chdb_dir)
    crashed = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    crashed.write_now(rows(40))
    actions = len(rows(40))
    assert len(crashed.take_unfed()[0]) == actions  # held for the caller, which never fed them
    assert client.query("SELECT sum(actions) FROM totals_all_time").result_rows[0][0] == 0

    again = ClickHouseSink(client, max_backoff_s=1, feed_later=True)  # a worker assigned the partition afresh
    again.write_now(rows(40))
    unfed = again.take_unfed()
    assert again.duplicates_skipped == actions and len(unfed[0]) == actions
    again.feed.feed_now(unfed)
    assert rollups(client) == stored_once


def test_a_batch_fed_in_part_feeds_only_the_rest(chdb_dir: Path, stored_once: dict) -> None:
    client = database(chdb_dir)
    first = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    first.write_now(rows(25))
    first.feed.feed_now(first.take_unfed())  # records 0-24 fed
    first.write_now(rows(15, first_offset=25))
    first.take_unfed()  # records 25-39 stored, then the worker stopped before feeding them

    again = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    again.write_now(rows(40))  # Kafka delivers from the last commit: all of it
    unfed = again.take_unfed()
    assert sorted(set(unfed[-1])) == list(range(25, 40))
    again.feed.feed_now(unfed)
    assert rollups(client) == stored_once

    again.write_now(rows(40))  # and once more: everything is stored and fed, nothing is fed twice
    again.recheck_stored()
    again.write_now(rows(40))
    assert again.take_unfed()[0] == []
    assert rollups(client) == stored_once


def test_rows_a_later_broker_life_stored_but_never_fed_are_fed_when_the_batch_comes_again(chdb_dir: Path) -> None:
    """Offsets start at 0 again in each life of the memory-only broker (and of a topic made again on
    Apache Kafka): rows a later life stored and did not feed lie below offsets an earlier life fed."""
    expected = database(chdb_dir)
    for life, count in ((1, 40), (2, 10)):
        ClickHouseSink(expected, max_backoff_s=1).write_now(rows(count, life=life))

    client = database(chdb_dir)
    ClickHouseSink(client, max_backoff_s=1).write_now(rows(40))  # the first life: stored and fed
    crashed = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    crashed.write_now(rows(10, life=2))
    crashed.take_unfed()  # the worker stopped before it fed them

    again = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    again.write_now(rows(10, life=2))
    unfed = again.take_unfed()
    assert len(unfed[0]) == len(rows(10, life=2))
    again.feed.feed_now(unfed)
    assert rollups(client) == rollups(expected)


def test_records_a_producer_published_again_are_not_fed_again(chdb_dir: Path, stored_once: dict) -> None:
    client = database(chdb_dir)
    sink = ClickHouseSink(client, max_backoff_s=1)
    sink.write_now(rows(40))
    again = batch.build(((None, payload(o), Source("raw", 0, 40 + o)) for o in range(5, 10)),
                        republished=frozenset((0, 40 + o) for o in range(5, 10)))  # at offsets 40-44
    for fresh in (sink, ClickHouseSink(client, max_backoff_s=1, feed_later=True)):
        fresh.write_now(again.rows, again.recheck_events)
        assert fresh.duplicates_skipped == len(again.rows)
    assert rollups(client) == stored_once


def test_a_batch_delivered_again_from_below_is_checked_without_a_new_assignment(chdb_dir: Path,
                                                                               stored_once: dict) -> None:
    client = database(chdb_dir)
    sink = ClickHouseSink(client, max_backoff_s=1)
    sink.write_now(rows(20))  # checked: nothing stored from offset 0
    sink.write_now(rows(20, first_offset=20))  # new from 20 on: not checked
    again = rows(30, first_offset=10)  # the consumer seeks back to 10 with no assignment in between
    sink.write_now(again)
    assert sink.duplicates_skipped == len(again)
    assert rollups(client) == stored_once


def test_feeds_keep_their_order_gather_and_drain(chdb_dir: Path, stored_once: dict) -> None:
    client = database(chdb_dir)
    sink = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    feed = RollupFeed(client, gather_s=5.0)

    async def worker() -> None:
        done = []
        for first, count in ((0, 10), (10, 20), (30, 10)):
            sink.write_now(rows(count, first_offset=first))
            done.append(feed.submit(sink.take_unfed()))
        await asyncio.sleep(0.2)
        assert not any(d.done() for d in done)  # still gathering: 5 s
        assert client.query("SELECT count() FROM fed_events").result_rows[0][0] == 0
        await asyncio.wait_for(feed.drain(), 10)  # hurries the gathered rows into one insert
        assert all(d.done() and d.exception() is None for d in done)

    asyncio.run(worker())
    assert feed.rows_fed == len(rows(40))
    assert client.query("SELECT uniqExact(event_id) FROM fed_events").result_rows[0][0] == 40
    assert rollups(client) == stored_once



def test_a_feed_retried_after_it_failed_part_of_the_way_counts_each_row_once(chdb_dir: Path,
                                                                           stored_once: dict) -> None:
    """The views commit one after another, in an order of the engine's own: a view of the test's
    own that refuses the feed leaves the rollups that ran before it fed. The retry, once the refusal
    is gone, must fill only the others."""
    client = database(chdb_dir)
    sink = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    sink.write_now(rows(40))
    unfed, token = sink.take_unfed(), uuid.uuid4()
    client.command("CREATE TABLE feed_refused (user_id String, n UInt64) ENGINE = MergeTree ORDER BY user_id")
    for attempt in range(8):  # until the refusing view runs after at least one rollup's
        client.command(f"CREATE MATERIALIZED VIEW refuse_feed_{attempt} TO feed_refused AS SELECT user_id, "
                       f"toUInt64(sum(throwIf(length(user_id) > 0, 'refused by the test'))) AS n FROM {FEED} "
                       "GROUP BY user_id")
        with pytest.raises(DatabaseError, match="refused by the test"):
            sink.feed.feed_now(unfed, token)
        client.command(f"DROP VIEW refuse_feed_{attempt}")
        fed_in_part = [table for table, totals in rollups(client).items() if table != "actions" and totals["groups"]]
        if fed_in_part:
            break
    assert fed_in_part, "the refusing view ran first every time"

    sink.feed.feed_now(unfed, token)
    assert rollups(client) == stored_once


def test_a_feed_whose_answer_was_lost_is_retried_and_counts_once(chdb_dir: Path, stored_once: dict) -> None:
    """The engine stored the feed but its answer never came (a dropped connection, a timeout): the
    feed retries, with the same token, and no rollup counts the rows twice."""
    client = database(chdb_dir)
    sink = ClickHouseSink(client, max_backoff_s=0.2, feed_later=True)
    sink.write_now(rows(40))
    insert, lost = sink.feed._insert, []

    def insert_then_lose_the_answer(data: list, settings: dict) -> None:
        insert(data, settings)
        if not lost:
            lost.append(settings["insert_deduplication_token"])
            raise ConnectionResetError("the test dropped the answer")

    sink.feed._insert = insert_then_lose_the_answer

    async def worker() -> None:
        await asyncio.wait_for(sink.feed.submit(sink.take_unfed()), 10)

    asyncio.run(worker())
    assert lost, "the first attempt's answer was dropped"
    assert rollups(client) == stored_once


def test_two_feeds_of_equal_rows_both_count(chdb_dir: Path) -> None:
    """Only a feed's own retries are dropped as repeats: two feeds of the same rows count twice, and
    so do two inserts of them without a token when they turn deduplication off; without that, the
    rollups take the second for a repeat (infra/clickhouse/0018)."""
    client = database(chdb_dir)
    sink = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    sink.write_now(rows(5))
    unfed = sink.take_unfed()
    sink.feed.feed_now(unfed)
    sink.feed.feed_now(unfed)
    total = "SELECT sum(actions) FROM totals_all_time WHERE type = ''"
    assert client.query(total).result_rows[0][0] == 2 * len(rows(5))

    def insert_without_token(settings: dict | None = None) -> None:
        client.insert(FEED, list(zip(*unfed, strict=True)), column_names=ROLLUP_FEED_COLUMNS, settings=settings)

    for _ in range(2):
        insert_without_token(WITHOUT_DEDUPLICATION)
    assert client.query(total).result_rows[0][0] == 4 * len(rows(5))
    for _ in range(2):
        insert_without_token()
    assert client.query(total).result_rows[0][0] == 5 * len(rows(5))


def test_new_ids_are_stored_as_0_and_the_feed_numbers_them(chdb_dir: Path) -> None:
    client = database(chdb_dir)
    sink = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    sink.write_now(rows(20))
    stored = client.query("SELECT countIf(user_number = 0), countIf(session_number = 0), count() FROM actions")
    zeros_users, zeros_sessions, count = stored.result_rows[0]
    assert zeros_users == zeros_sessions == count, "not numbered on the write's path"
    assert client.query("SELECT count() FROM id_numbers").result_rows[0][0] == 0

    sink.feed.feed_now(sink.take_unfed())
    numbers = dict(client.query("SELECT concat(toString(kind), ':', id), argMin(number, _block_number) "
                                "FROM id_numbers GROUP BY kind, id").result_rows)
    assert len(numbers) == 7 + 11 and 0 not in numbers.values()
    users, sessions = client.query("SELECT groupBitmapMerge(users), groupBitmapMerge(sessions) FROM totals_all_time "
                                   "WHERE type = ''").result_rows[0]
    assert (users, sessions) == (7, 11)
    fed = client.query("SELECT bitmapToArray(groupBitmapMergeState(users)) FROM totals_all_time WHERE type = ''")
    assert sorted(fed.result_rows[0][0]) == sorted(n for k, n in numbers.items() if k.startswith("user:"))

    sink.write_now(rows(20, first_offset=20))  # the same ids again: known to this writer now
    later = client.query("SELECT countIf(user_number = 0) FROM actions WHERE kafka_offset >= 20").result_rows[0][0]
    assert later == 0


def test_an_export_holds_rows_stored_but_not_yet_fed(chdb_dir: Path) -> None:
    """The export plans its windows from the per-minute rollup, which a feed fills after the rows:
    rows stored and not fed (the rollup has nothing yet, or less) are exported all the same."""
    client = database(chdb_dir)
    first, second = rows(20), rows(20, first_offset=20)
    sink = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    sink.write_now(first)
    settings = QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=client.database)
    with TestClient(create_app(settings), raise_server_exceptions=False) as query:
        def exported() -> list[str]:
            response = query.get("/v1/actions/export", params={"from": "2026-03-01", "to": "2026-03-04"})
            assert response.status_code == 200, response.text
            return [orjson.loads(line)["actionId"] for line in response.content.splitlines()]

        listed = [a["actionId"] for a in query.get("/v1/actions", params={"limit": 1000}).json()["actions"]]
        assert client.query("SELECT count() FROM actions_per_minute").result_rows[0][0] == 0
        assert len(listed) == len(first) and exported() == listed  # no rollup row: one window

        sink.feed.feed_now(sink.take_unfed())
        sink.write_now(second)  # the rollup counts the first 20 records only
        listed = [a["actionId"] for a in query.get("/v1/actions", params={"limit": 1000}).json()["actions"]]
        assert len(listed) == len(first) + len(second) and exported() == listed


def test_the_migration_keeps_what_was_fed_by_offset_as_fed_logs(chdb_dir: Path, tmp_path: Path) -> None:
    """0019 turns the highest offset fed per partition into the logs fed: those stored at or below
    it. A batch delivered again after the upgrade then feeds the others only."""
    migrations = tmp_path / "migrations"
    shutil.copytree(ROOT / "infra" / "clickhouse", migrations)
    later = {path: path.read_text() for path in migrations.iterdir() if path.name >= "0019"}
    for path in later:
        path.unlink()
    settings = ClickHouseSettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"u_{uuid.uuid4().hex[:8]}",
                                  migrations_dir=migrations)
    migrate(settings)
    client = connect(settings)
    stored = rows(40)
    client.insert("actions", stored.data, column_names=COLUMNS, column_oriented=True)
    client.command("INSERT INTO rollups_fed VALUES ('raw', 0, 24)")  # offsets 25-39: stored, not fed
    for path, text in later.items():
        path.write_text(text)
    migrate(settings)

    fed = {row[0] for row in client.query("SELECT event_id FROM fed_events").result_rows}
    assert fed == {uuid.UUID(orjson.loads(payload(o))["eventId"]) for o in range(25)}
    assert not client.query("EXISTS TABLE rollups_fed").result_rows[0][0]
    again = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    again.write_now(rows(40))
    assert sorted(set(again.take_unfed()[-1])) == list(range(25, 40))
