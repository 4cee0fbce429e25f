"""The eventId `logstream dlq redrive` gives a letter's log that has none: the letter's own name."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from cli.dlq import redrive_value
from tests.fixtures import README_EXAMPLE


@dataclass(frozen=True)
class Letter:
    """What the redrive reads of a dead letter from the topic (a confluent-kafka message's methods)."""

    at: int
    written_ms: int
    original: bytes

    def topic(self) -> str:
        return "logstream.logs.dlq.v1"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.at

    def timestamp(self) -> tuple[int, int]:
        return 1, self.written_ms

    def value(self) -> bytes:
        return self.original


def event_id(letter: Letter, value: bytes | None = None) -> str:
    return orjson.loads(redrive_value(letter, value or letter.value()))["eventId"]


def test_a_letter_redriven_again_is_the_same_log() -> None:
    letter = Letter(5, 1_700_000_000_000, orjson.dumps(README_EXAMPLE))
    fixed = orjson.dumps({**README_EXAMPLE, "userId": "fixed"})
    assert event_id(letter) == event_id(Letter(5, 1_700_000_000_000, orjson.dumps(README_EXAMPLE)))
    assert event_id(letter, fixed) == event_id(letter)  # the fix is still that letter's log


def test_letters_at_one_offset_of_two_broker_lives_are_two_logs() -> None:
    """The memory-only broker's dead-letter topic starts again at offset 0 after a restart."""
    first = Letter(5, 1_700_000_000_000, orjson.dumps(README_EXAMPLE))
    later = Letter(5, 1_700_000_900_000, orjson.dumps({**README_EXAMPLE, "userId": "another"}))
    same_bytes_later = Letter(5, 1_700_000_900_000, first.value())
    assert len({event_id(first), event_id(later), event_id(same_bytes_later)}) == 3


def test_a_log_with_an_event_id_keeps_it() -> None:
    value = orjson.dumps({**README_EXAMPLE, "eventId": "8c4fcd7a-4d0a-4a5c-9a43-1f1a1fd3b1e2"})
    assert event_id(Letter(5, 1_700_000_000_000, value)) == "8c4fcd7a-4d0a-4a5c-9a43-1f1a1fd3b1e2"
