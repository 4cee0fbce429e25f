"""The ClickHouse sink: one columnar insert per batch, retried until it succeeds, idempotent.

Exactly once without FINAL or merges: after a partition is (re)assigned, the records Kafka
re-delivers (the uncommitted tail of a crashed or rebalanced worker) may already be in the
table. Until a check finds nothing at or past a batch's first offset, each batch's action ids
are compared with those already stored for its offsets, and only the missing rows are inserted.
Action ids are deterministic, so the comparison is exact even for a half-written batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from clickhouse_connect.driver.client import Client

from stream.retry import until_done
from stream.split import COLUMNS, Columns

log = logging.getLogger(__name__)

STORED_ACTION_IDS_OF_EVENTS = "SELECT action_id FROM actions WHERE event_id IN {event_ids:Array(UUID)}"
STORED_ACTION_IDS_FROM_OFFSET = """
SELECT action_id FROM actions
WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:UInt32} AND kafka_offset >= {offset:UInt64}
"""


class ClickHouseSink:
    def __init__(self, client: Client, *, max_backoff_s: float):
        self._client = client
        self._max_backoff_s = max_backoff_s
        self._verified: set[tuple[str, int]] = set()
        self.rows_written = 0
        self.duplicates_skipped = 0
        self.last_error: str | None = None

    def on_partitions_assigned(self) -> None:
        """Any partition may now start at an offset whose rows are already stored."""
        self._verified.clear()

    async def write(self, columns: Columns, recheck_events: set[int] | None = None) -> None:
        await until_done(lambda: asyncio.to_thread(self.write_now, columns, recheck_events or set()),
                         what="clickhouse insert",
                         max_backoff_s=self._max_backoff_s, on_failure=self._record_failure)
        self.last_error = None

    def _record_failure(self, exc: BaseException) -> None:
        self.last_error = f"{exc.__class__.__name__}: {exc}"[:300]

    def write_now(self, columns: Columns, recheck_events: set[int] | frozenset[int] = frozenset()) -> None:
        """One attempt, in the caller's thread: `write` retries it; tests and tools call it directly."""
        started = time.perf_counter()
        first_offsets = columns.first_offsets()  # one pass over the batch, for the dedup and the log line
        stored = self._stored_action_ids(first_offsets) | self._stored_for_events(recheck_events)
        if stored:
            before = len(columns)
            columns = columns.without(stored)
            self.duplicates_skipped += before - len(columns)
        if len(columns):
            self._client.insert("actions", columns.data, column_names=COLUMNS, column_oriented=True)
        self.rows_written += len(columns)
        first = " ".join(f"{t}/{p}@{o}" for (t, p), o in sorted(first_offsets.items()))
        log.info("sink wrote rows=%d skipped=%d elapsed_ms=%.1f from=%s", len(columns), len(stored),
                 (time.perf_counter() - started) * 1000, first)

    def _stored_for_events(self, event_ids: set[int] | frozenset[int]) -> set[int]:
        if not event_ids:
            return set()
        rows = self._client.query(STORED_ACTION_IDS_OF_EVENTS,
                                  parameters={"event_ids": [str(uuid.UUID(int=e)) for e in event_ids]})
        return {row[0].int for row in rows.result_rows}

    def _stored_action_ids(self, first_offsets: dict[tuple[str, int], int]) -> set[int]:
        stored: set[int] = set()
        for (topic, partition), offset in first_offsets.items():
            if (topic, partition) in self._verified:
                continue
            rows = self._client.query(STORED_ACTION_IDS_FROM_OFFSET,
                                      parameters={"topic": topic, "partition": partition, "offset": offset})
            found = {row[0].int for row in rows.result_rows}
            if not found:
                self._verified.add((topic, partition))  # nothing stored past here: later batches are new
            stored |= found
        return stored
