"""Dead letters: the original record bytes, with why they were refused in the headers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import orjson
from confluent_kafka import KafkaError, Producer

from logstream.contract import Problem
from logstream.kafka import producer_config
from logstream.schemas import DLQ_SCHEMA, STREAM_PRODUCER
from logstream.schemas import headers as record_headers
from stream import metrics
from stream.retry import until_done
from stream.settings import StreamSettings
from stream.split import Source

REASON_HEADER = "logstream.dlq.reason"
ERRORS_HEADER = "logstream.dlq.errors"
SOURCE_HEADER = "logstream.dlq.source"
FAILED_AT_HEADER = "logstream.dlq.failed_at"
TRUNCATED_HEADER = "logstream.dlq.truncated_from"
# A dead letter must fit the broker's default message limit (~1 MB) with its headers, or it could
# never be sent and would hold up its partition: longer originals keep their first bytes.
MAX_LETTER_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str  # unparseable | schema_violation | too_large | unstorable
    problems: list[Problem]
    source: Source
    key: bytes | None
    value: bytes | None

    def headers(self) -> list[tuple[str, bytes]]:
        source = f"{self.source.topic}/{self.source.partition}/{self.source.offset}"
        headers = [
            *record_headers(DLQ_SCHEMA, STREAM_PRODUCER, "application/octet-stream"),
            (REASON_HEADER, self.reason.encode()),
            (ERRORS_HEADER, orjson.dumps([p.as_dict() for p in self.problems])[:16_384]),
            (SOURCE_HEADER, source.encode()),
            (FAILED_AT_HEADER, datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
        ]
        if self.value is not None and len(self.value) > MAX_LETTER_BYTES:
            headers.append((TRUNCATED_HEADER, str(len(self.value)).encode()))
        return headers

    def payload(self) -> bytes | None:
        """The original bytes (the first MAX_LETTER_BYTES of them for a larger record)."""
        return self.value[:MAX_LETTER_BYTES] if self.value is not None else None


class DeliveryError(RuntimeError):
    pass


class LetterArchive(Protocol):
    def write_letters_now(self, letters: list[DeadLetter]) -> int: ...


class DeadLetters:
    def __init__(self, settings: StreamSettings, archive: LetterArchive | None = None):
        """With `archive`, each letter is also kept in ClickHouse once sent (stream.archive)."""
        self._topic = settings.dlq_topic
        self._archive = archive
        self._max_backoff_s = settings.stream_retry_max_backoff_s
        self._producer = Producer({**producer_config(settings), "linger.ms": 5, "message.timeout.ms": 10_000})
        self.sent = 0

    async def send(self, letters: list[DeadLetter]) -> None:
        """At least once: a retry after a partial failure may send some letters twice."""
        await until_done(lambda: asyncio.to_thread(self._send_once, letters), what="dead-letter send",
                         max_backoff_s=self._max_backoff_s)
        if self._archive is not None:
            archive = self._archive
            await until_done(lambda: asyncio.to_thread(archive.write_letters_now, letters),
                             what="dead-letter archive insert", max_backoff_s=self._max_backoff_s)
        self.sent += len(letters)
        for letter in letters:
            metrics.DEAD_LETTERS.labels(letter.reason).inc()

    def _send_once(self, letters: list[DeadLetter]) -> None:
        failures: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                failures.append(error)

        for letter in letters:
            self._producer.produce(self._topic, letter.payload(), letter.key, headers=letter.headers(),
                                   on_delivery=on_delivery)
        left = self._producer.flush(15.0)
        if left or failures:
            raise DeliveryError(f"{left} dead letters unsent, {len(failures)} failed: {failures[:1]}")

    def close(self) -> None:
        self._producer.flush(10.0)
