from __future__ import annotations

import orjson

from stream import batch
from stream.split import Source, action_id_of, event_id_of
from tests.fixtures import README_EXAMPLE


def source(offset: int) -> Source:
    return Source("raw", 1, offset, 1_700_000_000_000)


def test_valid_and_invalid_records_are_separated() -> None:
    built = batch.build([
        (b"k", orjson.dumps(README_EXAMPLE), source(0)),
        (b"k", b"{oops", source(1)),
        (None, orjson.dumps({"userId": "u"}), source(2)),
        (None, None, source(3)),
    ])
    assert built.records == 4 and len(built.rows) == 3
    assert [(d.reason, d.source.offset) for d in built.dead] == [
        ("unparseable", 1), ("schema_violation", 2), ("unparseable", 3)]
    assert built.dead[0].value == b"{oops"


def test_a_value_that_cannot_be_stored_is_a_dead_letter_not_a_crash() -> None:
    huge = orjson.dumps(README_EXAMPLE).replace(b'"locationX":52', b'"locationX":52,"big":' + str(2**70).encode())
    built = batch.build([(None, huge, source(5)), (None, orjson.dumps(README_EXAMPLE), source(6))])
    assert [(d.reason, d.problems[0].code) for d in built.dead] == [("schema_violation", "unrepresentable")]
    assert len(built.rows) == 3 and set(built.rows.data[11]) == {6}


def test_records_from_other_producers_get_ids_derived_from_their_position() -> None:
    built = batch.build([(None, orjson.dumps(README_EXAMPLE), source(9))])
    event_id = built.rows.data[1][0]
    assert event_id == event_id_of(batch.validate_record(orjson.dumps(README_EXAMPLE)), source(9))
    assert built.rows.data[0] == [action_id_of(event_id, i) for i in range(3)]
    assert built.rows.data[8][0].timestamp() == 1_700_000_000  # receivedAt from the record's timestamp
