"""Stored watermarks: the record format shared by the stream (which publishes them) and the producer
(which follows them to answer read-your-writes requests).

One record says: in the raw topic's life `topic_id` (logstream.kafka.topic_id; a memory-only broker
starts its topics again at offset 0 under a new id), every record of `partition` below offset `next`
is stored: inserted, dead-lettered, or found stored already. A statement that stays true, so readers
keep the highest `next` per (topic id, partition) whatever order the records come in: two workers
around a rebalance, a restarted worker repeating itself, or the compacted topic's history.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Watermark:
    topic: str
    topic_id: uuid.UUID
    partition: int
    next: int

    def key(self) -> bytes:
        """The compaction key: one current value per raw-topic partition."""
        return f"{self.topic}/{self.partition}".encode()

    def encode(self) -> bytes:
        return orjson.dumps({"topic": self.topic, "topicId": str(self.topic_id), "partition": self.partition,
                             "next": self.next})


def decode(value: bytes | None) -> Watermark | None:
    """A watermark record's value, or None for anything else (never raises)."""
    try:
        data = orjson.loads(value or b"")
        return Watermark(str(data["topic"]), uuid.UUID(data["topicId"]), int(data["partition"]), int(data["next"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
