"""logstream.actions.v1 under a worker SIGKILL: no action missing from the topic, and every repeat
carries an actionId already published (at least once, deterministic ids)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from jsonschema import Draft202012Validator

from logstream import schemas
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
        messages = reader.read_until(lambda m: len({orjson.loads(x.value())["actionId"] for x in m}) >= len(expected),
                                     timeout=180)
        time.sleep(2)  # whatever repeats are still on their way
        messages = reader.read_until(lambda m: False, timeout=2)
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
