"""Replay: the raw log, read again from the archive (or a topic's beginning), through the stream's
own `batch.build` and sink into a fresh database, where the migrations' materialized views fill
every rollup as they do live.

What it stores is what the stream stores: the same validation and split (one definition), the
same action ids, and the same dedup: a record Kafka delivered twice is archived once; a record a
producer published again (an Idempotency-Key retry, a redrive) is checked by its eventId as the
sink checks it; and a record whose rows are already stored at its own position (a broker restarted
at offset 0 under a new topic id, and a log without eventId derives its id from its position) is
skipped, as the live sink skips it. Dead letters are not sent again (the archive keeps them).

A replay does not pay Faust's per-message cost: pages of whole columns from the archive, one
insert per page.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from clickhouse_connect.driver.client import Client
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from logstream.clickhouse import connect, migrate
from logstream.kafka import REPUBLISHED_HEADER, topic_id
from stream import batch as batches
from stream.archive import Record, headers_of
from stream.id_numbers import IdNumbers
from stream.settings import StreamSettings
from stream.sink import ClickHouseSink
from stream.split import Source
from stream.suppression import Suppression

log = logging.getLogger(__name__)

# Each partition of each broker life, lives in the order the archive received them.
ARCHIVED_PARTITIONS = """
SELECT topic_id, partition, min(offset), max(offset), count(), min(archived_at) AS since,
       min(min(archived_at)) OVER (PARTITION BY topic_id) AS life_since
FROM {database:Identifier}.{archive:Identifier}
WHERE topic = {topic:String}
GROUP BY topic_id, partition
ORDER BY life_since, topic_id, partition
"""
ARCHIVED_PAGE = """
SELECT offset, timestamp_ms, key, value, headers.name, headers.value
FROM {database:Identifier}.{archive:Identifier}
WHERE topic_id = {topic_id:UUID} AND topic = {topic:String} AND partition = {partition:UInt32}
  AND offset > {after:Int64}
ORDER BY offset
LIMIT {limit:UInt32}
"""
STORED_ACTION_IDS_BETWEEN = """
SELECT action_id FROM actions
WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:UInt32}
  AND kafka_offset BETWEEN {first:UInt64} AND {last:UInt64}
"""


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition of the raw topic in one life of the broker."""

    life: uuid.UUID
    partition: int
    first: int
    last: int
    records: int


@dataclass
class Cursor:
    """How far a replay has read: the last offset of each (life, partition)."""

    read: dict[tuple[uuid.UUID, int], int] = field(default_factory=dict)
    lives: list[uuid.UUID] = field(default_factory=list)  # in the order they were first read

    def after(self, life: uuid.UUID, partition: int) -> int:
        return self.read.get((life, partition), -1)


class ArchiveSource:
    """The archive table of the live database (`raw_events`), read one page at a time."""

    def __init__(self, client: Client, topic: str, *, database: str, page: int = 20_000):
        self._client, self._topic, self._page, self.database = client, topic, page, database
        self.table = "raw_events"  # `logstream replay --swap` reads it under another name at the end

    def partitions(self) -> list[Partition]:
        rows = self._client.query(ARCHIVED_PARTITIONS, parameters={"database": self.database, "archive": self.table,
                                                                   "topic": self._topic})
        return [Partition(life, partition, first, last, count) for life, partition, first, last, count, *_ in
                rows.result_rows]

    def pending(self, cursor: Cursor) -> int:
        """Records archived that the cursor has not read (an estimate: offsets may have gaps)."""
        return sum(max(0, min(p.records, p.last - cursor.after(p.life, p.partition)))
                   for p in self.partitions())

    def pages(self, cursor: Cursor) -> Iterator[tuple[uuid.UUID, list[Record]]]:
        for part in self.partitions():
            while cursor.after(part.life, part.partition) < part.last:
                records = self.page(part, cursor.after(part.life, part.partition))
                if not records:
                    break
                yield part.life, records
                cursor.read[(part.life, part.partition)] = records[-1].source.offset

    def page(self, part: Partition, after: int) -> list[Record]:
        """The partition's records past `after`, in offset order, at most a page of them."""
        result = self._client.query(
            ARCHIVED_PAGE, query_formats={"String": "bytes"},
            parameters={"database": self.database, "archive": self.table, "topic_id": str(part.life),
                        "topic": self._topic, "partition": part.partition, "after": after, "limit": self._page})
        if not result.row_count:
            return []
        offsets, stamps, keys, values, names, header_values = result.result_columns
        return [Record(k, v, [(n.decode(), b) for n, b in zip(hn, hv, strict=True)] if hn else [],
                       Source(self._topic, part.partition, o, t))
                for o, t, k, v, hn, hv in zip(offsets, stamps, keys, values, names, header_values, strict=True)]


class TopicStalledError(RuntimeError):
    """A partition of the topic gave nothing, not even its end, for too long (no leader, a broker that
    does not answer): the replay stops rather than pass a part of the topic off as all of it."""


class TopicSource:
    """The raw topic from its beginning, with a consumer of its own (assigned partitions, no group
    join, nothing committed: the live group never sees it). Read once, until every partition has
    reported its end (the fetch's high watermark: Tansu's is right, unlike its ListOffsets); a quiet
    spell is not the end (a new leader being elected, a slow start on a loaded machine) unless it
    outlasts `stall_s`, which is an error."""

    def __init__(self, settings: StreamSettings, *, page: int = 20_000, stall_s: float = 120.0):
        self._settings, self._page, self._stall_s = settings, page, stall_s
        self.life = topic_id(settings, settings.raw_topic)

    def partitions(self) -> list[Partition]:
        return []  # the topic's end is found by reading it (ListOffsets is wrong on the embedded broker)

    def pending(self, cursor: Cursor) -> int:
        return 0

    def pages(self, cursor: Cursor) -> Iterator[tuple[uuid.UUID, list[Record]]]:
        topic = self._settings.raw_topic
        consumer = Consumer({"bootstrap.servers": self._settings.kafka_bootstrap_servers,
                             "group.id": f"logstream-replay-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                             "enable.partition.eof": True, "fetch.max.bytes": 64 << 20})
        try:
            partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
            consumer.assign([TopicPartition(topic, p, cursor.after(self.life, p) + 1 or OFFSET_BEGINNING)
                             for p in partitions])
            at_end: set[int] = set()
            heard_at = time.monotonic()
            while len(at_end) < len(partitions):
                messages = consumer.consume(self._page, timeout=1.0)
                if not messages:
                    if time.monotonic() - heard_at > self._stall_s:
                        waiting = sorted(set(partitions) - at_end)
                        raise TopicStalledError(f"{topic}: partition(s) {waiting} gave nothing and did not report "
                                                f"their end for {self._stall_s:.0f} s")
                    continue
                heard_at = time.monotonic()
                records = []
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            at_end.add(message.partition())
                        continue
                    at_end.discard(message.partition())
                    _, stamp = message.timestamp()
                    records.append(Record(message.key(), message.value(), headers_of(message.headers()),
                                          Source(topic, message.partition(), message.offset(),
                                                 int((stamp / 1000) * 1000) if stamp >= 0 else None)))
                for partition in {r.source.partition for r in records}:
                    part = [r for r in records if r.source.partition == partition]
                    yield self.life, part
                    cursor.read[(self.life, partition)] = part[-1].source.offset
        finally:
            consumer.close()


def fresh_database(settings: StreamSettings, name: str) -> StreamSettings:
    """The settings of database `name`, dropped (it holds a previous rebuild, or the projections a
    swap replaced) and created again by every migration."""
    rebuilt = settings.model_copy(update={"clickhouse_database": name})
    admin = connect(settings, database=False)
    try:
        admin.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")
    finally:
        admin.close()
    migrate(rebuilt)
    return rebuilt


class Rebuild:
    """Pages of records into the fresh database, as the stream would have stored them."""

    def __init__(self, client: Client, *, live_database: str, max_record_bytes: int, max_future: timedelta | None,
                 suppression: Suppression | None = None, earliest_ms: int | None = None):
        """Ids are numbered in `live_database`'s `id_numbers`, as the stream numbers them: the rebuilt
        states are then those of the live database and can be swapped in."""
        self._client, self._suppression, self._earliest_ms = client, suppression, earliest_ms
        self.sink = ClickHouseSink(client, max_backoff_s=5.0, numbers=IdNumbers(client, live_database))
        self._max_record_bytes, self._max_future = max_record_bytes, max_future
        self.records = self.dead_letters = self.duplicates = 0

    @property
    def rows(self) -> int:
        return self.sink.rows_written

    def build(self, records: list[Record]) -> batches.Batch:
        """Pure: the page's rows and dead letters, by the stream's own code; erased users and actions
        older than the retention's horizon left out."""
        if self._suppression is not None:
            records = [r for r in records if self._suppression.keeps(r.value)]
        built = batches.build(
            ((r.key, r.value, r.source) for r in records),
            republished=frozenset((r.source.partition, r.source.offset) for r in records
                                  if any(name == REPUBLISHED_HEADER for name, _ in r.headers)),
            max_record_bytes=self._max_record_bytes, max_future=self._max_future)
        if self._earliest_ms is not None:  # expired: never brought back
            built.rows = built.rows.since(self._earliest_ms)
        return built

    def store(self, records: list[Record], built: batches.Batch) -> None:
        """The page's rows not stored yet, in order after the pages stored before it."""
        rows = built.rows
        source = records[0].source
        stored = {row[0].int for row in self._client.query(STORED_ACTION_IDS_BETWEEN, parameters={
            "topic": source.topic, "partition": source.partition, "first": source.offset,
            "last": records[-1].source.offset}).result_rows}
        if stored:
            before = len(rows)
            rows = rows.without(stored)
            self.duplicates += before - len(rows)
        self.sink.assume_new(source.topic, source.partition)  # checked just above, for this page's offsets
        refusals = self.sink.write_now(rows, built.recheck_events) if len(rows) else []
        self.records += len(records)
        self.dead_letters += len(built.dead) + len(refusals)

    def apply(self, records: list[Record]) -> None:
        if records:
            self.store(records, self.build(records))


def replay(source: ArchiveSource | TopicSource, rebuild: Rebuild, cursor: Cursor,
           on_page: Callable[[], None] | None = None) -> None:
    """Every record the cursor has not read yet, in order, into `rebuild`. Three stages overlap: the
    next page is read and the previous one stored (both mostly waiting on the engine) while this
    one is built; pages are stored one at a time, in order."""
    pages = source.pages(cursor)
    with ThreadPoolExecutor(2, thread_name_prefix="replay") as pool:
        reading = pool.submit(next, pages, None)
        storing: Future[None] | None = None
        while (page := reading.result()) is not None:
            reading = pool.submit(next, pages, None)
            life, records = page
            if life not in cursor.lives:
                cursor.lives.append(life)
            built = rebuild.build(records)
            if storing is not None:
                storing.result()
                if on_page is not None:
                    on_page()
            storing = pool.submit(rebuild.store, records, built)
        if storing is not None:
            storing.result()
            if on_page is not None:
                on_page()
