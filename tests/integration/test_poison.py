"""No record stops the sink: whatever other producers write to the raw topic is stored once or
dead-lettered, and a value the engine refuses costs its own record, never the batch."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logstream.clickhouse import connect, migrate
from logstream.settings import ClickHouseSettings
from stream import batch
from stream.sink import ClickHouseSink, refuses_rows
from stream.split import Source
from tests.fixtures import example
from tests.property.test_contract_properties import json_values, logs
from tests.property.test_quick_validate import event_ids


@pytest.fixture(scope="module")
def client(chdb_dir: Path) -> Client:
    settings = ClickHouseSettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"p_{uuid.uuid4().hex[:8]}")
    migrate(settings)
    return connect(settings)


def stored(client: Client, topic: str) -> list[tuple[int, str]]:
    rows = client.query("SELECT kafka_offset, toString(action_id) FROM actions WHERE kafka_topic = {t:String}",
                        parameters={"t": topic}).result_rows
    return sorted(rows)


def records(topic: str, count: int) -> list[tuple[None, bytes, Source]]:
    return [(None, orjson.dumps(example(userId=f"u{offset}", eventId=str(uuid.uuid4()))), Source(topic, 0, offset))
            for offset in range(count)]


def poison(columns: batch.Columns, offset: int, column: int, value: object) -> None:
    """Give one record's rows a value the driver or the engine cannot store (what a gap in validation
    would let through)."""
    for row, row_offset in enumerate(columns.data[11]):
        if row_offset == offset:
            columns.data[column][row] = value


def test_records_the_engine_refuses_are_isolated_and_the_rest_stored_once(client: Client) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    rows = batch.build(records(topic, 40)).rows
    poison(rows, 17, 1, 1 << 140)  # an event id of over 128 bits: OverflowError in the driver
    poison(rows, 29, 2, "\ud800")  # a user id that is not UTF-8: UnicodeEncodeError
    sink = ClickHouseSink(client, max_backoff_s=1)

    refusals = sink.write_now(rows)

    assert sorted(r.source.offset for r in refusals) == [17, 29]
    assert all(r.source.topic == topic and r.source.partition == 0 for r in refusals)
    assert "OverflowError" in next(r.message for r in refusals if r.source.offset == 17)
    first = stored(client, topic)
    assert sorted({offset for offset, _ in first}) == [o for o in range(40) if o not in (17, 29)]
    assert len(first) == 38 * 3 == sink.rows_written

    sink.recheck_stored()  # Kafka re-delivers the batch (its offsets were not committed)
    again = sink.write_now(rows)
    assert sorted(r.source.offset for r in again) == [17, 29]
    assert stored(client, topic) == first, "nothing stored twice"


def test_a_batch_of_one_refused_record_stores_nothing_and_says_so(client: Client) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    rows = batch.build(records(topic, 1)).rows
    poison(rows, 0, 1, -1)
    refusals = ClickHouseSink(client, max_backoff_s=1).write_now(rows)
    assert [r.source.offset for r in refusals] == [0]
    assert stored(client, topic) == []


def test_failures_are_told_apart() -> None:
    assert refuses_rows(OverflowError("int too big to convert"))
    assert refuses_rows(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"))
    assert refuses_rows(DataError("Unable to create native array for column `time`"))
    assert refuses_rows(DatabaseError("Code: 27. DB::Exception: Cannot parse input: expected ..."))
    # what may pass is retried, not dead-lettered
    assert not refuses_rows(DatabaseError("Code: 252. DB::Exception: Too many parts (300)."))
    assert not refuses_rows(DatabaseError("Code: 241. DB::Exception: Memory limit exceeded"))
    assert not refuses_rows(OperationalError("Error HTTPConnectionPool: Connection refused"))
    assert not refuses_rows(TimeoutError())


def foreign(document: dict, event_id: object, received: object, extra: object) -> bytes:
    record = {**document, "eventId": event_id, "receivedAt": received}
    record["actions"][0]["properties"]["extra"] = extra
    return orjson.dumps(record)


big_numbers = st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
foreign_records = st.one_of(
    st.builds(foreign, logs, event_ids, st.none() | st.text(max_size=30), json_values | big_numbers),
    json_values.map(orjson.dumps), st.binary(max_size=64),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(foreign_records, min_size=1, max_size=25),
       st.integers(-(2**40), 2**45) | st.just(-1) | st.none())
def test_any_record_is_stored_or_dead_lettered_never_retried_forever(client: Client, values: list[bytes],
                                                                     timestamp_ms: int | None) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    built = batch.build((None, value, Source(topic, 0, offset, timestamp_ms)) for offset, value in enumerate(values))
    refusals = ClickHouseSink(client, max_backoff_s=1).write_now(built.rows)  # raises only on a transient failure

    assert refusals == [], "validation lets through only what the engine stores"
    dead = {letter.source.offset for letter in built.dead}
    kept = {offset for offset, _ in stored(client, topic)}
    assert dead.isdisjoint(kept) and dead | kept == set(range(len(values)))
    assert len(stored(client, topic)) == len(built.rows)
    # and what is stored reads back (a Kafka timestamp out of DateTime64's range once broke every read)
    client.query("SELECT * FROM actions WHERE kafka_topic = {t:String}", parameters={"t": topic})
