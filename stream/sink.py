"""The ClickHouse sink: one columnar insert per batch, idempotent, never stopped by one record.

Exactly once without FINAL or merges: after a partition is (re)assigned, or after a failed insert,
the records Kafka re-delivers (or that a failed attempt may have half-written) may already be in
the table. Until a check finds nothing at or past a batch's first offset, each batch's action ids
are compared with those already stored for its offsets, and only the missing rows are inserted;
after that, a batch that starts below what this sink has stored since (a consumer fetching again
from its committed offset) is checked again. Action ids are deterministic, so the comparison is
exact even for a half-written batch. A record the broker holds twice, at two offsets (a producer's
retry across a leader's failover), is dropped by its eventId (stream/recent_events.py). Stored rows
are fed to the summaries' rollups after the rows (stream/rollup_feed.py); rows found stored are fed
again only if their log is not among those fed (`fed_events`).

Failures are told apart (`refuses_rows`). A transient one (the engine unreachable, a timeout, too
many parts) is retried with backoff, and the batch is not acked meanwhile. A refusal of particular
values is not retried: the batch is split at record boundaries until each refusing record is alone;
those come back as `Refusal`s for the dead-letter topic (`unstorable`), the rest is stored once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError

from stream import metrics
from stream.id_numbers import SESSION, USER, IdNumbers
from stream.recent_events import Position, RecentEvents
from stream.retry import until_done
from stream.rollup_feed import RollupFeed, Rows, feed_rows, joined
from stream.split import COLUMNS, Columns, Source
from stream.table_insert import TableInsert

log = logging.getLogger(__name__)

# Each stored row's action id and position.
STORED_ACTION_IDS_OF_EVENTS = ("SELECT action_id, kafka_topic, kafka_partition, kafka_offset FROM actions "
                               "WHERE event_id IN {event_ids:Array(UUID)}")
# from `span` offsets below a batch's first: the records a copy in the batch may repeat
STORED_ACTION_IDS_FROM_OFFSET = """
SELECT action_id, event_id, kafka_offset FROM actions
WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:UInt32} AND kafka_offset >= {offset:UInt64}
"""

# The engine's codes for a value it cannot take (parsing, type, range); the same rows fail again
# on every attempt. Any other engine error may pass (memory, parts, network): it is retried.
VALUE_REFUSED_CODES = frozenset({
    6,  # CANNOT_PARSE_TEXT
    26,  # CANNOT_PARSE_QUOTED_STRING
    27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38,  # CANNOT_PARSE_DATE
    41,  # CANNOT_PARSE_DATETIME
    53,  # TYPE_MISMATCH
    69,  # ARGUMENT_OUT_OF_BOUND
    70,  # CANNOT_CONVERT_TYPE
    72,  # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    131,  # TOO_LARGE_STRING_SIZE
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    376,  # CANNOT_PARSE_UUID
    407,  # DECIMAL_OVERFLOW
})
ENGINE_CODE = re.compile(r"Code: (\d+)\.")
# `actions` feeds the rollups' materialized views (infra/clickhouse/0002, 0007, 0008); run one after
# another (the default), they take most of a small batch's insert, which read-your-writes waits on.
INSERT_SETTINGS = {"parallel_view_processing": 1}


def refuses_rows(exc: BaseException) -> bool:
    """True for a refusal of particular values, which no retry can pass: raised by the driver while
    encoding a column (a number out of its type's range, a string that is not UTF-8) or by the
    engine with one of VALUE_REFUSED_CODES."""
    if isinstance(exc, OverflowError | UnicodeError | struct.error | DataError):
        return True
    if isinstance(exc, DatabaseError):
        code = ENGINE_CODE.search(str(exc))
        return code is not None and int(code.group(1)) in VALUE_REFUSED_CODES
    return False


@dataclass(frozen=True, slots=True)
class Refusal:
    """A record whose rows the engine refused, with the engine's (or driver's) message."""

    source: Source
    message: str


NUMBER_COLUMNS = ("user_number", "session_number")  # the ids' numbers, when known (stream/id_numbers.py)
STORED_COLUMNS = COLUMNS + NUMBER_COLUMNS  # what the sink writes into `actions` (swap.py copies the same)
USER_ID, SESSION_ID, TOPIC = COLUMNS.index("user_id"), COLUMNS.index("session_id"), COLUMNS.index("kafka_topic")


class ClickHouseSink:
    def __init__(self, client: Client, *, max_backoff_s: float, numbers: IdNumbers | None = None,
                 feed: RollupFeed | None = None, feed_later: bool = False):
        """`numbers`: where user and session ids get their numbers; by default the client's database.
        A row is stored with the numbers they already know (0 for a new id) and fed to the rollups
        (stream/rollup_feed.py), which number the rest, in the same call or, with `feed_later`, kept
        for the caller to feed once it has answered (`take_unfed`). `feed`: by default on the sink's
        client; a caller that feeds beside the next insert gives it a client of its own, and the
        same `numbers`."""
        self._client = client
        self._numbers = numbers or IdNumbers(client)
        self.feed = feed or RollupFeed(client, numbers=self._numbers, max_backoff_s=max_backoff_s)
        self._feed_later = feed_later
        self._unfed: list[Rows] = []
        self._insert_actions = TableInsert(client, "actions", STORED_COLUMNS, INSERT_SETTINGS)
        self._max_backoff_s = max_backoff_s
        # per partition, an offset from which nothing was stored when it was checked; this sink's own
        # inserts move it on. A batch that starts below it (Kafka delivers again) is checked.
        self._new_from: dict[tuple[str, int], int] = {}
        self._recent = RecentEvents()
        self.rows_written = 0
        self.duplicates_skipped = 0
        self.refused_records = 0
        self.last_error: str | None = None

    def assume_new(self, topic: str, partition: int) -> None:
        """The caller has checked that nothing is stored at or past the offsets it will write next in
        this partition (`logstream replay`, which checks each page of the archive itself)."""
        self._new_from[(topic, partition)] = 0

    def recheck_stored(self) -> None:
        """Any partition may now start at an offset whose rows are already stored (after a
        (re)assignment, or an attempt that failed part of the way)."""
        self._new_from.clear()
        self._recent.forget()

    async def write(self, columns: Columns, recheck_events: set[int] | None = None) -> list[Refusal]:
        """Store the batch; retried until the engine answers. Returns the records it refused."""
        refusals = await until_done(lambda: asyncio.to_thread(self.write_now, columns, recheck_events or set()),
                                    what="clickhouse insert",
                                    max_backoff_s=self._max_backoff_s, on_failure=self._record_failure)
        self.last_error = None
        return refusals

    def _record_failure(self, exc: BaseException) -> None:
        self.last_error = f"{exc.__class__.__name__}: {exc}"[:300]

    def write_now(self, columns: Columns, recheck_events: set[int] | frozenset[int] = frozenset()) -> list[Refusal]:
        """One attempt, in the caller's thread: `write` retries it; tests and tools call it directly."""
        started = time.perf_counter()
        self._unfed = []
        bounds = columns.offset_bounds()  # one pass over the batch, for the dedup and the log line
        first_offsets = {key: first for key, (first, _) in bounds.items()}
        stored = self._stored_action_ids(first_offsets) | self._stored_for_events(recheck_events)
        # never fed: their originals were, or are on their way (this sink's own, or committed before it)
        copies = self._recent.copies(columns)
        if copies:
            log.warning("sink skipped %d rows of records stored at other offsets (a producer's retry appended "
                        "again): %s", len(copies), sorted(set(copies.values()))[:5])
        if stored:
            self._feed_stored(columns, stored.keys() - copies.keys())
        if stored or copies:
            before = len(columns)
            columns = columns.without(stored.keys() | copies.keys())
            self.duplicates_skipped += before - len(columns)
            metrics.DUPLICATES_SKIPPED.inc(before - len(columns))
        written_before = self.rows_written
        refusals = self._insert(columns) if len(columns) else []
        self._recent.add(columns, refused={(r.source.partition, r.source.offset) for r in refusals})
        for key, (_, last) in bounds.items():  # stored now, by this sink: a later batch from below is checked
            if key in self._new_from:
                self._new_from[key] = max(self._new_from[key], last + 1)
        first = " ".join(f"{t}/{p}@{o}" for (t, p), o in sorted(first_offsets.items()))
        log.info("sink wrote rows=%d skipped=%d refused_records=%d elapsed_ms=%.1f from=%s",
                 self.rows_written - written_before, len(stored), len(refusals),
                 (time.perf_counter() - started) * 1000, first)
        return refusals

    def _insert(self, columns: Columns) -> list[Refusal]:
        started = time.perf_counter()
        try:
            numbered = self._numbered(columns)
            self._insert_actions(numbered)
            self._to_feed(numbered)
        except Exception as exc:
            self.recheck_stored()  # a failed insert may have stored part of what it was given
            if not refuses_rows(exc):
                raise
            return self._isolate(columns, f"{exc.__class__.__name__}: {exc}"[:2000])
        metrics.INSERT_SECONDS.observe(time.perf_counter() - started)
        self.rows_written += len(columns)
        metrics.ROWS_INSERTED.inc(len(columns))
        metrics.observe_freshness(columns.data[8], columns.data[10], columns.data[11])
        return []

    def take_unfed(self) -> Rows:
        """With `feed_later`: the rows the last `write` stored (or found stored) and did not feed."""
        unfed, self._unfed = self._unfed, []
        return joined(unfed)

    def _numbered(self, columns: Columns) -> list[list]:
        """The batch in STORED_COLUMNS order: its columns and the numbers known of its ids (0: new)."""
        data = columns.data
        numbers = self._numbers.known({USER: data[USER_ID], SESSION: data[SESSION_ID]})
        return [*data, numbers[USER], numbers[SESSION]]

    def _to_feed(self, numbered: list[list]) -> None:
        rows = feed_rows(STORED_COLUMNS, numbered)
        if self._feed_later:
            self._unfed.append(rows)
        else:
            self.feed.feed_now(rows)

    def _feed_stored(self, columns: Columns, stored: Collection[int]) -> None:
        """Rows a failed or interrupted attempt stored but did not feed: those whose log was not fed
        (a copy a producer published again, fed with its first offset's log, was)."""
        action_ids, event_ids = columns.data[0], columns.data[1]
        found = [i for i, action_id in enumerate(action_ids) if action_id in stored]
        fed = self.feed.fed_events(event_ids[i] for i in found)
        unfed = [i for i in found if event_ids[i] not in fed]
        if unfed:
            self._to_feed(self._numbered(columns.rows_at(unfed)))

    def _isolate(self, columns: Columns, message: str) -> list[Refusal]:
        """Split a refused batch at record boundaries until each refusing record is alone."""
        halves = columns.halves()
        if halves is None:
            topic, partition, offset = columns.data[9][0], columns.data[10][0], columns.data[11][0]
            log.error("sink refused record %s/%d@%d: %s", topic, partition, offset, message)
            self.refused_records += 1
            return [Refusal(Source(topic, partition, offset), message)]
        refusals: list[Refusal] = []
        for half in halves:
            stored = self._stored_action_ids(half.first_offsets())
            if stored:
                self._feed_stored(half, stored)
            half = half.without(stored)
            if len(half):
                refusals += self._insert(half)
        return refusals

    def _stored_for_events(self, event_ids: set[int] | frozenset[int]) -> dict[int, Position]:
        if not event_ids:
            return {}
        rows = self._client.query(STORED_ACTION_IDS_OF_EVENTS,
                                  parameters={"event_ids": [str(uuid.UUID(int=e)) for e in event_ids]})
        return {action_id.int: (topic, partition, offset) for action_id, topic, partition, offset in rows.result_rows}

    def _stored_action_ids(self, first_offsets: dict[tuple[str, int], int]) -> dict[int, Position]:
        """The rows stored in each partition at or past the batch's first offset. Those of the `span`
        offsets below it seed the window of recent eventIds: committed, hence fed."""
        stored: dict[int, Position] = {}
        for (topic, partition), offset in first_offsets.items():
            new_from = self._new_from.get((topic, partition))
            if new_from is not None and offset >= new_from:
                continue
            rows = self._client.query(STORED_ACTION_IDS_FROM_OFFSET, parameters={
                "topic": topic, "partition": partition, "offset": max(0, offset - self._recent.span)})
            at_or_past = False
            for action_id, event_id, stored_offset in rows.result_rows:
                self._recent.note(topic, event_id.int, partition, stored_offset)
                if stored_offset >= offset:
                    stored[action_id.int] = (topic, partition, stored_offset)
                    at_or_past = True
            if not at_or_past:
                self._new_from[(topic, partition)] = offset  # nothing stored past here: later batches are new
        return stored
