"""What the memory-only broker still holds when the embedded stack stops: the records of the raw
topic past the stream's committed offsets (a drain that could not finish, a worker that died) are
saved to a file, and published again when the stack next starts, so a stop loses nothing a client
was told was accepted. Republished records carry REPUBLISHED_HEADER: the stream then inserts only
the actions not stored yet (for the producer's records, whose ids derive from their eventId)."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from logstream.kafka import REPUBLISHED_HEADER, producer_config
from logstream.settings import KafkaSettings

log = logging.getLogger(__name__)

SPOOL_FILES = "raw-*.jsonl"


def undrained(settings: KafkaSettings, group: str, idle_s: float = 2.0) -> Iterator[dict[str, object]]:
    """The raw topic's records past `group`'s committed offsets, read without joining the group.
    (The embedded broker's end offsets are wrong, EMBEDDED.md: read until nothing comes for idle_s.)"""
    topic = settings.raw_topic
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        consumer.assign([TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
                         for tp in committed])
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            quiet_since = time.monotonic()
            yield {"partition": message.partition(), "offset": message.offset(), "key": _b64(message.key()),
                   "value": _b64(message.value()), "headers": [[k, _b64(v)] for k, v in message.headers() or []]}
    finally:
        consumer.close()


def save(settings: KafkaSettings, group: str, directory: Path) -> tuple[int, Path | None]:
    """Spool what the stream has not committed; (records saved, the file or None)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"raw-{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns()}.jsonl"
    count = 0
    with path.open("wb") as spool:
        for record in undrained(settings, group):
            spool.write(orjson.dumps(record) + b"\n")
            count += 1
    if not count:
        path.unlink()
        return 0, None
    return count, path


def republish(settings: KafkaSettings, directory: Path) -> int:
    """Publish every spooled record to the raw topic again, then remove its file."""
    files = sorted(directory.glob(SPOOL_FILES)) if directory.is_dir() else []
    if not files:
        return 0
    producer = Producer(producer_config(settings))
    total = 0
    for path in files:
        records = [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
        for record in records:
            headers = [(k, _unb64(v)) for k, v in record["headers"]] + [(REPUBLISHED_HEADER, b"spool")]
            producer.produce(settings.raw_topic, _unb64(record["value"]), _unb64(record["key"]), headers=headers)
            producer.poll(0)
        if producer.flush(60) != 0:
            raise RuntimeError(f"could not publish the records spooled in {path} again; the file is kept")
        path.unlink()
        total += len(records)
        log.info("published again the %d records spooled in %s", len(records), path)
    return total


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data is not None else None


def _unb64(text: str | None) -> bytes | None:
    return base64.b64decode(text) if text is not None else None
