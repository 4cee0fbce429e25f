"""Publishes records to the raw topic and reports when the broker acknowledged all of them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Producer

from logstream.kafka import producer_config
from producer_api.errors import BrokerUnavailableError, QueueFullError
from producer_api.settings import ProducerSettings

log = logging.getLogger(__name__)


class _Delivery:
    """Counts the acks of one request's records; resolves its future once, in the loop."""

    __slots__ = ("future", "loop", "pending", "error")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int):
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.pending = count
        self.error: KafkaError | None = None

    def __call__(self, error: KafkaError | None, _message: object) -> None:  # poller thread
        if error is not None and self.error is None:
            self.error = error
        self.pending -= 1
        if self.pending == 0:
            self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class Publisher:
    def __init__(self, settings: ProducerSettings):
        self._settings = settings
        self._topic = settings.raw_topic
        self._producer = Producer({
            **producer_config(settings),
            "linger.ms": settings.kafka_linger_ms,
            "compression.type": settings.kafka_compression,
            "message.timeout.ms": settings.publish_timeout_ms,
            "queue.buffering.max.messages": settings.kafka_queue_max_messages,
            "queue.buffering.max.kbytes": 512 * 1024,
        })
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.05)

    async def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Returns once the broker acknowledged every (key, value); raises a 503 error otherwise."""
        if len(self._producer) + len(records) > self._settings.kafka_queue_max_messages:
            raise QueueFullError("the producer's queue is full; retry later",
                                 headers={"Retry-After": str(self._settings.retry_after_s)})
        delivery = _Delivery(asyncio.get_running_loop(), len(records))
        try:
            for key, value in records:
                self._producer.produce(self._topic, value, key, on_delivery=delivery)
        except (BufferError, KafkaException) as exc:
            # Checked above, so only another thread's burst gets here; what was queued still
            # goes out, and the client that retries gets new eventIds.
            raise QueueFullError(f"the producer's queue is full: {exc}",
                                 headers={"Retry-After": str(self._settings.retry_after_s)}) from exc
        # librdkafka fails each record after message.timeout.ms, so this wait is bounded.
        try:
            await asyncio.wait_for(asyncio.shield(delivery.future), self._settings.publish_timeout_ms / 1000 + 5)
        except TimeoutError as exc:
            raise BrokerUnavailableError("the broker did not acknowledge the logs in time",
                                         headers={"Retry-After": str(self._settings.retry_after_s)}) from exc
        if delivery.error is not None:
            raise BrokerUnavailableError(f"the broker did not acknowledge the logs: {delivery.error.str()}",
                                         headers={"Retry-After": str(self._settings.retry_after_s)})

    def flush(self, timeout: float) -> int:
        return self._producer.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        left = self.flush(timeout)
        if left:
            log.error("%d records were not acknowledged before shutdown", left)
        self._stopping.set()
        self._poller.join(timeout=1.0)
