"""Pure: a batch of raw records becomes rows to insert and dead letters to send."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import orjson

from logstream.contract import EPOCH, MILLISECOND, InvalidLogError, Problem, validate_record
from stream.dlq import DeadLetter
from stream.split import Columns, Source, reference_ms


@dataclass
class Batch:
    rows: Columns = field(default_factory=Columns)
    dead: list[DeadLetter] = field(default_factory=list)
    records: int = 0
    # eventIds (as integers) of republished records: their actions may be stored already
    recheck_events: set[int] = field(default_factory=set)


def reason_for(error: InvalidLogError) -> str:
    return "unparseable" if any(p.code == "invalid_json" for p in error.problems) else "schema_violation"


def build(records: Iterable[tuple[bytes | None, bytes | None, Source]], *,
          republished: frozenset[tuple[int, int]] = frozenset(), max_record_bytes: int = 1 << 20,
          max_future: timedelta | None = None) -> Batch:
    """`republished`: (partition, offset) of the records a producer published again (a retry of an
    Idempotency-Key whose first attempt died mid-way). With `max_future`, actions dated more than
    that past their record's receivedAt (or Kafka timestamp) are dead-lettered (time_in_future):
    the same answer on every replay."""
    batch = Batch()
    max_future_ms = max_future // MILLISECOND if max_future is not None else None
    for key, value, source in records:
        batch.records += 1
        if value is not None and len(value) > max_record_bytes:
            problem = Problem("", "too_large", f"the record is {len(value)} bytes; the limit is {max_record_bytes}")
            batch.dead.append(DeadLetter("too_large", [problem], source, key, value))
            continue
        rows_before = len(batch.rows)
        if value and batch.rows.add_payload(value, source, max_future_ms):
            _note_republished(batch, source, rows_before, republished)
            continue
        reference = reference_ms(source)
        try:
            record = validate_record(value or b"", max_future=max_future,
                                     reference=EPOCH + reference * MILLISECOND if reference is not None else None)
        except InvalidLogError as exc:
            batch.dead.append(DeadLetter(reason_for(exc), exc.problems, source, key, value))
            continue
        try:
            batch.rows.add(record, source, value or b"")
            _note_republished(batch, source, rows_before, republished)
        except orjson.JSONEncodeError as exc:
            problem = Problem("actions", "unrepresentable", f"a property value cannot be stored: {exc}")
            batch.dead.append(DeadLetter("schema_violation", [problem], source, key, value))
    _drop_repeated_actions(batch)
    return batch


def _drop_repeated_actions(batch: Batch) -> None:
    """A record twice in one batch: republished with its original (the sink checks only what is
    stored before the batch), or one batch of a producer's appended twice by a broker (seen on Apache
    Kafka after a partition leader's SIGKILL: the same records 87 offsets apart, no header). Its
    actions are kept once, from the first record that carries them."""
    data = batch.rows.data
    if len(set(data[0])) == len(data[0]):  # the usual case, checked at C speed: no row is repeated
        return
    seen: set[int] = set()
    keep = []
    for row, action_id in enumerate(data[0]):
        if action_id in seen:
            continue
        seen.add(action_id)
        keep.append(row)
    if len(keep) < len(batch.rows):
        batch.rows = batch.rows.rows_at(keep)


def _note_republished(batch: Batch, source: Source, rows_before: int,
                      republished: frozenset[tuple[int, int]]) -> None:
    if republished and (source.partition, source.offset) in republished and len(batch.rows) > rows_before:
        batch.recheck_events.add(batch.rows.data[1][rows_before])
