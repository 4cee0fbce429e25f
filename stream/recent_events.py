"""The eventIds a sink stored at each partition's latest offsets: a record a broker holds twice, at
two offsets in different batches, is stored once.

An idempotent producer is not exactly once across a partition leader's failover: librdkafka bumps
its epoch and sends again the requests whose answers it lost, and the new leader may hold them
already (confluentinc/librdkafka#4953). Seen here on three Apache Kafka nodes after a leader's
SIGKILL: a producer's batch appended twice, 87 offsets apart, and one CI run of that test with
2,415 rows stored twice, which copies in later batches explain (not reproduced in four runs since).
The copy carries the same eventIds, hence the same action ids, at other offsets; the sink's check of
a batch's own offsets cannot see it. `batch.build` drops a copy within one batch; this window drops
one in a later batch. A copy's rows are never fed to the summaries: its original's are.

A copy follows its original by at most what the producer had in flight when the leader went
(librdkafka: 5 requests per broker connection), so a window of SPAN offsets per partition is kept
in memory; after a (re)assignment the sink seeds it from ClickHouse (`sink.py`). A copy further
than SPAN offsets from its original would be stored twice.
"""

from __future__ import annotations

from collections.abc import Container

from stream.split import Columns

SPAN = 10_000  # offsets per partition: 60,000 records and ~10 MB for six partitions
SLACK = 1.25  # the window is pruned when it holds this many times what it must
OFFSET_BITS = 48
OFFSET_MASK = (1 << OFFSET_BITS) - 1

Position = tuple[str, int, int]  # a stored row's kafka topic, partition and offset


class RecentEvents:
    def __init__(self, span: int = SPAN):
        self.span = span
        # topic -> eventId -> partition << OFFSET_BITS | offset; replaced, never cleared, so that a
        # `forget` from the event loop leaves a sink's running thread a consistent dict
        self._at: dict[str, dict[int, int]] = {}
        self._top: dict[tuple[str, int], int] = {}

    def __len__(self) -> int:
        """The records held."""
        return sum(len(at) for at in self._at.values())

    def forget(self) -> None:
        self._at, self._top = {}, {}

    def note(self, topic: str, event_id: int, partition: int, offset: int) -> None:
        """A record stored before this sink saw it (found in ClickHouse)."""
        self._at.setdefault(topic, {}).setdefault(event_id, partition << OFFSET_BITS | offset)
        key = (topic, partition)
        if offset > self._top.get(key, -1):
            self._top[key] = offset

    def copies(self, columns: Columns) -> dict[int, Position]:
        """The rows of records whose eventId is stored at another position: action id -> the stored
        original's position."""
        data = columns.data
        found: dict[int, Position] = {}
        for topic in set(data[9]):
            at = self._at.get(topic)
            if not at or at.keys().isdisjoint(data[1]):  # the usual case, checked at C speed
                continue
            for action_id, event_id, row_topic, partition, offset in zip(data[0], data[1], data[9], data[10],
                                                                         data[11], strict=True):
                stored = at.get(event_id) if row_topic == topic else None
                if stored is not None and stored != partition << OFFSET_BITS | offset:
                    found[action_id] = (topic, stored >> OFFSET_BITS, stored & OFFSET_MASK)
        return found

    def add(self, columns: Columns, refused: Container[tuple[int, int]] = ()) -> None:
        """The rows just stored (none a copy of a known record: `copies` took those out), but those of
        the records at the (partition, offset)s `refused`."""
        data = columns.data
        topics = set(data[9])
        if len(topics) > 1:
            for topic in topics:
                self.add(columns.rows_at([i for i, t in enumerate(data[9]) if t == topic]), refused)
            return
        for topic in topics:
            # one entry per record, at C speed
            by_event = dict(zip(data[1], zip(data[10], data[11], strict=True), strict=True))
            at, top = self._at.setdefault(topic, {}), self._top
            for event_id, (partition, offset) in by_event.items():
                if (partition, offset) in refused:
                    continue
                at[event_id] = partition << OFFSET_BITS | offset
                if offset > top.get((topic, partition), -1):
                    top[(topic, partition)] = offset
        self._evict()

    def _evict(self) -> None:
        """Drop what lies more than `span` offsets below its partition's latest, once the window holds
        SLACK times what it must (amortized: a prune follows at least (SLACK - 1) * span new records)."""
        for topic, at in list(self._at.items()):
            partitions = [key for key in self._top if key[0] == topic]
            if len(at) <= SLACK * self.span * max(1, len(partitions)):
                continue
            floor = {partition: self._top[(topic, partition)] - self.span for _, partition in partitions}
            self._at[topic] = {event_id: position for event_id, position in at.items()
                               if position & OFFSET_MASK > floor[position >> OFFSET_BITS]}
