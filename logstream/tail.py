"""`logstream tail raw|actions|dlq`: logstream's topics as records arrive, for people without Kafka
tools. Partitions are assigned directly (no consumer group, so no group join to wait for on the
embedded broker), from the beginning or from the end of each partition.

The embedded broker answers "the end" slightly wrong (EMBEDDED.md pitfall 1): started without
--from-beginning, tail may first show a few of the newest records again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from logstream.settings import KafkaSettings

TOPICS = ("raw", "actions", "dlq")


@dataclass(frozen=True)
class Filter:
    user: str | None = None
    type: str | None = None

    def keeps(self, key: bytes | None, value: Any) -> bool:
        if self.user is not None and key != self.user.encode():
            return False
        if self.type is None:
            return True
        wanted = self.type.upper()
        if isinstance(value, dict) and "actions" in value:  # a raw log: any of its actions
            actions = value["actions"] if isinstance(value["actions"], list) else []
            return any(isinstance(a, dict) and str(a.get("type", "")).upper() == wanted for a in actions)
        return isinstance(value, dict) and str(value.get("type", "")).upper() == wanted


def topic_name(settings: KafkaSettings, which: str) -> str:
    return {"raw": settings.raw_topic, "actions": settings.actions_topic, "dlq": settings.dlq_topic}[which]


def consumer_for(settings: KafkaSettings, topic: str, from_beginning: bool) -> Consumer:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "logstream-tail",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in sorted(partitions)])
    return consumer


def decoded(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value.decode(errors="backslashreplace")


def as_dict(message: Any) -> dict[str, Any]:
    key = message.key()
    headers = {name: (value or b"").decode(errors="backslashreplace") for name, value in message.headers() or ()}
    return {"topic": message.topic(), "partition": message.partition(), "offset": message.offset(),
            "timestamp": message.timestamp()[1], "key": key.decode(errors="backslashreplace") if key else None,
            "headers": headers, "value": decoded(message.value())}


def render(record: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return orjson.dumps(record).decode()
    headers = " ".join(f"{name}={value}" for name, value in record["headers"].items())
    value = record["value"]
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return (f"{record['topic']} partition={record['partition']} offset={record['offset']} key={record['key']}"
            f"{' ' + headers if headers else ''}\n  {text}")


def records(settings: KafkaSettings, which: str, *, from_beginning: bool = False, keep: Filter = Filter(),
            limit: int | None = None, idle_s: float | None = None) -> Iterator[dict[str, Any]]:
    """The topic's records as they arrive; stops after `limit` records or `idle_s` without one."""
    consumer = consumer_for(settings, topic_name(settings, which), from_beginning)
    shown, last = 0, time.monotonic()
    try:
        while limit is None or shown < limit:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                if idle_s is not None and time.monotonic() - last >= idle_s:
                    return
                continue
            last = time.monotonic()
            record = as_dict(message)
            if keep.keeps(message.key(), record["value"]):
                shown += 1
                yield record
    finally:
        consumer.close()
