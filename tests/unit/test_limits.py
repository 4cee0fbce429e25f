"""The contract's limits and time sanity: each violation has its code and JSON path, the fast path
refuses it too, and a record's future bound is relative to its own receivedAt (replays agree)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from logstream.contract import (
    InvalidLogError,
    future_bound,
    validate_logs,
    validate_record,
)
from logstream.limits import MAX_ACTIONS_PER_LOG, MAX_DEPTH, MAX_PROPERTIES, MAX_STRING_LENGTH
from logstream.quick_validate import log_actions, valid_action_count
from stream import batch
from stream.split import Source
from tests.fixtures import example


def view(**properties: object) -> dict:
    return {"time": "2018-10-18T21:37:30-06:00", "type": "VIEW", "properties": {"viewedId": "v", **properties}}


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"n": value}
    return value


def refused(document: object, latest: datetime | None = None) -> list[tuple[str, str]]:
    assert log_actions(document) is None or latest is not None
    with pytest.raises(InvalidLogError) as caught:
        validate_logs(document, latest=latest)
    return [(p.path, p.code) for p in caught.value.problems]


@pytest.mark.parametrize(("document", "expected"), [
    (example(actions=[view()] * (MAX_ACTIONS_PER_LOG + 1)), [("actions", "too_many_actions")]),
    (example(actions=[view(**{f"k{i}": i for i in range(MAX_PROPERTIES)})]),
     [("actions[0].properties", "too_many_properties")]),
    (example(actions=[view(list=list(range(MAX_PROPERTIES)))]), [("actions[0].properties", "too_many_properties")]),
    (example(actions=[view(deep=nested(MAX_DEPTH))]), [("actions[0].properties.deep" + ".n" * (MAX_DEPTH - 1),
                                                        "too_deep")]),
    (example(actions=[view(), view(text="x" * (MAX_STRING_LENGTH + 1))]), [("actions[1].properties.text", "too_long")]),
    (example(actions=[view(list=["a", "x" * (MAX_STRING_LENGTH + 1)])]), [("actions[0].properties.list[1]",
                                                                            "too_long")]),
    (example(actions=[view(**{"k" * (MAX_STRING_LENGTH + 1): 1})]), [("actions[0].properties", "too_long")]),
    (example(actions=[{**view(), "properties": {"viewedId": "x" * (MAX_STRING_LENGTH + 1)}}]),
     [("actions[0].properties.viewedId", "too_long")]),
    (example(actions=[view(score=float("inf"))]), [("actions[0].properties.score", "number_out_of_range")]),
])
def test_each_limit_has_its_code_and_path(document: dict, expected: list[tuple[str, str]]) -> None:
    assert refused(document) == expected


def test_just_within_every_limit_is_valid() -> None:
    within = example(actions=[view(deep=nested(MAX_DEPTH - 1), text="x" * MAX_STRING_LENGTH,
                                   **{f"k{i}": i for i in range(MAX_PROPERTIES - 3 - (MAX_DEPTH - 1))})]
                     * MAX_ACTIONS_PER_LOG)
    assert len(validate_logs(within)[0].actions) == MAX_ACTIONS_PER_LOG
    assert log_actions(within) is not None


def test_a_huge_action_list_is_refused_without_validating_each_action() -> None:
    document = example(actions=[{"junk": True}] * 200_000)
    assert refused(document) == [("actions", "too_many_actions")]


NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
LATEST = future_bound(NOW, timedelta(hours=24))


@pytest.mark.parametrize(("time", "accepted"), [
    ("2030-06-02T12:00:00Z", True),  # exactly the skew
    ("2030-06-02T12:00:00.000999Z", True),  # compared to the millisecond, as stored
    ("2030-06-02T12:00:00.001Z", False),
    ("2030-06-02T14:00:00.001+02:00", False),  # the same instant, another offset
    ("2099-12-31T23:59:59Z", False),
])
def test_actions_dated_past_the_skew_are_refused(time: str, accepted: bool) -> None:
    document = example(actions=[{**view(), "time": time}])
    fast = valid_action_count(document, LATEST) if accepted else None
    if accepted:
        assert fast == 1 and validate_logs(document, latest=LATEST)
    else:
        assert refused(document, LATEST) == [("actions[0].time", "time_in_future")]
        assert log_actions(document) is not None  # without a bound, only [2000, 2100) applies


def test_before_2000_is_out_of_range() -> None:
    assert refused(example(actions=[{**view(), "time": "1999-12-31T23:59:59.999Z"}])) == [
        ("actions[0].time", "time_out_of_range")]


def record(time: str, received_at: str | None) -> bytes:
    return orjson.dumps({**example(actions=[{**view(), "time": time}]),
                         **({"receivedAt": received_at} if received_at else {})})


@pytest.mark.parametrize("fast", [True, False])
def test_a_record_is_bounded_by_its_own_received_at_so_replays_agree(fast: bool) -> None:
    day = timedelta(hours=24)
    kafka_ms = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)
    payloads = [
        record("2030-06-02T12:00:00Z", "2030-06-01T12:00:00.000Z"),  # at the bound: kept
        record("2030-06-02T12:00:00.001Z", "2030-06-01T12:00:00.000Z"),  # past it: dead letter
        record("2020-01-02T00:00:00Z", None),  # no receivedAt: the Kafka timestamp is the reference
        record("2020-01-02T00:00:00.001Z", None),
    ]
    if not fast:  # an upper-case eventId makes the fast path hand the record to the contract
        payloads = [p.replace(b'"userId"', b'"eventId":"5B0E1C6E-9E1E-4F0E-8C0E-7C5D6B2E1F0%d","userId"' % i)
                    for i, p in enumerate(payloads)]  # one eventId each: a repeated one is a repeated log
    for replay in range(2):  # the same answer whenever it is re-read
        built = batch.build([(None, p, Source("raw", 0, i, kafka_ms)) for i, p in enumerate(payloads)], max_future=day)
        assert len(built.rows) == 2, replay
        assert [(d.source.offset, [(p.path, p.code) for p in d.problems]) for d in built.dead] == [
            (1, [("actions[0].time", "time_in_future")]), (3, [("actions[0].time", "time_in_future")])]


def test_without_a_bound_the_stream_keeps_what_it_always_kept() -> None:
    built = batch.build([(None, record("2099-01-01T00:00:00Z", "2020-01-01T00:00:00Z"), Source("raw", 0, 0, 1))])
    assert not built.dead and len(built.rows) == 1
    assert validate_record(record("2099-01-01T00:00:00Z", None)).actions
