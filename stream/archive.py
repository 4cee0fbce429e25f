"""The archive: every record of the raw topic, kept in ClickHouse (infra/clickhouse/0005), and
every dead letter the stream sent.

Written in the batch flow before the sink (so whatever reached `actions` is archived) and before
Faust may ack the batch. Exactly once per record, as the sink does it: after a partition is
(re)assigned or an attempt failed, the offsets already stored at or past the batch's first offset
are looked up and skipped, until a look-up finds none. A record is named by the topic's id (one
per broker life, see logstream.kafka.topic_id), its partition and its offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from stream.dlq import DeadLetter
from stream.inserts import Inserts
from stream.retry import until_done
from stream.split import Columns, Source

log = logging.getLogger(__name__)

RAW_COLUMNS = ("topic_id", "topic", "partition", "offset", "timestamp_ms", "key", "value", "headers", "event_id")
LETTER_COLUMNS = ("source_topic_id", "source_topic", "source_partition", "source_offset", "reason", "errors",
                  "failed_at", "key", "value", "original_bytes")

STORED_OFFSETS_FROM = """
SELECT offset FROM raw_events
WHERE topic_id = {topic_id:UUID} AND topic = {topic:String} AND partition = {partition:UInt32}
  AND offset >= {offset:UInt64}
"""
STORED_LETTERS_BETWEEN = """
SELECT source_partition, source_offset, reason FROM dead_letters
WHERE source_topic_id = {topic_id:UUID} AND source_topic = {topic:String}
  AND source_offset BETWEEN {first:UInt64} AND {last:UInt64}
"""

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Record:
    """A raw-topic record as the stream received it."""

    key: bytes | None
    value: bytes | None
    headers: Headers
    source: Source


def event_ids_by_position(rows: Columns) -> dict[tuple[int, int], int]:
    """(partition, offset) -> the eventId (as an integer) its actions carry."""
    return dict(zip(zip(rows.data[10], rows.data[11], strict=True), rows.data[1], strict=True))


class Archive:
    def __init__(self, client: Client, life: Callable[[], uuid.UUID], *, max_backoff_s: float):
        """`life`: looks up the raw topic's id in the broker's current life (logstream.kafka.topic_id)."""
        self._client = client
        self._inserts = Inserts(client)
        self._lookup_life = life
        self._max_backoff_s = max_backoff_s
        self._verified: set[tuple[uuid.UUID, str, int]] = set()
        self.topic_id: uuid.UUID | None = None  # looked up when first needed after a (re)assignment
        self.archived = 0
        self.duplicates_skipped = 0
        self.letters_archived = 0

    def recheck_stored(self) -> None:
        self._verified.clear()

    def forget_life(self) -> None:
        """Partitions were (re)assigned: perhaps by a broker that restarted, under a new topic id."""
        self.topic_id = None
        self.recheck_stored()

    def _life(self) -> uuid.UUID:
        if self.topic_id is None:
            self.topic_id = self._lookup_life()  # raises while the broker cannot say: the batch is retried
        return self.topic_id

    async def write(self, records: Sequence[Record], rows: Columns) -> None:
        await until_done(lambda: asyncio.to_thread(self.write_now, records, rows), what="archive insert",
                         max_backoff_s=self._max_backoff_s, on_failure=lambda _: self.recheck_stored())

    def write_now(self, records: Sequence[Record], rows: Columns) -> int:
        """One attempt: the records not yet archived, with the eventIds their rows carry."""
        started = time.perf_counter()
        life = self._life()
        stored = self._stored_offsets(life, records)
        fresh = [r for r in records if (r.source.topic, r.source.partition, r.source.offset) not in stored]
        self.duplicates_skipped += len(records) - len(fresh)
        if fresh:
            events = event_ids_by_position(rows)
            data = [[life] * len(fresh), [r.source.topic for r in fresh], [r.source.partition for r in fresh],
                    [r.source.offset for r in fresh], [r.source.timestamp_ms for r in fresh],
                    [r.key for r in fresh], [r.value for r in fresh], [r.headers for r in fresh],
                    [events.get((r.source.partition, r.source.offset)) for r in fresh]]
            try:
                self._inserts.columns("raw_events", RAW_COLUMNS, data)
            except Exception:
                self.recheck_stored()  # a failed insert may have stored part of what it was given
                raise
            self.archived += len(fresh)
        log.debug("archive wrote records=%d skipped=%d elapsed_ms=%.1f", len(fresh), len(records) - len(fresh),
                  (time.perf_counter() - started) * 1000)
        return len(fresh)

    def _stored_offsets(self, life: uuid.UUID, records: Sequence[Record]) -> set[tuple[str, int, int]]:
        first: dict[tuple[str, int], int] = {}
        for record in records:
            key = (record.source.topic, record.source.partition)
            if key not in first or record.source.offset < first[key]:
                first[key] = record.source.offset
        stored: set[tuple[str, int, int]] = set()
        for (topic, partition), offset in first.items():
            if (life, topic, partition) in self._verified:
                continue
            rows = self._client.query(STORED_OFFSETS_FROM, parameters={
                "topic_id": str(life), "topic": topic, "partition": partition, "offset": offset}).result_rows
            if not rows:
                self._verified.add((life, topic, partition))  # nothing stored past here: later batches are new
            stored |= {(topic, partition, row[0]) for row in rows}
        return stored

    def write_letters_now(self, letters: Sequence[DeadLetter]) -> int:
        """The dead letters not yet archived (at most one row per record and reason)."""
        if not letters:
            return 0
        life = self._life()
        stored: set[tuple[int, int, str]] = set()
        for topic in {letter.source.topic for letter in letters}:
            offsets = [letter.source.offset for letter in letters if letter.source.topic == topic]
            stored |= {(p, o, r) for p, o, r in self._client.query(STORED_LETTERS_BETWEEN, parameters={
                "topic_id": str(life), "topic": topic, "first": min(offsets), "last": max(offsets)}).result_rows}
        fresh = [letter for letter in letters
                 if (letter.source.partition, letter.source.offset, letter.reason) not in stored]
        if fresh:
            rows = []
            for letter in fresh:
                headers = dict(letter.headers())
                rows.append([life, letter.source.topic, letter.source.partition, letter.source.offset, letter.reason,
                             headers["logstream.dlq.errors"].decode(), _millis(headers["logstream.dlq.failed_at"]),
                             letter.key, letter.payload(), len(letter.value or b"")])
            self._client.insert("dead_letters", rows, column_names=LETTER_COLUMNS)
            self.letters_archived += len(fresh)
        return len(fresh)


def _millis(iso: bytes) -> int:
    return int(datetime.fromisoformat(iso.decode()).timestamp() * 1000)


def headers_of(raw: object) -> Headers:
    """A Kafka client's headers (None, a dict or a list of pairs) as a list of (name, bytes)."""
    if not raw:
        return []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(str(name), value if isinstance(value, bytes) else (value or b"")) for name, value in pairs]

