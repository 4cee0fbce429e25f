"""A record the broker holds twice, at two offsets in different batches (a producer's retry across a
partition leader's failover), is stored once: by the sink that stored the original, and by one
assigned the partition afresh, which finds the original in ClickHouse."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from clickhouse_connect.driver.client import Client

from logstream.clickhouse import connect, migrate
from logstream.settings import ClickHouseSettings
from stream import batch
from stream.recent_events import RecentEvents
from stream.sink import ClickHouseSink
from stream.split import Columns, Source
from tests.fixtures import example


@pytest.fixture(scope="module")
def client(chdb_dir: Path) -> Client:
    settings = ClickHouseSettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"c_{uuid.uuid4().hex[:8]}")
    migrate(settings)
    return connect(settings)


def logs(count: int) -> list[bytes]:
    return [orjson.dumps(example(userId=f"u{i}", eventId=str(uuid.uuid4()))) for i in range(count)]


def rows(topic: str, values: list[bytes], first_offset: int, partition: int = 0) -> Columns:
    return batch.build((None, value, Source(topic, partition, first_offset + i)) for i, value in enumerate(values)).rows


def stored(client: Client, topic: str) -> list[tuple[int, str]]:
    """(offset, action id) of every stored row of the topic."""
    return sorted(client.query("SELECT kafka_offset, toString(action_id) FROM actions WHERE kafka_topic = {t:String}",
                               parameters={"t": topic}).result_rows)


def test_a_copy_in_a_later_batch_is_skipped_by_the_sink_that_stored_its_original(client: Client) -> None:
    topic, values = f"t-{uuid.uuid4().hex[:8]}", logs(200)
    sink = ClickHouseSink(client, max_backoff_s=1)
    sink.write_now(rows(topic, values[:100], 0))
    later = values[100:150] + [values[7], values[42]] + values[150:]  # two logs appended again, 100 offsets on
    sink.write_now(rows(topic, later, 100))

    offsets = [offset for offset, _ in stored(client, topic)]
    assert len(offsets) == 200 * 3 and len({action_id for _, action_id in stored(client, topic)}) == 600
    assert {150, 151}.isdisjoint(offsets)  # the copies' offsets hold nothing
    assert sink.duplicates_skipped == 6


def test_a_sink_assigned_the_partition_afresh_finds_the_original_stored(client: Client) -> None:
    topic, values = f"t-{uuid.uuid4().hex[:8]}", logs(100)
    ClickHouseSink(client, max_backoff_s=1).write_now(rows(topic, values, 0, partition=3))
    fresh = ClickHouseSink(client, max_backoff_s=1)  # another worker, or this one after a restart
    fresh.write_now(rows(topic, [values[99], values[0], *logs(5)], 250, partition=3))

    assert len(stored(client, topic)) == 105 * 3
    assert fresh.duplicates_skipped == 6 and fresh.rows_written == 15


def test_a_copy_keyed_to_another_partition_is_a_copy_and_a_log_with_another_id_is_not(client: Client) -> None:
    topic, values = f"t-{uuid.uuid4().hex[:8]}", logs(10)
    sink = ClickHouseSink(client, max_backoff_s=1)
    sink.write_now(rows(topic, values, 0, partition=1))
    same_body = orjson.loads(values[3]) | {"eventId": str(uuid.uuid4())}
    sink.write_now(rows(topic, [orjson.dumps(same_body), values[4]], 10, partition=1))
    sink.write_now(rows(topic, [values[5]], 0, partition=2))  # a republish keyed otherwise: still the same log

    assert len(stored(client, topic)) == 11 * 3
    assert sink.duplicates_skipped == 6


def test_a_copy_is_not_fed_to_the_summaries_while_its_originals_feed_is_on_its_way(client: Client) -> None:
    topic, values = f"t-{uuid.uuid4().hex[:8]}", logs(10)
    sink = ClickHouseSink(client, max_backoff_s=1, feed_later=True)  # as the worker runs it
    sink.write_now(rows(topic, values[:5], 0))
    originals = sink.take_unfed()  # fed beside the next batch: not yet
    sink.write_now(rows(topic, [values[0], *values[5:]], 5))
    later = sink.take_unfed()

    assert len(originals[0]) == 15
    assert len(later[0]) == 15  # the five new logs' rows, not the copy's


def test_a_republished_copy_is_not_fed_either_while_its_originals_feed_is_on_its_way(client: Client) -> None:
    """An Idempotency-Key retry's copy, flagged by its header: checked in ClickHouse by its eventId."""
    topic, values = f"t-{uuid.uuid4().hex[:8]}", logs(5)
    sink = ClickHouseSink(client, max_backoff_s=1, feed_later=True)
    sink.write_now(rows(topic, values, 0))
    sink.take_unfed()
    again = batch.build([(None, values[2], Source(topic, 0, 5))], republished=frozenset({(0, 5)}))
    sink.write_now(again.rows, again.recheck_events)

    assert sink.duplicates_skipped == 3
    assert sink.take_unfed()[0] == []


def test_the_window_holds_about_its_span_of_offsets_per_partition() -> None:
    recent = RecentEvents(span=100)
    early = logs(50)
    recent.add(rows("raw", early, 0))
    for first in range(50, 10_000, 50):
        latest = logs(50)
        recent.add(rows("raw", latest, first))

    assert 100 <= len(recent) <= 125
    found = recent.copies(rows("raw", [early[0], latest[0]], 20_000))
    assert set(found.values()) == {("raw", 0, 9_950)}  # the early original is out of the window
