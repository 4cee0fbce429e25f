"""Follows the stream's stored watermarks (logstream.watermarks) and wakes the requests waiting for
their records to be stored: read-your-writes without polling ClickHouse.

A thread reads the watermarks topic from its end (what was stored before this process started
concerns no request of it) and hands what it reads to the event loop, which keeps the highest
offset per (raw topic id, partition) and resolves the waiters below it. A record acked in the
broker's life L is stored once L's watermark of its partition is past its offset. The producer
knows L from a look-up of the raw topic's id before it publishes, confirmed by one started after
the acks: equal ids mean that no restart of a memory-only broker came between (ids never repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicCollection, TopicPartition

from logstream.kafka import admin_client, id_of
from logstream.watermarks import Watermark, decode
from producer_api.settings import ProducerSettings

log = logging.getLogger(__name__)

Position = tuple[int, int]  # (partition, offset)
LIFE_TIMEOUT_S = 5.0


class StoredWatch:
    def __init__(self, settings: ProducerSettings):
        self._settings = settings
        self._raw = settings.raw_topic
        self._stored: dict[tuple[uuid.UUID, int], int] = {}  # (topic id, partition) -> next offset
        self._waiting: dict[tuple[uuid.UUID, int], list[tuple[int, asyncio.Future[None]]]] = {}
        self._admin = admin_client(settings)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._check: asyncio.Future[uuid.UUID | None] | None = None
        self._check_started = -1.0
        self.life: uuid.UUID | None = None  # the raw topic's id, as last looked up
        self.following = False  # the watermarks topic's consumer is assigned

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._follow, name="stored-watermarks", daemon=True)
        self._thread.start()
        await self.confirm_life(0.0)

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)

    # -- the event loop's side

    async def wait(self, life: uuid.UUID, positions: Sequence[Position], timeout_s: float) -> bool:
        """True once every (partition, offset) of the raw topic's life `life` is stored; False after
        `timeout_s`."""
        loop = asyncio.get_running_loop()
        mine: list[asyncio.Future[None]] = []
        for partition, offset in positions:
            key = (life, partition)
            if self._stored.get(key, 0) > offset:
                continue
            future = loop.create_future()
            self._waiting.setdefault(key, []).append((offset, future))
            mine.append(future)
        if not mine:
            return True
        try:
            await asyncio.wait_for(asyncio.gather(*mine), timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            for key in {(life, partition) for partition, _ in positions}:
                if key in self._waiting:
                    self._waiting[key] = [(o, f) for o, f in self._waiting[key] if f not in mine]
                    if not self._waiting[key]:
                        del self._waiting[key]

    def advance(self, watermarks: Sequence[Watermark]) -> None:
        """Keep the highest offset per (topic id, partition); wake the waiters below it."""
        for watermark in watermarks:
            key = (watermark.topic_id, watermark.partition)
            if watermark.next <= self._stored.get(key, 0):
                continue
            self._stored[key] = watermark.next
            if watermark.topic_id != self.life and self._loop is not None:
                self._loop.create_task(self.confirm_life(self._loop.time()))  # a new life of the broker?
            waiters = self._waiting.get(key)
            if waiters:
                still = []
                for offset, future in waiters:
                    if offset < watermark.next:
                        if not future.done():
                            future.set_result(None)
                    else:
                        still.append((offset, future))
                self._waiting[key] = still

    async def confirm_life(self, since: float) -> uuid.UUID | None:
        """The raw topic's id from a look-up started at or after loop time `since` (one look-up serves
        every request waiting then); None while the broker cannot say."""
        loop = asyncio.get_running_loop()
        if self._check is None or self._check_started < since:
            self._check_started = loop.time()
            self._check = check = loop.create_future()
            try:
                answer = self._admin.describe_topics(TopicCollection([self._raw]),
                                                     request_timeout=LIFE_TIMEOUT_S)[self._raw]
            except KafkaException as exc:
                self._resolve(check, None, exc)
            else:
                answer.add_done_callback(lambda done: loop.call_soon_threadsafe(self._resolve_from, check, done))
        return await asyncio.shield(self._check)

    def _resolve_from(self, check: asyncio.Future[uuid.UUID | None], done: Any) -> None:
        try:
            self._resolve(check, id_of(done.result()), None)
        except Exception as exc:  # the broker's answer was an error (unreachable, no such topic)
            self._resolve(check, None, exc)

    def _resolve(self, check: asyncio.Future[uuid.UUID | None], life: uuid.UUID | None,
                 error: BaseException | None) -> None:
        if error is not None:
            log.warning("the raw topic's id is unknown: %s", error)
        elif life != self.life:
            log.info("raw topic %s: id %s", self._raw, life)
            self.life = life
        if not check.done():
            check.set_result(life)

    # -- the thread's side

    def _follow(self) -> None:
        consumer: Consumer | None = None
        while not self._stopping.is_set():
            try:
                if consumer is None:
                    consumer = self._consumer()
                # poll returns with the first record; consume(n, t) would wait for n records or t
                first = consumer.poll(0.2)
                messages = [first, *consumer.consume(500, timeout=0)] if first is not None else []
            except KafkaException as exc:
                log.warning("cannot follow %s yet: %s", self._settings.watermarks_topic, exc)
                if consumer is not None:
                    consumer.close()
                    consumer = None
                    self.following = False
                self._stopping.wait(1.0)
                continue
            watermarks = [w for m in messages if m.error() is None
                          and (w := decode(m.value())) is not None and w.topic == self._raw]
            if watermarks and self._loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed: the process is stopping
                    self._loop.call_soon_threadsafe(self.advance, watermarks)
        if consumer is not None:
            consumer.close()

    def _consumer(self) -> Consumer:
        """Assigned every partition of the watermarks topic at its end (no group is joined)."""
        topic = self._settings.watermarks_topic
        consumer = Consumer({
            "bootstrap.servers": self._settings.kafka_bootstrap_servers,
            "group.id": f"logstream-producer-{uuid.uuid4()}",  # never joined nor committed
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",  # a broker that lost the topic's records: its new life's
            # the embedded broker answers a fetch only when this wait is over (EMBEDDED.md)
            "fetch.wait.max.ms": self._settings.visible_fetch_wait_ms,
            "log.connection.close": False,
        })
        try:
            partitions = consumer.list_topics(topic, timeout=5).topics[topic].partitions
            if not partitions:
                raise KafkaException(f"topic {topic} has no partitions (not created yet?)")
            # from the end, looked up now: a watermark published after this is read (the embedded broker
            # answers an end a little short of the true one, EMBEDDED.md: a tail is read again, harmlessly)
            ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in partitions]
            consumer.assign([TopicPartition(topic, p, end) for p, end in zip(partitions, ends, strict=True)])
        except Exception:
            consumer.close()
            raise
        log.info("following %s (%d partitions) from offsets %s", topic, len(partitions), ends)
        self.following = True
        return consumer
