"""Publishes, after each batch, per raw-topic partition the offset below which every record is stored.

Why a batch's `last offset + 1` is such an offset: a worker consumes a partition in order from where
its group committed, and Faust commits only offsets of batches already processed; so everything
below the batch was stored before (by this worker, or by whichever worker committed), and the batch
itself has just been stored: inserted, dead-lettered, or skipped as stored already. Published without
waiting for the broker's ack: a lost watermark is superseded by the next batch's, and a request
waiting on it falls back to counting its actions (producer_api.visibility).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from logstream.kafka import producer_config
from logstream.settings import KafkaSettings
from logstream.watermarks import Watermark

log = logging.getLogger(__name__)


def nexts_of(events: Sequence[Any]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the offset after the batch's last record there."""
    nexts: dict[tuple[str, int], int] = {}
    for event in events:
        message = event.message
        key = (message.topic, message.partition)
        if message.offset + 1 > nexts.get(key, 0):
            nexts[key] = message.offset + 1
    return nexts


class StoredWatermarks:
    def __init__(self, settings: KafkaSettings, life: Callable[[], uuid.UUID]):
        """`life`: looks up the raw topic's id in the broker's current life (logstream.kafka.topic_id)."""
        self._topic = settings.watermarks_topic
        self._lookup_life = life
        self._producer = Producer({**producer_config(settings), "linger.ms": 0, "compression.type": "none"})
        self.topic_id: uuid.UUID | None = None  # looked up when first needed after a (re)assignment
        self.sent = 0
        self.failed = 0

    def forget_life(self) -> None:
        """Partitions were (re)assigned: perhaps by a broker that restarted, under a new topic id."""
        self.topic_id = None

    async def life(self) -> uuid.UUID | None:
        """The raw topic's id, looked up once per assignment; None while the broker cannot say (that
        batch publishes no watermark: its waiters fall back to counting)."""
        if self.topic_id is None:
            try:
                self.topic_id = await asyncio.to_thread(self._lookup_life)
            except KafkaException as exc:
                log.warning("no watermark for this batch: the raw topic's id is unknown (%s)", exc)
        return self.topic_id

    def publish(self, life: uuid.UUID | None, events: Sequence[Any]) -> None:
        if life is None:
            return
        for (topic, partition), next_offset in nexts_of(events).items():
            watermark = Watermark(topic, life, partition, next_offset)
            try:
                self._producer.produce(self._topic, watermark.encode(), watermark.key(), on_delivery=self._delivered)
            except (BufferError, KafkaException) as exc:
                self.failed += 1
                log.warning("watermark %s not published: %s", watermark, exc)
        self._producer.poll(0)

    def _delivered(self, error: KafkaError | None, _message: object) -> None:
        if error is None:
            self.sent += 1
        else:
            self.failed += 1
            log.warning("a watermark was not delivered: %s", error.str())

    def close(self, timeout: float = 5.0) -> None:
        self._producer.flush(timeout)
