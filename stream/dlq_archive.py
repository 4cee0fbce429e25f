"""The dead letters kept in the archive (ClickHouse `dead_letters`), read as `logstream dlq` reads
the dead-letter topic: the same headers, the original bytes. They outlive the broker: after a
restart of the memory-only broker the topic is empty, the archive is not (`logstream dlq --archive`).

A letter is named `P:O@L`: the refused record's partition and offset in the raw topic, and the
first 8 hex digits of the topic's id in that broker life (offsets start again in each life).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client
from confluent_kafka import TIMESTAMP_CREATE_TIME

from stream.dlq import ERRORS_HEADER, FAILED_AT_HEADER, MAX_LETTER_BYTES, REASON_HEADER, SOURCE_HEADER, TRUNCATED_HEADER

ARCHIVED_LETTERS = """
SELECT source_topic_id, source_topic, source_partition, source_offset, reason, errors, failed_at, key, value,
       original_bytes
FROM dead_letters
ORDER BY failed_at, source_topic_id, source_partition, source_offset
"""


@dataclass(frozen=True)
class ArchivedLetter:
    """A dead letter from the archive, with the methods of a confluent-kafka message that
    `logstream dlq` uses."""

    life: uuid.UUID
    source_topic: str
    source_partition: int
    source_offset: int
    reason: str
    errors: str
    failed_at: datetime
    original_key: bytes | None
    original_value: bytes | None
    original_bytes: int

    @property
    def failed_at_utc(self) -> datetime:
        return self.failed_at.replace(tzinfo=self.failed_at.tzinfo or UTC)

    @property
    def letter(self) -> str:
        return f"{self.source_partition}:{self.source_offset}@{self.life.hex[:8]}"

    def topic(self) -> str:  # names the letter for ids derived from it (a redrive's eventId)
        return f"{self.source_topic}@{self.life}"

    def partition(self) -> int:
        return self.source_partition

    def offset(self) -> int:
        return self.source_offset

    def key(self) -> bytes | None:
        return self.original_key

    def timestamp(self) -> tuple[int, int]:  # (type, epoch milliseconds): when the letter was written
        return TIMESTAMP_CREATE_TIME, round(self.failed_at_utc.timestamp() * 1000)

    def value(self) -> bytes | None:
        return self.original_value

    def headers(self) -> list[tuple[str, bytes]]:
        stamp = self.failed_at_utc.isoformat(timespec="milliseconds")
        headers = [(REASON_HEADER, self.reason.encode()), (ERRORS_HEADER, self.errors.encode()),
                   (SOURCE_HEADER, f"{self.source_topic}/{self.source_partition}/{self.source_offset}".encode()),
                   (FAILED_AT_HEADER, stamp.encode())]
        if self.original_bytes > MAX_LETTER_BYTES:
            headers.append((TRUNCATED_HEADER, str(self.original_bytes).encode()))
        return headers


def archived_letters(client: Client) -> Iterator[ArchivedLetter]:
    result = client.query(ARCHIVED_LETTERS, column_formats={"key": "bytes", "value": "bytes"})
    for row in result.result_rows:
        yield ArchivedLetter(*row)
