from __future__ import annotations

import uuid

import orjson
import pytest

from logstream.contract import Problem
from stream import batch
from stream.actions_topic import action_records
from stream.split import Columns, Source, action_id_of, derived_event_id, event_id_of
from tests.fixtures import README_EXAMPLE, example


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


def test_an_integer_beyond_64_bits_is_kept_as_a_double_not_a_crash() -> None:
    # orjson (like JavaScript) reads it as a double; the log is stored, not stuck or dead-lettered
    huge = orjson.dumps(README_EXAMPLE).replace(b'"locationX":52', b'"locationX":52,"big":' + str(2**70).encode())
    built = batch.build([(None, huge, source(5)), (None, orjson.dumps(README_EXAMPLE), source(6))])
    assert not built.dead and len(built.rows) == 6
    assert orjson.loads(built.rows.data[7][0])["big"] == float(2**70)


def test_the_contract_path_dead_letters_what_cannot_be_stored() -> None:
    huge = orjson.dumps(README_EXAMPLE).replace(b'"locationX":52', b'"locationX":52,"big":' + str(2**70).encode())
    record = batch.validate_record(huge)
    rows = Columns()
    with pytest.raises(orjson.JSONEncodeError):
        rows.add(record, source(7), huge)
    assert len(rows) == 0


def test_records_from_other_producers_get_ids_derived_from_the_record() -> None:
    value = orjson.dumps(README_EXAMPLE)
    built = batch.build([(None, value, source(9))])
    event_id = event_id_of(batch.validate_record(value), source(9), value)
    assert built.rows.data[1] == [event_id.int] * 3
    assert built.rows.data[0] == [action_id_of(event_id, i).int for i in range(3)]
    assert built.rows.data[8][0] == 1_700_000_000_000  # receivedAt from the record's timestamp
    # the same record delivered again, on the fast path or the contract's: the same ids
    fast, slow = Columns(), Columns()
    assert fast.add_payload(value, source(9))
    slow.add(batch.validate_record(value), source(9), value)
    assert fast.data[0] == slow.data[0] == built.rows.data[0]


def test_two_records_at_one_position_of_two_broker_lives_get_ids_of_their_own() -> None:
    """Offsets start again when a memory-only broker restarts (or a topic is created again): another
    record at a position an earlier one held is not that record."""
    value, other = orjson.dumps(README_EXAMPLE), orjson.dumps({**README_EXAMPLE, "userId": "someone-else"})
    later = Source("raw", 1, 9, 1_700_000_060_000)
    ids = {batch.build([(None, v, s)]).rows.data[1][0]
           for v, s in ((value, source(9)), (other, source(9)), (value, later), (other, later))}
    assert len(ids) == 4


def test_a_record_without_a_timestamp_gets_one_id_however_it_is_read() -> None:
    """Without a timestamp (a pre-0.10 message format), the stream reads -1 (Faust's conversion)
    and a replay from the topic reads none: both name the record alike."""
    value = orjson.dumps({key: v for key, v in README_EXAMPLE.items() if key != "eventId"})
    live, replayed = Source("raw", 1, 9, -1), Source("raw", 1, 9, None)
    assert derived_event_id(live, value) == derived_event_id(replayed, value)


def test_a_record_over_the_limit_is_a_too_large_dead_letter() -> None:
    value = orjson.dumps({**README_EXAMPLE, "padding": "x" * 2000})
    built = batch.build([(b"k", value, source(3))], max_record_bytes=1024)
    assert [(d.reason, d.problems[0].code) for d in built.dead] == [("too_large", "too_large")]
    assert len(built.rows) == 0


def test_a_dead_letter_keeps_the_first_bytes_of_a_huge_original() -> None:
    from stream.dlq import MAX_LETTER_BYTES, TRUNCATED_HEADER, DeadLetter

    letter = DeadLetter("too_large", [], source(4), None, b"y" * (MAX_LETTER_BYTES + 10))
    assert letter.payload() == b"y" * MAX_LETTER_BYTES
    assert dict(letter.headers())[TRUNCATED_HEADER] == str(MAX_LETTER_BYTES + 10).encode()


def test_a_republished_record_in_its_originals_batch_adds_no_action_twice() -> None:
    original = orjson.dumps(example(eventId=str(uuid.uuid4())))
    other = orjson.dumps(example(eventId=str(uuid.uuid4())))
    built = batch.build([(None, original, Source("raw", 0, 0)), (None, other, Source("raw", 0, 1)),
                         (None, original, Source("raw", 0, 2))], republished=frozenset({(0, 2)}))
    assert len(built.rows) == 6 and len(set(built.rows.data[0])) == 6
    assert built.rows.data[11] == [0, 0, 0, 1, 1, 1]  # the original's rows are the ones kept


def test_a_record_the_broker_appended_twice_adds_no_action_twice() -> None:
    """The same record at two offsets, without the republished header (a producer's batch stored twice)."""
    original = orjson.dumps(example(eventId=str(uuid.uuid4())))
    other = orjson.dumps(example(eventId=str(uuid.uuid4())))
    built = batch.build([(None, original, Source("raw", 4, 1633)), (None, other, Source("raw", 4, 1634)),
                         (None, original, Source("raw", 4, 1720))])
    assert len(built.rows) == 6 and len(set(built.rows.data[0])) == 6
    assert built.rows.data[11] == [1633] * 3 + [1634] * 3


def test_a_dead_letter_has_the_headers_its_schema_documents() -> None:
    from stream.dlq import DeadLetter
    from tests.support import headers_validator

    letter = DeadLetter("schema_violation", [Problem("userId", "missing_field", "Field required")], source(5), None,
                        b"{}")
    headers = {name: value.decode() for name, value in letter.headers()}
    validator = headers_validator("logstream.logs.dlq.v1")
    assert validator.is_valid(headers), list(validator.iter_errors(headers))[:1]
    assert headers["logstream.schema"] == "logstream.logs.dlq/1"
    assert orjson.loads(headers["logstream.dlq.errors"]) == [
        {"path": "userId", "code": "missing_field", "message": "Field required"}]


def test_an_action_too_large_to_publish_is_logged_and_skipped_not_retried_forever() -> None:
    import asyncio

    from stream.actions_topic import ActionsTopic
    from stream.settings import StreamSettings

    settings = StreamSettings(kafka_bootstrap_servers="127.0.0.1:1", stream_max_record_bytes=1024)
    topic = ActionsTopic(settings)  # message.max.bytes: 1,000,000
    big = {**README_EXAMPLE, "actions": [{**README_EXAMPLE["actions"][1],
                                          "properties": {"viewedId": "v", **{f"pad{i}": "x" * 8000
                                                                             for i in range(130)}}}]}
    rows = batch.build([(b"k", orjson.dumps(big), source(0))], max_record_bytes=2_000_000).rows
    assert len(rows) == 1
    asyncio.run(topic.publish(rows))  # returns: no broker is needed to refuse it
    assert (topic.too_large, topic.sent) == (1, 0)


def test_an_action_record_the_broker_never_acks_fails_the_publish() -> None:
    """Only failed deliveries are reported: a record that times out unsent must still fail the batch."""
    from stream.actions_topic import ActionsTopic, PublishError
    from stream.settings import StreamSettings

    topic = ActionsTopic(StreamSettings(kafka_bootstrap_servers="127.0.0.1:1"), message_timeout_ms=200)
    rows = batch.build([(b"k", orjson.dumps(README_EXAMPLE), source(0))]).rows
    with pytest.raises(PublishError, match="failed"):
        topic._publish_once(action_records(rows))
    assert topic.sent == 0
