"""The Faust app and its one agent. The agent stays thin; the work is in batch/sink/dlq."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from logstream.contract import Problem, epoch_millis
from logstream.kafka import REPUBLISHED_HEADER
from stream import batch as batches
from stream import metrics
from stream.actions_topic import ActionsTopic
from stream.archive import Archive, Record, headers_of
from stream.dlq import DeadLetter, DeadLetters
from stream.erasure_requests import ErasureRequests
from stream.retention import horizon
from stream.retry import until_done
from stream.settings import StreamSettings
from stream.sink import ClickHouseSink, Refusal
from stream.split import Columns, Source
from stream.suppression import Suppression
from stream.take import take_buffered
from stream.watermarks import StoredWatermarks

log = logging.getLogger(__name__)


class BatchProcessor:
    """The archive (then dead letters) beside the insert; only once both are done may Faust ack (and
    later commit) the batch, so whatever reached `actions` is archived by then."""

    def __init__(self, sink: ClickHouseSink, dead_letters: DeadLetters, max_backoff_s: float,
                 max_record_bytes: int = 1 << 20, max_future: timedelta | None = None,
                 archive: Archive | None = None, actions: ActionsTopic | None = None,
                 suppression: Suppression | None = None, retention_days: int = 0,
                 watermarks: StoredWatermarks | None = None):
        self.sink = sink
        self.suppression = suppression
        self._retention_days = retention_days
        self.watermarks = watermarks
        self.archive = archive
        self.actions = actions
        self._max_record_bytes = max_record_bytes
        self.dead_letters = dead_letters
        self._max_backoff_s = max_backoff_s
        self._max_future = max_future
        self.in_flight = False
        self._drain_first = False
        self.last_batch_at = 0.0  # monotonic
        self.first_batch_wall = 0.0  # epoch seconds, for rates measured across processes
        self.last_batch_wall = 0.0
        self.records = 0
        self.positions: dict[tuple[str, int], int] = {}  # the offset after the last record processed

    async def process(self, events: Sequence[EventT]) -> asyncio.Future[Any] | None:
        """Stores the batch; returns what the batch's ack must wait for: its rows published to the
        actions topic and fed to the rollups (stream/rollup_feed.py), which run beside the next
        batch. None: ack at once."""
        self.in_flight = True
        try:
            life = await self.watermarks.life() if self.watermarks is not None else None
            if self._drain_first:  # the dedup reads what was fed: nothing may still be on its way
                await self.sink.feed.drain()
                self._drain_first = False
            stored = await until_done(lambda: self._process_once(events, life), what="batch",
                                      max_backoff_s=self._max_backoff_s, on_failure=lambda _: self.recheck_stored())
        except asyncio.CancelledError:
            withhold_acks(events)
            raise
        finally:
            self.in_flight = False
        self.records += len(events)
        metrics.RECORDS_CONSUMED.inc(len(events))
        metrics.BATCHES.inc()
        metrics.BATCH_RECORDS.observe(len(events))
        positions = self.positions
        for event in events:
            message = event.message
            key = (message.topic, message.partition)
            if message.offset >= positions.get(key, 0):
                positions[key] = message.offset + 1
        self.last_batch_at = time.monotonic()
        self.last_batch_wall = time.time()
        self.first_batch_wall = self.first_batch_wall or self.last_batch_wall
        unfed = self.sink.take_unfed()
        # every stored row, those stored by an earlier attempt too
        published = self.actions.submit(*stored) if self.actions is not None and stored is not None else None
        return all_of(published, self.sink.feed.submit(unfed) if unfed[0] else None)

    def recheck_stored(self) -> None:
        self._drain_first = True
        self.sink.recheck_stored()
        if self.archive is not None:
            self.archive.recheck_stored()

    async def _process_once(self, events: Sequence[EventT],
                            life: uuid.UUID | None = None) -> tuple[Columns, list[Source]] | None:
        """Stores the batch; returns its stored rows and the records refused, for the actions topic."""
        records = [Record(e.message.key, e.message.value, headers_of(e.message.headers), source_of(e.message))
                   for e in events]
        if self.suppression is not None:  # erased users' logs are neither archived nor stored
            await asyncio.to_thread(self.suppression.refresh_if_due)
            kept = [r for r in records if self.suppression.keeps(r.value)]
            metrics.LOGS_SUPPRESSED.inc(len(records) - len(kept))
            records = kept
        batch = batches.build(
            ((r.key, r.value, r.source) for r in records),
            republished=frozenset((r.source.partition, r.source.offset) for r in records if is_republished(r.headers)),
            max_record_bytes=self._max_record_bytes, max_future=self._max_future,
        )
        start = horizon(self._retention_days, datetime.now(UTC))
        if start is not None:  # expired as it arrives: a late action must not bring back a dropped month
            before = len(batch.rows)
            batch.rows = batch.rows.since(epoch_millis(start))
            metrics.ACTIONS_EXPIRED.inc(before - len(batch.rows))
        refusals = await self._archive_and_insert(records, batch)
        if refusals:
            await self.dead_letters.send(unstorable_letters(refusals, events))
        if self.watermarks is not None:  # every record is stored now: read-your-writes may answer
            self.watermarks.publish(life, events)
        return (batch.rows, [refusal.source for refusal in refusals]) if len(batch.rows) else None

    async def _archive_and_insert(self, records: Sequence[Record], batch: batches.Batch) -> list[Refusal]:
        """The archive's insert (then the dead letters) beside the insert into `actions`: a one-log
        write waits for the longer of the two, not both. Each retries until done; the batch is acked
        only once both are."""
        async def archive() -> None:
            if self.archive is not None:
                await self.archive.write(records, batch.rows)
            if batch.dead:
                await self.dead_letters.send(batch.dead)

        async def insert() -> list[Refusal]:
            return await self.sink.write(batch.rows, batch.recheck_events) if len(batch.rows) else []

        archived, inserted = await asyncio.gather(archive(), insert(), return_exceptions=True)
        for outcome in (archived, inserted):  # raised only once both are over: neither is left running
            if isinstance(outcome, BaseException):
                raise outcome
        return inserted


def all_of(*futures: asyncio.Future[Any] | None) -> asyncio.Future[Any] | None:
    """One future for those given (None: none to wait for)."""
    pending = [future for future in futures if future is not None]
    if len(pending) < 2:
        return pending[0] if pending else None
    return asyncio.gather(*pending)


def unstorable_letters(refusals: Sequence[Refusal], events: Sequence[EventT]) -> list[DeadLetter]:
    """The records the engine refused, as received, for the dead-letter topic."""
    by_position = {(e.message.partition, e.message.offset): e.message for e in events}
    letters = []
    for refusal in refusals:
        message = by_position[(refusal.source.partition, refusal.source.offset)]
        problem = Problem("", "unstorable", f"ClickHouse refused the record's rows: {refusal.message}")
        letters.append(DeadLetter("unstorable", [problem], source_of(message), message.key, message.value))
    return letters


def source_of(message: Any) -> Source:
    return Source(message.topic, message.partition, message.offset, int(message.timestamp * 1000))


def is_republished(headers: Sequence[tuple[str, bytes]]) -> bool:
    return any(name == REPUBLISHED_HEADER for name, _ in headers)


def withhold_acks(events: Sequence[EventT]) -> None:
    """Stopped mid-batch: mark the messages done without acking them, so `take()`'s unconditional
    ack is a no-op and their offsets are never committed; Kafka re-delivers them and the sink's
    dedup drops whatever part of the batch did reach ClickHouse."""
    for event in events:
        event.message.acked = True


def shorten_fetch_wait(app: faust.App, wait_ms: int) -> None:
    """Faust hard-codes aiokafka's fetch_max_wait_ms=1500, and the embedded broker answers a fetch
    only when that wait is over, even when records arrived meanwhile: a quiet topic's records then
    wait up to 1.5 s before the agent sees them. A short wait costs only idle fetch requests.
    (Faust offers no setting for it, so the worker consumer it creates is adjusted on creation.)"""
    thread = app.consumer._thread
    create = thread._create_worker_consumer

    def create_with_short_wait(transport: Any) -> Any:
        consumer = create(transport)
        consumer._fetch_max_wait_ms = wait_ms
        return consumer

    thread._create_worker_consumer = create_with_short_wait


def create_faust_app(settings: StreamSettings, processor: BatchProcessor,
                     erasures: ErasureRequests | None = None) -> faust.App:
    session_s = settings.kafka_session_timeout_ms / 1000
    app = faust.App(
        settings.stream_group,
        broker=";".join(f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")),
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        # Faust keeps table state here; logstream has no Faust tables (ClickHouse holds the state), so a
        # scratch directory, not the working directory (read-only in the container image)
        datadir=str(Path(tempfile.gettempdir()) / f"logstream-faust-{settings.stream_group}"),
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session_s,
        broker_heartbeat_interval=min(1.0, session_s / 4),
        broker_rebalance_timeout=session_s,
        broker_commit_interval=settings.stream_commit_interval_s,
        topic_allow_declare=False,
        # room for a whole batch: while one is stored, the next fills up (stream/take.py)
        stream_buffer_maxsize=max(4096, settings.stream_batch_size),
    )
    topic = app.topic(settings.raw_topic, key_type=bytes, value_type=bytes)

    @app.agent(topic, name="split_actions")
    async def split_actions(stream: faust.StreamT[bytes]) -> None:
        ack_after: dict[int, asyncio.Future[None]] = {}
        async for events in take_buffered(stream, settings.stream_batch_size, within=settings.stream_batch_within_s,
                                          ack_after=ack_after):
            fed = await processor.process(events)
            if fed is not None:
                ack_after[id(events)] = fed

    if erasures is not None:
        @app.agent(app.topic(settings.erasures_topic, key_type=bytes, value_type=bytes), name="erase_users")
        async def erase_users(stream: faust.StreamT[bytes]) -> None:
            async for value in stream:
                await erasures.handle(value)

    shorten_fetch_wait(app, settings.stream_fetch_max_wait_ms)

    @app.on_partitions_assigned.connect
    async def on_assigned(_app: Any, assigned: Any = None, **_: Any) -> None:
        processor.recheck_stored()
        if processor.archive is not None:
            processor.archive.forget_life()  # a new assignment may follow a restart of the broker
        if processor.watermarks is not None:
            processor.watermarks.forget_life()
        log.info("partitions assigned: %s", sorted(f"{tp.topic}/{tp.partition}" for tp in assigned or ()))

    return app
