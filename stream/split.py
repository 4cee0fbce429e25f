"""Pure: a validated raw record becomes one row per action, in ClickHouse column order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from logstream.contract import LogRecord, offset_text

# Fixed forever: action and derived event ids must be the same on every replay.
ID_NAMESPACE = uuid.UUID("6f1f7a52-2d4c-4b43-9a6e-0c7d3f2b9e11")

COLUMNS = ("action_id", "event_id", "user_id", "session_id", "type", "time", "time_offset", "properties",
           "received_at", "kafka_topic", "kafka_partition", "kafka_offset")


@dataclass(frozen=True, slots=True)
class Source:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


def event_id_of(record: LogRecord, source: Source) -> uuid.UUID:
    """The producer's eventId, or, for other producers, one derived from the record's position."""
    return record.eventId or uuid.uuid5(ID_NAMESPACE, f"{source.topic}/{source.partition}/{source.offset}")


def action_id_of(event_id: uuid.UUID, index: int) -> uuid.UUID:
    return uuid.uuid5(ID_NAMESPACE, f"{event_id}/{index}")


class Columns:
    """A batch of rows held column by column, as clickhouse-connect inserts them."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: list[list[Any]] = [[] for _ in COLUMNS]

    def __len__(self) -> int:
        return len(self.data[0])

    def add(self, record: LogRecord, source: Source) -> None:
        # The one step that can fail (e.g. an integer beyond 64 bits from another producer) goes
        # first, so a failing record leaves no partial row behind.
        properties_json = [orjson.dumps(action.properties.model_dump()).decode() for action in record.actions]
        event_id = event_id_of(record, source)
        received = record.receivedAt or datetime.fromtimestamp((source.timestamp_ms or 0) / 1000, UTC)
        (action_ids, event_ids, users, sessions, types, times, offsets, properties,
         receiveds, topics, partitions, kafka_offsets) = self.data
        for index, action in enumerate(record.actions):
            action_ids.append(action_id_of(event_id, index))
            event_ids.append(event_id)
            users.append(record.userId)
            sessions.append(record.sessionId)
            types.append(action.type.value)
            times.append(action.time.astimezone(UTC))
            offsets.append(offset_text(action.time))
            properties.append(properties_json[index])
            receiveds.append(received.astimezone(UTC))
            topics.append(source.topic)
            partitions.append(source.partition)
            kafka_offsets.append(source.offset)

    def without(self, action_ids: set[uuid.UUID]) -> Columns:
        keep = [i for i, action_id in enumerate(self.data[0]) if action_id not in action_ids]
        kept = Columns()
        kept.data = [[column[i] for i in keep] for column in self.data]
        return kept

    def first_offsets(self) -> dict[tuple[str, int], int]:
        """The lowest offset of each topic-partition in the batch."""
        first: dict[tuple[str, int], int] = {}
        for topic, partition, offset in zip(self.data[9], self.data[10], self.data[11], strict=True):
            key = (topic, partition)
            if key not in first or offset < first[key]:
                first[key] = offset
        return first
