"""The rollups summaries and analytics read, filled after a batch's rows are queryable.

Nine of the views that `actions` fed read `actions_rollup_feed` instead (infra/clickhouse/0016,
0017), a table that stores nothing. The sink inserts a batch into `actions` (whose one view left,
`user_sessions`, serves a session's reads, which must see a write at once); the stream worker
answers read-your-writes (the watermark), then feeds the same rows here. Feeds run one at a time
in the order submitted, beside the next batch's insert, and a batch is acked only once its rows
are fed, so Kafka delivers it again after a crash. The same insert records the eventId of each log
fed (`fed_events`, infra/clickhouse/0019): a batch delivered again feeds exactly its logs that are
stored but were not fed (`ClickHouseSink`), whatever the broker's life that stored them.

The views commit one after another, so an attempt that fails may leave some rollups fed. A feed's
attempts share a token (`insert_deduplication_token`), and each rollup drops a block whose token it
already holds (infra/clickhouse/0018): the retry fills only the rollups the failed attempt missed.

The feed also numbers ids (stream/id_numbers.py): the sink stores a row with the numbers its
writer already knows and 0 for a new id, so that numbering is not on the answer's path; the rows
fed here carry every number. Summaries lag the rows by the gather (`gather_s`) and one feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from logstream.clickhouse import FED_EVENTS, ROLLUP_FEED, ROLLUP_FEED_COLUMNS, deduplicated_by
from stream import metrics
from stream.id_numbers import SESSION, USER, IdNumbers
from stream.retry import until_done
from stream.table_insert import TableInsert

# {table}: fed_events, in full (a swap reads the old database's)
FED_OF = "SELECT DISTINCT event_id FROM {table} WHERE event_id IN {{event_ids:Array(UUID)}}"
IDS_PER_QUERY = 1000  # parameters may travel in the URL: well under a server's limit (http_max_uri_size)

Rows = list[list[Any]]  # one list per column of ROLLUP_FEED_COLUMNS
NUMBERED = tuple((ROLLUP_FEED_COLUMNS.index(f"{kind}_number"), ROLLUP_FEED_COLUMNS.index(f"{kind}_id"), kind)
                 for kind in (USER, SESSION))


def feed_rows(columns: Sequence[str], data: Sequence[list[Any]]) -> Rows:
    """The feed's columns of a batch held as `columns` (the same lists, not copies)."""
    return [data[columns.index(name)] for name in ROLLUP_FEED_COLUMNS]


def fed_events(client: Client, event_ids: Iterable[int], database: str | None = None) -> set[int]:
    """Those of `event_ids` (as integers) whose logs were fed, in `database` or the client's."""
    table = f"`{database}`.{FED_EVENTS}" if database else FED_EVENTS
    wanted = [str(uuid.UUID(int=event_id)) for event_id in set(event_ids)]
    return {event_id.int
            for start in range(0, len(wanted), IDS_PER_QUERY)
            for (event_id,) in client.query(FED_OF.format(table=table),
                                            parameters={"event_ids": wanted[start:start + IDS_PER_QUERY]}).result_rows}


def joined(batches: Sequence[Rows]) -> Rows:
    if len(batches) == 1:  # the common case: nothing to copy
        return batches[0]
    merged: Rows = [[] for _ in ROLLUP_FEED_COLUMNS]
    for rows in batches:
        for column, values in zip(merged, rows, strict=True):
            column.extend(values)
    return merged


def numbered(rows: Rows, numbers: IdNumbers) -> Rows:
    """`rows` with a number for every id: those stored as 0 (not known when stored) numbered now,
    both kinds in the same statements."""
    wanted = {kind: ids for at, id_at, kind in NUMBERED
              if (ids := [i for i, n in zip(rows[id_at], rows[at], strict=True) if not n])}
    if not wanted:
        return rows
    got = numbers.numbers_of(wanted)
    rows = list(rows)
    for at, id_at, kind in NUMBERED:
        if kind in wanted:
            number_of = dict(zip(wanted[kind], got[kind], strict=True))
            rows[at] = [n or number_of[i] for i, n in zip(rows[id_at], rows[at], strict=True)]
    return rows


class RollupFeed:
    def __init__(self, client: Client, *, numbers: IdNumbers | None = None, max_backoff_s: float = 5.0,
                 gather_s: float = 0.0):
        """`numbers`: where the ids stored as 0 get their numbers (by default the client's
        database). `gather_s`: how long submitted rows wait for more before they are fed (`submit`)."""
        self._client = client
        self._numbers = numbers or IdNumbers(client)
        self._insert = TableInsert(client, ROLLUP_FEED, ROLLUP_FEED_COLUMNS)
        self._max_backoff_s = max_backoff_s
        self._gather_s = gather_s
        self._queue: list[tuple[Rows, asyncio.Future[None]]] = []
        self._feeding: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()
        self.rows_fed = 0

    def feed_now(self, rows: Rows, token: uuid.UUID | None = None) -> None:
        """One attempt, in the caller's thread. `token`: shared by the attempts of one feed (the same
        rows); by default the attempt is a feed of its own."""
        if rows[0]:
            started = time.perf_counter()
            self._insert(numbered(rows, self._numbers), deduplicated_by(str(token or uuid.uuid4())))
            metrics.ROLLUP_FEED_SECONDS.observe(time.perf_counter() - started)
            metrics.ROWS_FED.inc(len(rows[0]))
            self.rows_fed += len(rows[0])

    def fed_events(self, event_ids: Iterable[int]) -> set[int]:
        return fed_events(self._client, event_ids)

    def submit(self, rows: Rows) -> asyncio.Future[None]:
        """Feed `rows` after everything submitted before; done once they are fed. The first rows
        submitted after a feed wait `gather_s` for more, and all are fed in one insert: a client
        posting one log after another then meets a feed in the engine at most once per `gather_s`,
        and under load the feeds are few and large."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((rows, done))
        if self._feeding is None or self._feeding.done():
            self._feeding = asyncio.ensure_future(self._feed_queued())
        return done

    async def drain(self) -> None:
        """Returns once everything submitted is fed, without waiting to gather more."""
        self._hurry.set()
        try:
            while self._feeding is not None and not self._feeding.done():
                await asyncio.shield(self._feeding)
        finally:
            self._hurry.clear()

    async def _feed_queued(self) -> None:
        while self._queue:
            if self._gather_s and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self._gather_s)
            taken, self._queue = self._queue, []
            merged, token = joined([rows for rows, _ in taken]), uuid.uuid4()
            try:  # retried until done: only a cancellation (the worker stopping) ends it early
                await until_done(lambda rows=merged, token=token: asyncio.to_thread(self.feed_now, rows, token),
                                 what="rollup feed", max_backoff_s=self._max_backoff_s)
            except asyncio.CancelledError:
                for _, done in taken + self._queue:
                    done.cancel()
                self._queue = []
                raise
            for _, done in taken:
                if not done.done():
                    done.set_result(None)
