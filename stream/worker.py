"""The stream worker's lifecycle: start, report status, drain, stop. Runs inside any asyncio
process (the standalone stream service, or the embedded query process that owns chDB)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from logstream.clickhouse import connect
from logstream.kafka import ensure_topics, topic_id
from logstream.metrics import register
from stream import metrics
from stream.actions_topic import ActionsTopic
from stream.agents import BatchProcessor, create_faust_app
from stream.archive import Archive
from stream.dlq import DeadLetters
from stream.erasure import Eraser
from stream.erasure_requests import ErasureRequests
from stream.id_numbers import IdNumbers
from stream.retention import Retention
from stream.rollup_feed import RollupFeed
from stream.settings import StreamSettings
from stream.sink import ClickHouseSink
from stream.suppression import Suppression
from stream.table_insert import warm_up
from stream.watermarks import StoredWatermarks

log = logging.getLogger(__name__)


class StreamWorker:
    def __init__(self, settings: StreamSettings):
        self.settings = settings
        self._client = connect(settings)
        backoff = settings.stream_retry_max_backoff_s
        # the archive's inserts run beside the sink's, on a connection of their own
        self._archive_client = connect(settings)
        archive = Archive(self._archive_client, lambda: topic_id(settings, settings.raw_topic),
                          max_backoff_s=backoff) if settings.archive_enabled else None
        # rollups fed, and new ids numbered, while the next batch is stored: on a connection of their own
        self._feed_client = connect(settings)
        numbers = IdNumbers(self._feed_client)
        sink = ClickHouseSink(self._client, max_backoff_s=backoff, numbers=numbers, feed_later=True,
                              feed=RollupFeed(self._feed_client, numbers=numbers, max_backoff_s=backoff,
                                              gather_s=settings.stream_rollup_gather_s))
        self.processor = BatchProcessor(sink, DeadLetters(settings, archive), backoff,
                                        settings.stream_max_record_bytes, settings.max_future, archive,
                                        ActionsTopic(settings) if settings.stream_publish_actions else None,
                                        Suppression(self._client, settings.erasure_refresh_s), settings.retention_days,
                                        StoredWatermarks(settings, lambda: topic_id(settings, settings.raw_topic)))
        self._eraser_client = connect(settings)  # erasures run beside the batches, in their own thread
        eraser = Eraser(self._eraser_client, settings.clickhouse_database, settings.erasure_settle_s)
        self.app = create_faust_app(settings, self.processor, ErasureRequests(eraser, backoff))
        self.started_at = 0.0
        if settings.metrics_enabled:
            register(*metrics.FAMILIES)
        self._unregister_lag = None
        self._retention_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(ensure_topics, self.settings)
        await asyncio.to_thread(warm_up)  # not on the first batch's path
        await self.app.start()
        self.started_at = time.monotonic()
        if self.settings.retention_days or self.settings.archive_retention_days:
            self._retention_task = asyncio.get_running_loop().create_task(self._keep_retention(), name="retention")
        if self.settings.metrics_enabled:
            self._unregister_lag = metrics.register_lag(metrics.ConsumerLag(self.offsets))
        log.info("stream worker consuming %s as group %s", self.settings.raw_topic, self.settings.stream_group)

    def status(self) -> dict[str, Any]:
        consumer = self.app.consumer if self.started_at else None
        topic = self.settings.raw_topic
        assigned = sorted(tp.partition for tp in consumer.assignment() if tp.topic == topic) if consumer else []
        sink = self.processor.sink
        ok = bool(self.started_at) and not self.app.should_stop and sink.last_error is None
        detail = sink.last_error or ("consuming" if ok else "not running")
        return {"ok": ok, "detail": detail, "assigned_partitions": assigned, "records": self.processor.records,
                "rows_written": sink.rows_written, "duplicates_skipped": sink.duplicates_skipped,
                "dead_letters": self.processor.dead_letters.sent,
                "archived": self.processor.archive.archived if self.processor.archive else None,
                "actions_published": self.processor.actions.sent if self.processor.actions else 0,
                "actions_too_large": self.processor.actions.too_large if self.processor.actions else 0,
                "first_batch_at": self.processor.first_batch_wall, "last_batch_at": self.processor.last_batch_wall}

    def offsets(self) -> list[tuple[str, int, int | None, int]]:
        """(topic, partition, committed, end) of each assigned partition (stream.metrics.ConsumerLag)."""
        if not self.started_at:
            return []
        consumer = self.app.consumer
        committed = consumer._committed_offset  # Faust's record of what it committed (no broker call)
        rows = []
        for tp in sorted(tp for tp in consumer.assignment() if tp.topic == self.settings.raw_topic):
            try:
                highwater = consumer.highwater(tp) or 0
            except Exception:  # no fetch answered for it yet (or the consumer is being replaced)
                highwater = 0
            end = max(highwater, self.processor.positions.get((tp.topic, tp.partition), 0))
            rows.append((tp.topic, tp.partition, committed.get(tp), end))
        return rows

    async def _keep_retention(self) -> None:
        """Drop what has expired, at start and then every retention_check_interval_s."""
        settings = self.settings
        client = connect(settings)
        retention = Retention(client, settings.clickhouse_database, settings.retention_days,
                              settings.archive_retention_days)
        try:
            while True:
                try:
                    for line in await asyncio.to_thread(retention.apply):
                        log.info("retention: %s", line)
                except Exception:  # logged and tried again at the next check: it never stops the stream
                    log.exception("retention run failed")
                await asyncio.sleep(settings.retention_check_interval_s)
        finally:
            client.close()

    async def drain(self) -> None:
        """Keep consuming until nothing arrived for stream_drain_idle_s (bounded by the timeout)."""
        started = time.monotonic()
        idle_s, deadline = self.settings.stream_drain_idle_s, started + self.settings.stream_drain_timeout_s
        log.info("draining the raw topic into ClickHouse before stopping")
        while time.monotonic() < deadline:
            quiet_since = max(self.processor.last_batch_at, started)
            if not self.processor.in_flight and time.monotonic() - quiet_since >= idle_s:
                log.info("drained: %d records processed in total", self.processor.records)
                return
            await asyncio.sleep(0.1)
        log.error("drain timed out after %.0f s; the rest stays in the topic", self.settings.stream_drain_timeout_s)

    async def _feed_stored(self) -> None:
        """Publish and feed the rollups what was stored, unless the broker or the engine is gone (Kafka
        then delivers it again)."""
        try:
            if self.processor.actions is not None:
                await asyncio.wait_for(self.processor.actions.drain(), self.settings.stream_drain_timeout_s)
            await asyncio.wait_for(self.processor.sink.feed.drain(), self.settings.stream_drain_timeout_s)
        except TimeoutError:
            log.error("actions not published or rollups not fed before stopping; "
                      "those batches are delivered again at the next start")

    async def stop(self) -> None:
        if self._retention_task is not None:
            self._retention_task.cancel()
        if self.settings.stream_drain_on_stop:
            await self.drain()
        await self._feed_stored()  # before the app stops: the fed batches' acks are then committed
        await self.app.stop()
        await self._feed_stored()  # and what a batch in flight stored meanwhile
        if self._unregister_lag is not None:
            self._unregister_lag()
        self.processor.dead_letters.close()
        if self.processor.actions is not None:
            self.processor.actions.close()
        if self.processor.watermarks is not None:
            self.processor.watermarks.close()
        self._client.close()
        self._eraser_client.close()
        self._feed_client.close()
        self._archive_client.close()
        log.info("stream worker stopped")
