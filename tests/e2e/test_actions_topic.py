"""logstream.actions.v1 under a worker SIGKILL: no action missing from the topic, and every repeat
carries an actionId already published (at least once, deterministic ids)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from jsonschema import Draft202012Validator

from logstream import schemas
from logstream.kafka import ensure_topics
from stream import batch as batches
from stream.actions_topic import ActionsTopic
from stream.settings import StreamSettings
from stream.split import Source
from tests.e2e.workers import Worker, expected_ids, records
from tests.support import produce_raw, wait_until

LOGS = 6_000
ACTIONS = Draft202012Validator(schemas.schema("logstream.actions.v1"))


class TopicReader:
    """Every record of a topic, from the beginning, partitions assigned (no group join)."""

    def __init__(self, bootstrap: str, topic: str):
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self.messages: list[Any] = []

    def read_until(self, done: Any, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        while not done(self.messages) and time.monotonic() < deadline:
            for message in self.consumer.consume(1000, 0.5):
                if message.error() is None:
                    self.messages.append(message)
        return self.messages

    def read_settled(self, done: Any, timeout: float) -> list[Any]:
        """`read_until`, then whatever repeats are still on their way."""
        self.read_until(done, timeout)
        time.sleep(2)
        return self.read_until(lambda m: False, timeout=2)

    def close(self) -> None:
        self.consumer.close()


def test_a_sigkilled_worker_repeats_actions_but_never_loses_one(broker: str, tmp_path: Path) -> None:
    worker = Worker(broker, tmp_path, {"LOGSTREAM_STREAM_BATCH_SIZE": "500",
                                       "LOGSTREAM_STREAM_COMMIT_INTERVAL_S": "3600"})
    worker.env_extra["LOGSTREAM_ACTIONS_TOPIC"] = f"actions-{worker.run}"
    worker.start()
    event_ids, batch = records(LOGS)
    produce_raw(broker, worker.topic, batch)
    published = wait_until(lambda: (n := worker.status().get("actions_published", 0)) >= 3000 and n,
                           timeout=90, what="the first 3000 actions published", interval=0.02)
    worker.service.kill()  # type: ignore[union-attr]  (SIGKILL: no offset was committed)
    assert published < LOGS * 3, "the worker finished before it could be killed mid-stream"

    worker.start()
    expected = expected_ids(event_ids)
    reader = TopicReader(broker, f"actions-{worker.run}")
    try:
        messages = reader.read_settled(
            lambda m: len({orjson.loads(x.value())["actionId"] for x in m}) >= len(expected), timeout=180)
        seen: set[str] = set()
        repeats = 0
        for message in messages:
            value = orjson.loads(message.value())
            assert ACTIONS.is_valid(value), list(ACTIONS.iter_errors(value))[:1]
            assert message.key() == value["userId"].encode()
            assert dict(message.headers())[schemas.SCHEMA_HEADER] == b"logstream.actions/1"
            repeats += value["actionId"] in seen
            seen.add(value["actionId"])
        assert seen == expected, f"{len(expected - seen)} missing, {len(seen - expected)} unexpected"
        assert repeats > 0, "SIGKILL before any commit: the re-delivered batches must be published again"
        assert len(messages) == len(expected) + repeats
    finally:
        reader.close()
        worker.service.stop()  # type: ignore[union-attr]


def test_publishes_keep_each_partitions_order_and_a_clean_stop_repeats_none(broker: str, tmp_path: Path) -> None:
    """A batch's publish runs beside the next batch (stream/actions_topic.py): the records of each raw
    partition still reach the topic in offset order, and a worker stopped mid-stream publishes what
    it stored before it stops, so its successor repeats nothing."""
    worker = Worker(broker, tmp_path, {"LOGSTREAM_STREAM_BATCH_SIZE": "100"})
    worker.env_extra["LOGSTREAM_ACTIONS_TOPIC"] = f"actions-{worker.run}"
    worker.start()
    event_ids, batch = records(LOGS)
    produce_raw(broker, worker.topic, batch)
    wait_until(lambda: worker.status().get("actions_published", 0) >= 3000, timeout=90,
               what="the first 3000 actions published", interval=0.02)
    worker.service.stop()  # type: ignore[union-attr]  (SIGTERM: drained, published, committed)
    assert worker.status() == {}, "the worker still answers after its stop"

    worker.start()
    expected = expected_ids(event_ids)
    reader = TopicReader(broker, f"actions-{worker.run}")
    try:
        messages = reader.read_settled(lambda m: len(m) >= len(expected), timeout=180)
        assert len(messages) == len(expected)
        assert {orjson.loads(m.value())["actionId"] for m in messages} == expected
        last: dict[tuple[int, int], int] = {}  # (topic partition, raw partition) -> the last raw offset seen
        for message in messages:
            source = orjson.loads(message.value())["source"]
            position = (message.partition(), source["partition"])
            assert source["offset"] >= last.get(position, -1), f"out of order in {position}"
            last[position] = source["offset"]
    finally:
        reader.close()
        worker.service.stop()  # type: ignore[union-attr]


def test_batches_submitted_at_once_are_published_in_submit_order(broker: str) -> None:
    """`submit` returns at once; each publish waits for the one before it, so three batches of one
    user's records reach the topic in offset order, however their publishes overlap."""
    settings = StreamSettings(kafka_bootstrap_servers=broker, actions_topic=f"actions-order-{uuid.uuid4().hex[:8]}")
    ensure_topics(settings)
    _, logged = records(3 * 1500, prefix="one-user")
    rows = [batches.build((None, value, Source("raw", 0, offset)) for offset, (_, value) in
                          enumerate(logged[first:first + 1500], start=first)).rows for first in (0, 1500, 3000)]
    topic = ActionsTopic(settings)

    async def submit_all() -> None:
        await asyncio.gather(*[topic.submit(columns) for columns in rows])

    asyncio.run(submit_all())
    topic.close()
    reader = TopicReader(broker, settings.actions_topic)
    try:
        messages = reader.read_until(lambda m: len(m) >= 3 * 4500, timeout=60)
    finally:
        reader.close()
    offsets = [orjson.loads(m.value())["source"]["offset"] for m in messages if m.key() == b"one-user-0"]
    assert len(offsets) == 3 * 1500 // 50 * 3 and offsets == sorted(offsets)
