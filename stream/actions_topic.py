"""The per-action topic (logstream.actions.v1): one record per stored action, for data teams.

Published after the batch's rows are in ClickHouse and before the batch is acked, from every valid
row of the batch, including rows the sink skipped as already stored (a re-delivery after a crash
between the insert and this publish must still publish them). The worker does not wait for it: a
batch's publish (`submit`) runs beside the next batch, after the previous batch's, and only the
batch's ack waits for it. So: at least once, never missing an action; a repeat carries an actionId
already seen (deterministic), which is how consumers drop it.
Exactly once would need Kafka transactions, which the embedded broker does not isolate (an aborted
transaction's records reach read_committed consumers; docs/topics.md).

Key: the userId. Within a raw partition records are published in offset order, so one user's
actions keep their order (repeats aside).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer

from logstream.contract import render_millis
from logstream.kafka import producer_config
from logstream.schemas import ACTIONS_SCHEMA, STREAM_PRODUCER, headers
from stream.retry import until_done
from stream.settings import StreamSettings
from stream.split import Columns, Source

HEADERS = headers(ACTIONS_SCHEMA, STREAM_PRODUCER)
# An action record is at most its raw record's size plus ids, times and source (~500 bytes).
RECORD_MARGIN = 64 * 1024
log = logging.getLogger(__name__)


def _uuid_text(value: int) -> str:
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _json_text(value: str) -> str:
    return orjson.dumps(value).decode()


def action_records(columns: Columns, skip: Iterable[Source] = ()) -> list[tuple[bytes, bytes]]:
    """Pure: (key, value) of every row, except the rows of the records in `skip` (refused by the
    engine, so never stored). The value is /v1/actions' object plus receivedAt and source, in that
    key order, as `orjson.dumps` renders it; the parts a record's actions share (its rows are
    contiguous) are rendered once per record, not once per action."""
    skipped = {(s.topic, s.partition, s.offset) for s in skip}
    (action_ids, event_ids, users, sessions, kinds, times, offsets, properties, received, topics, partitions,
     raw_offsets, _, rules) = columns.data
    kind_texts: dict[str, str] = {}
    out = []
    record = None
    key = b""
    head = tail = ""
    for i in range(len(columns)):
        position = (topics[i], partitions[i], raw_offsets[i])
        if skipped and position in skipped:
            continue
        if position != record:  # the first row of a record: render what its actions share
            record = position
            key = users[i].encode()
            head = (f'","eventId":"{_uuid_text(event_ids[i])}","userId":{_json_text(users[i])},'
                    f'"sessionId":{_json_text(sessions[i])},"type":')
            tail = (f',"receivedAt":"{render_millis(received[i], "Z", always_millis=True)}",'
                    f'"source":{{"topic":{_json_text(topics[i])},"partition":{partitions[i]},'
                    f'"offset":{raw_offsets[i]}}}'
                    + (f',"propertyRules":{_json_text(rules[i])}}}' if rules[i] else "}"))
        kind = kind_texts.get(kinds[i])
        if kind is None:
            kind = kind_texts[kinds[i]] = _json_text(kinds[i])
        out.append((key, f'{{"actionId":"{_uuid_text(action_ids[i])}{head}{kind},'
                         f'"time":"{render_millis(times[i], offsets[i])}","properties":{properties[i]}{tail}'.encode()))
    return out


class PublishError(RuntimeError):
    pass


class ActionsTopic:
    """Publishes action records and returns once the broker acked them all (retried until it does)."""

    def __init__(self, settings: StreamSettings, *, message_timeout_ms: int = 30_000):
        self.topic = settings.actions_topic
        self._max_backoff_s = settings.stream_retry_max_backoff_s
        largest = max(1_000_000, settings.stream_max_record_bytes + RECORD_MARGIN)
        # delivery reports for failures only: a report per delivered record cost a Python call each
        self._producer = Producer({**producer_config(settings), "linger.ms": 5, "compression.type": "lz4",
                                   "message.timeout.ms": message_timeout_ms, "message.max.bytes": largest,
                                   "delivery.report.only.error": True, "on_delivery": self._on_delivery})
        self._failures: list[KafkaError] = []
        self._last: asyncio.Future[None] | None = None  # the latest `submit`: the next one waits for it
        self.sent = 0
        self.too_large = 0

    def submit(self, columns: Columns, skip: Iterable[Source] = ()) -> asyncio.Future[None]:
        """`publish`, once everything submitted before is published (a partition's records keep
        their order), while the caller goes on. Done once published; cancelled, or raising, if one
        submitted before it was not published (the worker is stopping)."""
        previous = self._last

        async def after_previous() -> None:
            if previous is not None:
                await asyncio.shield(previous)
            await self.publish(columns, skip)

        self._last = asyncio.ensure_future(after_previous())
        return self._last

    async def drain(self) -> None:
        """Returns once everything submitted is published, or has failed."""
        if self._last is not None:
            await asyncio.wait([self._last])

    async def publish(self, columns: Columns, skip: Iterable[Source] = ()) -> None:
        # rendered in a thread, as produced: the event loop stays free to deliver the next batch
        records = await asyncio.to_thread(action_records, columns, skip)
        if records:
            skipped = await until_done(lambda: asyncio.to_thread(self._publish_once, records),
                                       what="actions publish", max_backoff_s=self._max_backoff_s)
            self.sent += len(records) - skipped

    def _publish_once(self, records: list[tuple[bytes, bytes]]) -> int:
        """Returns how many records were too large to send (logged, counted in `too_large`)."""
        failures = self._failures
        failures.clear()
        skipped = 0
        produce, topic = self._producer.produce, self.topic
        for key, value in records:
            while True:
                try:
                    produce(topic, value, key, headers=HEADERS)
                    break
                except BufferError:  # the local queue is full: let it drain
                    self._producer.poll(0.05)
                except KafkaException as exc:
                    if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                        raise
                    # no retry can send it, and it must not stop the stream: it stays in ClickHouse
                    skipped += 1
                    log.error("action record of %d bytes is too large for %s; not published: %s", len(value),
                              topic, value[:120])
                    break
        left = self._producer.flush(30.0)
        if left or failures:
            raise PublishError(f"{left} action records unsent, {len(failures)} failed: {failures[:1]}")
        self.too_large += skipped
        return skipped

    def _on_delivery(self, error: KafkaError | None, _message: object) -> None:
        """Called from `flush`/`poll`, in the publishing thread, for the records that failed."""
        if error is not None:
            self._failures.append(error)

    def close(self) -> None:
        self._producer.flush(10.0)
