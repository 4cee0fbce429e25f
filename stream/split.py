"""Pure: a raw record becomes one row per action, in ClickHouse column order.

Ids are written as integers and times as UTC epoch milliseconds, which clickhouse-connect inserts
as they are into UUID and DateTime64(3) columns: no per-value objects on the hot path.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

import orjson

from logstream.contract import EARLIEST_TIME, LATEST_TIME, PROPERTIES_AS_SENT, LogRecord, epoch_millis, offset_text
from logstream.quick_validate import canonical_uuid, log_actions, sent_time, uuid5_ints

# Fixed forever: action and derived event ids must be the same on every replay.
ID_NAMESPACE = uuid.UUID("6f1f7a52-2d4c-4b43-9a6e-0c7d3f2b9e11")
_NAMESPACE = ID_NAMESPACE.bytes

COLUMNS = ("action_id", "event_id", "user_id", "session_id", "type", "time", "time_offset", "properties",
           "received_at", "kafka_topic", "kafka_partition", "kafka_offset", "action_index",
           "property_rules")


@dataclass(frozen=True, slots=True)
class Source:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


EARLIEST_MS, LATEST_MS = epoch_millis(EARLIEST_TIME), epoch_millis(LATEST_TIME)


def reference_ms(source: Source) -> int | None:
    """A record without receivedAt (another producer's) is dated by its Kafka timestamp, if it has
    one the contract would accept as a time (any producer may set any timestamp)."""
    stamp = source.timestamp_ms
    return stamp if stamp is not None and EARLIEST_MS <= stamp < LATEST_MS else None


def derived_event_id(source: Source, value: bytes) -> uuid.UUID:
    """The eventId of a record that has none (another producer's): from where the broker holds it,
    its timestamp and its bytes. The position alone names two records once offsets start again (a
    memory-only broker restarted, a topic created again); the same record, delivered again, replayed
    from the archive or retried by its producer into the same position, keeps all three."""
    digest = hashlib.blake2b(value, digest_size=16).hexdigest()
    stamp = -1 if source.timestamp_ms is None else source.timestamp_ms  # none: -1, as the stream reads it
    return uuid.uuid5(ID_NAMESPACE, f"{source.topic}/{source.partition}/{source.offset}/{stamp}/{digest}")


def event_id_of(record: LogRecord, source: Source, value: bytes) -> uuid.UUID:
    """The producer's eventId, or, for other producers, one derived from the record (`value`: its bytes)."""
    return record.eventId or derived_event_id(source, value)


def action_id_of(event_id: uuid.UUID, index: int) -> uuid.UUID:
    return uuid.uuid5(ID_NAMESPACE, f"{event_id}/{index}")


class Columns:
    """A batch of rows held column by column, as clickhouse-connect inserts them."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: list[list[Any]] = [[] for _ in COLUMNS]

    def __len__(self) -> int:
        return len(self.data[0])

    def add_payload(self, payload: bytes, source: Source, max_future_ms: int | None = None) -> bool:
        """The fast path: rows straight from the record's bytes. False if it cannot vouch for the
        record; the caller then validates it with the contract (and `add`s it, or dead-letters it).
        With `max_future_ms`, actions dated more than that past the record's reference time (see
        `reference_ms`) are not vouched for."""
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if type(document) is not dict:
            return False
        received = document.get("receivedAt")
        received_sent = sent_time(received) if type(received) is str else None
        if received is not None and received_sent is None:
            return False
        latest_ms = None
        if max_future_ms is not None:
            reference = received_sent[0] if received_sent else reference_ms(source)
            latest_ms = reference + max_future_ms if reference is not None else None
        rules = document.get("propertyRules")
        if rules is not None and rules != PROPERTIES_AS_SENT:
            return False  # the contract refuses what it does not know
        actions = log_actions(document, latest_ms, properties_as_sent=rules is not None)
        if actions is None:
            return False
        event = document.get("eventId")
        if event is None:
            event = str(derived_event_id(source, payload))
        event_int = canonical_uuid(event)
        if event_int is None:
            return False
        try:
            properties = [orjson.dumps(action[3]).decode() for action in actions]
        except orjson.JSONEncodeError:
            return False
        received_ms = received_sent[0] if received_sent else reference_ms(source) or 0
        self._append(uuid5_ints(_NAMESPACE, f"{event}/", len(actions)), event_int, document["userId"],
                     document["sessionId"], [(a[0], a[1], a[2]) for a in actions], properties, received_ms, source,
                     rules or "")
        return True

    def add(self, record: LogRecord, source: Source, value: bytes) -> None:
        """The contract's path, for what the fast path would not vouch for (`value`: the record's
        bytes, `record` validated from them). Raises orjson.JSONEncodeError, before appending
        anything, for a value that cannot be stored."""
        properties = [orjson.dumps(action.properties.model_dump()).decode() for action in record.actions]
        event_id = event_id_of(record, source, value)
        received_ms = epoch_millis(record.receivedAt) if record.receivedAt else reference_ms(source) or 0
        actions = [(a.type.value, epoch_millis(a.time), offset_text(a.time)) for a in record.actions]
        self._append([action_id_of(event_id, i).int for i in range(len(actions))], event_id.int, record.userId,
                     record.sessionId, actions, properties, received_ms, source, record.propertyRules or "")

    def _append(self, action_ids: list[int], event_id: int, user: str, session: str,
                actions: list[tuple[str, int, str]], properties: list[str], received_ms: int,
                source: Source, property_rules: str) -> None:
        count = len(actions)
        data = self.data
        data[0].extend(action_ids)
        data[1].extend([event_id] * count)
        data[2].extend([user] * count)
        data[3].extend([session] * count)
        data[4].extend([a[0] for a in actions])
        data[5].extend([a[1] for a in actions])
        data[6].extend([a[2] for a in actions])
        data[7].extend(properties)
        data[8].extend([received_ms] * count)
        data[9].extend([source.topic] * count)
        data[10].extend([source.partition] * count)
        data[11].extend([source.offset] * count)
        data[12].extend(range(count))
        data[13].extend([property_rules] * count)

    def rows_at(self, keep: list[int]) -> Columns:
        """The rows at these positions, in this order."""
        kept = Columns()
        kept.data = [[column[i] for i in keep] for column in self.data]
        return kept

    def without(self, action_ids: Container[int]) -> Columns:
        return self.rows_at([i for i, action_id in enumerate(self.data[0]) if action_id not in action_ids])

    def since(self, earliest_ms: int) -> Columns:
        """The rows whose action time is at or after `earliest_ms` (the retention's horizon)."""
        times = self.data[5]
        if not times or min(times) >= earliest_ms:
            return self
        return self.rows_at([i for i, t in enumerate(times) if t >= earliest_ms])

    def halves(self) -> tuple[Columns, Columns] | None:
        """The batch cut in two at the record boundary nearest its middle (a record's rows are
        contiguous); None when it holds one record."""
        partitions, offsets = self.data[10], self.data[11]
        starts = [i for i in range(1, len(self))
                  if offsets[i] != offsets[i - 1] or partitions[i] != partitions[i - 1]]
        if not starts:
            return None
        cut = starts[len(starts) // 2]
        return self._rows(slice(0, cut)), self._rows(slice(cut, None))

    def _rows(self, rows: slice) -> Columns:
        part = Columns()
        part.data = [column[rows] for column in self.data]
        return part

    def offset_bounds(self) -> dict[tuple[str, int], tuple[int, int]]:
        """The lowest and highest offset of each topic-partition in the batch."""
        bounds: dict[tuple[str, int], tuple[int, int]] = {}
        for topic, partition, offset in zip(self.data[9], self.data[10], self.data[11], strict=True):
            key = (topic, partition)
            first, last = bounds.get(key, (offset, offset))
            bounds[key] = (min(first, offset), max(last, offset))
        return bounds

    def first_offsets(self) -> dict[tuple[str, int], int]:
        """The lowest offset of each topic-partition in the batch."""
        first: dict[tuple[str, int], int] = {}
        for topic, partition, offset in zip(self.data[9], self.data[10], self.data[11], strict=True):
            key = (topic, partition)
            if key not in first or offset < first[key]:
                first[key] = offset
        return first
