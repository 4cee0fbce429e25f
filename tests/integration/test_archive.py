"""The archive keeps each record once per broker life, and a replay of it rebuilds what the sink
stored: on the real engine (chDB), through the stream's own build, archive and sink."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import orjson
import pytest
from clickhouse_connect.driver.client import Client

from cli.dlq import main as dlq_main
from logstream.clickhouse import connect, migrate
from logstream.contract import Problem
from logstream.kafka import REPUBLISHED_HEADER
from stream import batch
from stream.archive import Archive, Record
from stream.dlq import DeadLetter
from stream.projections import derived_tables, differences
from stream.replay import ArchiveSource, Cursor, Rebuild, fresh_database, replay
from stream.settings import StreamSettings
from stream.sink import ClickHouseSink
from stream.split import Source
from stream.swap import catch_up, copy_late_rows, engine_now, exchange, swap
from tests.fixtures import example

TOPIC = "logstream.logs.raw.v1"


@pytest.fixture
def settings(chdb_dir: Path) -> StreamSettings:
    settings = StreamSettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"a_{uuid.uuid4().hex[:8]}")
    migrate(settings)
    return settings


def stream_like(client: Client, life: uuid.UUID, records: list[Record], sink: ClickHouseSink | None = None) -> None:
    """What BatchProcessor does with one batch: build, archive, dead letters, sink."""
    archive = Archive(client, lambda: life, max_backoff_s=1)
    built = batch.build(((r.key, r.value, r.source) for r in records),
                        republished=frozenset((r.source.partition, r.source.offset) for r in records
                                              if r.headers and r.headers[0][0] == REPUBLISHED_HEADER))
    archive.write_now(records, built.rows)
    archive.write_letters_now(built.dead)
    (sink or ClickHouseSink(client, max_backoff_s=1)).write_now(built.rows, built.recheck_events)


def log_record(offset: int, partition: int = 0, event_id: str | None = None, republished: bool = False,
               user: str = "u") -> Record:
    document = example(userId=f"{user}{offset % 7}", eventId=event_id or str(uuid.uuid4()))
    headers = [(REPUBLISHED_HEADER, b"1")] if republished else []
    return Record(b"k", orjson.dumps(document), headers, Source(TOPIC, partition, offset, 1_700_000_000_000))


def archived(client: Client) -> list[tuple]:
    return sorted(client.query("SELECT topic_id, partition, offset FROM raw_events").result_rows)


def test_each_record_is_archived_once_per_broker_life(settings: StreamSettings) -> None:
    client = connect(settings)
    first, second = uuid.uuid4(), uuid.uuid4()
    records = [log_record(offset) for offset in range(10)]
    rows = batch.build((r.key, r.value, r.source) for r in records).rows
    archive = Archive(client, lambda: first, max_backoff_s=1)
    archive.write_now(records[:6], rows)  # a first attempt stored part of the batch
    archive.recheck_stored()  # then Kafka re-delivers all of it
    assert archive.write_now(records, rows) == 4
    assert archive.write_now(records[8:], rows) == 0  # still checking: the stored tail is found
    restarted = Archive(client, lambda: second, max_backoff_s=1)  # the broker restarted: offsets from 0 again
    assert restarted.write_now(records[:3], rows) == 3
    assert archived(client) == sorted([(first, 0, o) for o in range(10)] + [(second, 0, o) for o in range(3)])
    stored = client.query("SELECT value, headers, event_id, timestamp_ms FROM raw_events WHERE offset = 1 "
                          "AND topic_id = {l:UUID}", parameters={"l": str(first)}, column_formats={"value": "bytes"})
    value, headers, event_id, stamp = stored.result_rows[0]
    assert value == records[1].value and headers == [] and stamp == 1_700_000_000_000
    assert str(event_id) == orjson.loads(records[1].value)["eventId"]


def test_dead_letters_are_archived_once_and_listed_by_logstream_dlq(
        settings: StreamSettings, capsys: pytest.CaptureFixture[str]) -> None:
    client = connect(settings)
    archive = Archive(client, lambda: uuid.UUID(int=7), max_backoff_s=1)
    problem = Problem("userId", "missing_property", "Field required")
    letter = DeadLetter("schema_violation", [problem], Source(TOPIC, 2, 40), b"k", b'{"sessionId": "s"}')
    assert archive.write_letters_now([letter]) == 1
    assert archive.write_letters_now([letter]) == 0  # a send retried after a partial failure
    rows = client.query("SELECT source_partition, source_offset, reason, value FROM dead_letters").result_rows
    assert rows == [(2, 40, "schema_violation", '{"sessionId": "s"}')]

    assert dlq_main(["list", "--archive", "--json"], settings) == 0
    listed = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["letter"], e["reason"], e["source"], e["errors"]) for e in listed] == [
        ("2:40@00000000", "schema_violation", f"{TOPIC}/2/40", [problem.as_dict()])]
    assert dlq_main(["show", "--archive", "2:40@00000000"], settings) == 0
    assert orjson.loads(capsys.readouterr().out)["original"] == {"sessionId": "s"}


def test_replay_rebuilds_what_the_stream_stored_across_lives_retries_and_dead_letters(
        settings: StreamSettings) -> None:
    client = connect(settings)
    first, second = uuid.uuid4(), uuid.uuid4()
    life_one = [log_record(o, p) for p in range(2) for o in range(300)]
    retried = log_record(300, 0, event_id=orjson.loads(life_one[5].value)["eventId"], republished=True)
    foreign = Record(None, orjson.dumps({k: v for k, v in example(userId="f").items()}), [], Source(TOPIC, 1, 300))
    junk = Record(None, b"{not json", [], Source(TOPIC, 1, 301))
    for p in range(2):
        part = [r for r in life_one if r.source.partition == p]
        stream_like(client, first, part[:150])
        stream_like(client, first, part[100:])  # re-delivered after a worker kill: archive and sink skip them
    stream_like(client, first, [retried])
    stream_like(client, first, [foreign, junk])
    # the broker restarted: offsets from 0 again. A log without eventId at a position of life one is
    # not the log life one held there: it is stored, by the sink as by the replay. The same record
    # again (its bytes and timestamp too: a producer's retry) derives the same ids and is skipped.
    life_two = [log_record(o, 0, user="v") for o in range(50)]
    other = Record(None, orjson.dumps(example(userId="g")), [], Source(TOPIC, 1, 300, 1_700_000_060_000))
    stream_like(client, second, life_two + [other])
    stream_like(client, second, [other])

    rebuilt = settings.model_copy(update={"clickhouse_database": settings.clickhouse_database + "_replay"})
    migrate(rebuilt)
    rebuild = Rebuild(connect(rebuilt), live_database=settings.clickhouse_database, max_record_bytes=1 << 20,
                      max_future=None)
    cursor = Cursor()
    replay(ArchiveSource(client, TOPIC, database=settings.clickhouse_database, page=64), rebuild, cursor)

    assert cursor.lives == [first, second]
    assert rebuild.records == 600 + 3 + 51 and rebuild.dead_letters == 1
    assert differences(client, settings.clickhouse_database, rebuilt.clickhouse_database) == []
    assert "totals_per_day" in derived_tables(client, rebuilt.clickhouse_database)
    for database in (settings.clickhouse_database, rebuilt.clickhouse_database):
        count = client.query(f"SELECT count(), uniqExact(action_id) FROM {database}.actions")
        assert count.result_rows[0] == (3 * (600 + 1 + 51), 3 * (600 + 1 + 51))
        users = client.query(f"SELECT DISTINCT user_id FROM {database}.actions WHERE user_id IN ('f', 'g')")
        assert sorted(u for u, in users.result_rows) == ["f", "g"]

    client.command(f"ALTER TABLE {settings.clickhouse_database}.actions DELETE WHERE kafka_offset = 7 "
                   "SETTINGS mutations_sync = 1")  # a projection damaged: verify says where
    found = differences(client, settings.clickhouse_database, rebuilt.clickhouse_database)
    assert any(line.startswith("actions on 2018-10-19 of type CLICK") for line in found), found
    assert any(line.startswith("actions.rows:") for line in found), found


def test_replay_restores_each_actions_index_and_its_logs_property_rules(settings: StreamSettings) -> None:
    """Ties are read by arrival (action_index), and seed 002's logs keep their properties as sent
    (`propertyRules` in the raw record): a replay from the archive rebuilds both."""
    client = connect(settings)
    as_sent = {"userId": "p", "sessionId": "s", "eventId": str(uuid.uuid4()), "receivedAt": "2018-10-19T03:37:31.020Z",
               "propertyRules": "as-sent",
               "actions": [{"time": "2018-10-18T21:37:30-06:00", "type": "VIEW", "properties": {"viewID": "x"}},
                           {"time": "2018-10-18T21:37:30-06:00", "type": "click", "properties": {}}]}
    records = [log_record(0), Record(b"p", orjson.dumps(as_sent), [], Source(TOPIC, 0, 1, 1_700_000_000_000))]
    stream_like(client, uuid.uuid4(), records)
    rebuilt = fresh_database(settings, settings.clickhouse_database + "_replay")
    replay(ArchiveSource(client, TOPIC, database=settings.clickhouse_database),
           Rebuild(connect(rebuilt), live_database=settings.clickhouse_database, max_record_bytes=1 << 20,
                   max_future=None), Cursor())

    query = ("SELECT kafka_offset, action_index, property_rules, type, properties FROM {db:Identifier}.actions "
             "ORDER BY kafka_offset, action_index")
    live = client.query(query, parameters={"db": settings.clickhouse_database}).result_rows
    assert live == client.query(query, parameters={"db": rebuilt.clickhouse_database}).result_rows
    assert [row[:3] for row in live] == [(0, 0, ""), (0, 1, ""), (0, 2, ""), (1, 0, "as-sent"), (1, 1, "as-sent")]
    assert [(row[3], orjson.loads(row[4])) for row in live[3:]] == [("VIEW", {"viewID": "x"}), ("CLICK", {})]


NEW_ROLLUP = """
CREATE TABLE IF NOT EXISTS clicks_per_user
(
    user_id String,
    clicks  SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS clicks_per_user_mv TO clicks_per_user AS
SELECT user_id, count() AS clicks FROM actions WHERE type = 'CLICK' GROUP BY user_id;
"""


def test_a_rollup_added_by_a_migration_is_filled_by_replay_over_old_data(chdb_dir: Path, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(StreamSettings().migrations_dir, migrations)
    settings = StreamSettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"m_{uuid.uuid4().hex[:8]}",
                              migrations_dir=migrations)
    migrate(settings)
    client = connect(settings)
    life = uuid.uuid4()
    stream_like(client, life, [log_record(o, 0, user="old") for o in range(70)])  # before the new rollup
    (migrations / "0099_clicks_per_user.sql").write_text(NEW_ROLLUP)
    migrate(settings)  # no backfill: the live rollup sees new rows only
    stream_like(client, life, [log_record(o, 0, user="new") for o in range(70, 77)])
    live_clicks = client.query("SELECT sum(clicks) FROM clicks_per_user").result_rows[0][0]
    assert live_clicks == 7

    rebuilt = fresh_database(settings, settings.clickhouse_database + "_replay")
    rebuild = Rebuild(connect(rebuilt), live_database=settings.clickhouse_database, max_record_bytes=1 << 20,
                      max_future=None)
    replay(ArchiveSource(client, TOPIC, database=settings.clickhouse_database), rebuild, Cursor())

    filled = client.query(f"SELECT user_id, sum(clicks) FROM {rebuilt.clickhouse_database}.clicks_per_user "
                          "GROUP BY user_id ORDER BY user_id").result_rows
    expected = client.query("SELECT user_id, count() FROM actions WHERE type = 'CLICK' GROUP BY user_id "
                            "ORDER BY user_id").result_rows
    assert filled == expected and sum(n for _, n in filled) == 77
    found = differences(client, settings.clickhouse_database, rebuilt.clickhouse_database)
    assert found and all(line.startswith("clicks_per_user.") for line in found), found


def test_swap_keeps_every_action_once_and_the_views_fill_the_rebuilt_rollups(settings: StreamSettings) -> None:
    client = connect(settings)
    live, life = settings.clickhouse_database, uuid.uuid4()
    sink = ClickHouseSink(client, max_backoff_s=1)  # the live stream's sink, verified state and all
    stream_like(client, life, [log_record(o) for o in range(100)], sink)
    since = engine_now(client)
    rebuilt = fresh_database(settings, live + "_replay")
    rebuild = Rebuild(connect(rebuilt), live_database=live, max_record_bytes=1 << 20, max_future=None)
    source, cursor = ArchiveSource(client, TOPIC, database=live, page=16), Cursor()
    replay(source, rebuild, cursor)
    stream_like(client, life, [log_record(o) for o in range(100, 130)], sink)  # arrived during the rebuild
    in_flight = [log_record(o) for o in range(130, 140)]  # archived; the stream has not inserted them yet
    rows = batch.build((r.key, r.value, r.source) for r in in_flight).rows
    Archive(client, lambda: life, max_backoff_s=1).write_now(in_flight, rows)

    copied = swap(client, live, rebuilt.clickhouse_database, source, rebuild, cursor, since, gap=0, settle_s=0)

    assert copied == 0 and cursor.after(life, 0) == 129, "the catch-up stops before what the stream has not stored"
    sink.write_now(rows)  # the stream goes on: into the rebuilt tables, which are live now
    stream_like(client, life, [log_record(o) for o in range(140, 150)], sink)
    ids = [row[0] for row in client.query("SELECT action_id FROM actions").result_rows]
    assert len(ids) == len(set(ids)) == 150 * 3
    totals = client.query("SELECT sum(actions) FROM totals_all_time WHERE type = ''").result_rows[0][0]
    assert totals == 150 * 3, "the live views fill the rollups that were swapped in"
    again = fresh_database(settings, live + "_again")
    again_rebuild = Rebuild(connect(again), live_database=live, max_record_bytes=1 << 20, max_future=None)
    replay(ArchiveSource(client, TOPIC, database=live), again_rebuild, Cursor())
    assert differences(client, live, again.clickhouse_database) == []


def test_rows_the_stream_stored_in_the_old_tables_during_the_swap_are_copied_once(
        settings: StreamSettings) -> None:
    client = connect(settings)
    live, life = settings.clickhouse_database, uuid.uuid4()
    sink = ClickHouseSink(client, max_backoff_s=1)
    stream_like(client, life, [log_record(o) for o in range(50)], sink)
    since = engine_now(client)
    rebuilt = fresh_database(settings, live + "_replay")
    rebuild = Rebuild(connect(rebuilt), live_database=live, max_record_bytes=1 << 20, max_future=None)
    source, cursor = ArchiveSource(client, TOPIC, database=live), Cursor()
    replay(source, rebuild, cursor)
    catch_up(client, live, source, rebuild, cursor, gap=0)
    # after the last round, before the exchange; new users, stored before the feed numbered them
    stream_like(client, life, [log_record(o, user="w") for o in range(50, 60)], sink)
    exchange(client, live, rebuilt.clickhouse_database)

    assert copy_late_rows(client, live, rebuilt.clickhouse_database, since, settle_s=0) == 30
    assert copy_late_rows(client, live, rebuilt.clickhouse_database, since, settle_s=0) == 0
    count, distinct = client.query("SELECT count(), uniqExact(action_id) FROM actions").result_rows[0]
    assert count == distinct == 60 * 3
    assert client.query("SELECT sum(actions) FROM totals_all_time WHERE type = ''").result_rows[0][0] == 180
    uniques = client.query("SELECT groupBitmapMerge(users), groupBitmapMerge(sessions) FROM totals_all_time "
                           "WHERE type = ''").result_rows[0]
    assert uniques == client.query("SELECT uniqExact(user_id), uniqExact(session_id) FROM actions").result_rows[0]
    unnumbered = client.query("SELECT count() FROM actions WHERE user_id LIKE 'w%' AND user_number = 0").result_rows
    assert unnumbered[0][0] > 0 and uniques[0] == 14, "the copy numbers the rows it feeds, as the stream's feed does"
    again = fresh_database(settings, live + "_again")
    replay(ArchiveSource(client, TOPIC, database=live),
           Rebuild(connect(again), live_database=live, max_record_bytes=1 << 20, max_future=None), Cursor())
    assert differences(client, live, again.clickhouse_database) == []
