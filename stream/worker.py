"""The stream worker's lifecycle: start, report status, drain, stop. Runs inside any asyncio
process (the standalone stream service, or the embedded query process that owns chDB)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from logstream.clickhouse import connect
from logstream.kafka import ensure_topics, topic_id
from stream.agents import BatchProcessor, create_faust_app
from stream.archive import Archive
from stream.dlq import DeadLetters
from stream.settings import StreamSettings
from stream.sink import ClickHouseSink

log = logging.getLogger(__name__)


class StreamWorker:
    def __init__(self, settings: StreamSettings):
        self.settings = settings
        self._client = connect(settings)
        backoff = settings.stream_retry_max_backoff_s
        archive = Archive(self._client, lambda: topic_id(settings, settings.raw_topic),
                          max_backoff_s=backoff) if settings.archive_enabled else None
        self.processor = BatchProcessor(ClickHouseSink(self._client, max_backoff_s=backoff),
                                        DeadLetters(settings, archive), backoff,
                                        settings.stream_max_record_bytes, settings.max_future, archive)
        self.app = create_faust_app(settings, self.processor)
        self.started_at = 0.0

    async def start(self) -> None:
        await asyncio.to_thread(ensure_topics, self.settings)
        await self.app.start()
        self.started_at = time.monotonic()
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
                "first_batch_at": self.processor.first_batch_wall, "last_batch_at": self.processor.last_batch_wall}

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

    async def stop(self) -> None:
        if self.settings.stream_drain_on_stop:
            await self.drain()
        await self.app.stop()
        self.processor.dead_letters.close()
        self._client.close()
        log.info("stream worker stopped")
