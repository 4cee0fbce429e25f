"""Publishes records to the raw topic and reports when the broker acknowledged all of them.

Delivery reports are served by `producer.poll(0)` on the event loop itself (every millisecond while
records are in flight), so a report resolves its request's future directly: no thread hand-off
and no wake-up per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from logstream.kafka import producer_config
from logstream.schemas import RAW_SCHEMA, ROUTE_HEADER
from logstream.schemas import headers as record_headers
from producer_api import metrics
from producer_api.broker_memory import BrokerMemory
from producer_api.erased_users import ErasedUsers
from producer_api.errors import BrokerUnavailableError, QueueFullError
from producer_api.limits import record_value
from producer_api.settings import ProducerSettings

log = logging.getLogger(__name__)

BUSY_POLL_S = 0.001
IDLE_POLL_S = 1.0
INGEST_ROUTE = "POST /v1/logs"


def records_for(documents: list[dict[str, Any]], received_at: datetime, max_record_bytes: int,
                event_ids: list[str] | None = None,
                property_rules: str | None = None) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """One record per log: key = userId, value = the log as sent plus eventId and receivedAt (the
    server's clock: a client's own eventId or receivedAt is replaced). `event_ids`: those reserved
    for an Idempotency-Key (new ones otherwise). `property_rules`: the rules the log was validated
    with, if not the contract's per-type ones (`propertyRules`; a client's own is never kept)."""
    stamp = received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event_ids = event_ids or [str(uuid.uuid4()) for _ in documents]
    added: dict[str, Any] = {"propertyRules": property_rules} if property_rules else {}
    records = [(document["userId"].encode(),
                record_value({**without_rules(document), "eventId": event_id, "receivedAt": stamp, **added}, index,
                             max_record_bytes))
               for index, (document, event_id) in enumerate(zip(documents, event_ids, strict=True))]
    return records, event_ids


def without_rules(document: dict[str, Any]) -> dict[str, Any]:
    if "propertyRules" not in document:
        return document
    return {key: value for key, value in document.items() if key != "propertyRules"}


Position = tuple[int, int]  # (partition, offset) of an acked record


class _Delivery:
    """Counts the acks of one request's records, noting where each landed; resolves its future when
    the last one is in."""

    __slots__ = ("future", "pending", "error", "positions")

    def __init__(self, future: asyncio.Future[None], count: int):
        self.future = future
        self.pending = count
        self.error: KafkaError | None = None
        self.positions: list[Position] = []

    def __call__(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            if self.error is None:
                self.error = error
        else:
            self.positions.append((message.partition(), message.offset()))
        self.pending -= 1
        if self.pending == 0 and not self.future.done():
            self.future.set_result(None)


class Publisher:
    def __init__(self, settings: ProducerSettings):
        self._settings = settings
        self._topic = settings.raw_topic
        self._retry_after = {"Retry-After": str(settings.retry_after_s)}
        config = {
            **producer_config(settings),
            "linger.ms": settings.kafka_linger_ms,
            "compression.type": settings.kafka_compression,
            "message.timeout.ms": settings.publish_timeout_ms,
            "queue.buffering.max.messages": settings.kafka_queue_max_messages,
            "queue.buffering.max.kbytes": 512 * 1024,
            # room for the record framing around LOGSTREAM_MAX_RECORD_BYTES (checked before publishing)
            "message.max.bytes": max(1_000_000, settings.max_record_bytes + 4096),
        }
        self._producer = Producer(config)
        # Requests answered only once their actions are stored (read your writes) are few at a time,
        # each waiting for the stream: their records go out at once, not after the linger.
        self._prompt = Producer({**config, "linger.ms": 0})
        self._broker_memory = BrokerMemory(settings.broker_pid, settings.broker_max_rss_mb)
        self.erased_users: ErasedUsers | None = None  # set by the app when it refuses erased users' logs
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="kafka-delivery-reports")

    async def _poll(self) -> None:
        while True:
            self._producer.poll(0)
            self._prompt.poll(0)
            if self._in_flight:
                await asyncio.sleep(BUSY_POLL_S)
            else:  # idle: sleep until a publish wakes us (or a while, for stray reports)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)

    async def publish(self, records: Sequence[tuple[bytes, bytes]], headers: list[tuple[str, bytes]] | None = None,
                      route: str = INGEST_ROUTE, actions: int = 0, prompt: bool = False) -> list[Position]:
        """Returns once the broker acknowledged every (key, value) (counted as accepted logs, with their
        `actions`), with where each record landed; raises a 503 error otherwise. Each record carries the
        raw schema's headers, the route that accepted it, then `headers`. `prompt`: sent without the
        linger (a request that will wait for its records to be stored)."""
        self._broker_memory.check()
        if self.erased_users is not None:
            self.erased_users.check(records)
        producer = self._prompt if prompt else self._producer
        if len(producer) + len(records) > self._settings.kafka_queue_max_messages:
            raise QueueFullError("the producer's queue is full; retry later", headers=self._retry_after)
        loop = asyncio.get_running_loop()
        delivery = _Delivery(loop.create_future(), len(records))
        produce, topic = producer.produce, self._topic
        headers = [*_headers_of(route), *headers] if headers else _headers_of(route)
        try:
            for key, value in records:
                produce(topic, value, key, on_delivery=delivery, headers=headers)
        except (BufferError, KafkaException) as exc:
            # Checked above, so only a burst between checks gets here; what was queued still goes
            # out, and a client that retries gets new eventIds.
            raise QueueFullError(f"the producer's queue is full: {exc}", headers=self._retry_after) from exc
        self._in_flight += 1
        self._wake.set()
        started = loop.time()
        # librdkafka fails each record after message.timeout.ms; this timer is only a safety net.
        timer = loop.call_later(self._settings.publish_timeout_ms / 1000 + 5, _expire, delivery.future)
        try:
            await delivery.future
        except TimeoutError as exc:
            raise BrokerUnavailableError("the broker did not acknowledge the logs in time",
                                         headers=self._retry_after) from exc
        finally:
            self._in_flight -= 1
            timer.cancel()
        if delivery.error is not None:
            raise BrokerUnavailableError(f"the broker did not acknowledge the logs: {delivery.error.str()}",
                                         headers=self._retry_after)
        metrics.PUBLISH_SECONDS.observe(loop.time() - started)
        metrics.LOGS_ACCEPTED.inc(amount=len(records))
        metrics.ACTIONS_ACCEPTED.inc(amount=actions)
        return delivery.positions

    def queue_depth(self) -> int:
        return len(self._producer) + len(self._prompt)

    async def close(self, timeout: float = 10.0) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        left = await asyncio.to_thread(self._producer.flush, timeout)
        left += await asyncio.to_thread(self._prompt.flush, timeout)
        if left:
            log.error("%d records were not acknowledged before shutdown", left)


@functools.cache
def _headers_of(route: str) -> list[tuple[str, bytes]]:
    return record_headers(RAW_SCHEMA, extra={ROUTE_HEADER: route})


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
