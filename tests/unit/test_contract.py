from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from logstream.contract import (
    ActionType,
    InvalidLogError,
    offset_text,
    render_time,
    validate_logs,
    validate_record,
)
from tests.fixtures import README_EXAMPLE, example


def problems(document: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidLogError) as caught:
        validate_logs(document)
    return [(p.path, p.code) for p in caught.value.problems]


def test_readme_example_is_valid() -> None:
    [log] = validate_logs(README_EXAMPLE)
    assert log.userId == "ABC123XYZ"
    assert [a.type for a in log.actions] == [ActionType.CLICK, ActionType.VIEW, ActionType.NAVIGATE]


def test_an_array_of_logs_is_valid() -> None:
    assert len(validate_logs([README_EXAMPLE, README_EXAMPLE])) == 2


def test_type_is_accepted_in_any_case_and_stored_upper_case() -> None:
    document = example()
    document["actions"][1]["type"] = "vIeW"
    assert validate_logs(document)[0].actions[1].type == ActionType.VIEW


def test_zero_is_a_valid_location() -> None:
    document = example()
    document["actions"][0]["properties"] = {"locationX": 0, "locationY": 0.0}
    assert validate_logs(document)[0].actions[0].properties.locationX == 0


def test_other_property_keys_are_kept_as_sent() -> None:
    document = example()
    document["actions"][2]["properties"]["referrer"] = {"utm": ["a", 1]}
    props = validate_logs(document)[0].actions[2].properties.model_dump()
    assert props == {"pageFrom": "communities", "pageTo": "inventory", "referrer": {"utm": ["a", 1]}}


@pytest.mark.parametrize("sent", ["2018-10-18T21:37:28-06:00", "2018-10-18T21:37:28Z", "2018-10-18T21:37:28+05:30",
                                  "2018-10-18T21:37:28.250+00:00"])
def test_time_keeps_the_offset_it_was_sent_with(sent: str) -> None:
    document = example()
    document["actions"][0]["time"] = sent
    time = validate_logs(document)[0].actions[0].time
    assert render_time(time.astimezone(UTC), offset_text(time)) == sent


def test_every_problem_is_listed_with_its_path_and_code() -> None:
    bad = example(userId="", sessionId="x" * 257)
    bad["actions"][0]["properties"] = {"locationY": "11"}
    bad["actions"][1]["type"] = "SCROLL"
    bad["actions"][2]["time"] = "2018-10-18T21:37:30"
    found = problems([README_EXAMPLE, bad])
    assert found == [
        ("[1].userId", "empty"),
        ("[1].sessionId", "too_long"),
        ("[1].actions[0].properties.locationX", "missing_property"),
        ("[1].actions[0].properties.locationY", "wrong_type"),
        ("[1].actions[1].type", "unknown_action_type"),
        ("[1].actions[2].time", "missing_offset"),
    ]


@pytest.mark.parametrize(("document", "expected"), [
    ({}, [("userId", "missing_field"), ("sessionId", "missing_field"), ("actions", "missing_field")]),
    (example(actions=[]), [("actions", "empty")]),
    (example(actions=[{"time": "2018-10-18T21:37:28Z", "properties": {}}]), [("actions[0].type", "missing_field")]),
    (example(userId=5), [("userId", "wrong_type")]),
    ([], [("", "empty")]),
    ("a string", [("", "wrong_type")]),
    (example(actions=[{"time": "yesterday", "type": "VIEW", "properties": {"viewedId": "a"}}]),
     [("actions[0].time", "invalid_time")]),
    (example(actions=[{"time": "1999-12-31T23:59:59Z", "type": "VIEW", "properties": {"viewedId": "a"}}]),
     [("actions[0].time", "time_out_of_range")]),
    (example(actions=[{"time": "2018-10-18T21:37:28Z", "type": "CLICK", "properties": {"locationX": True,
                                                                                          "locationY": 1}}]),
     [("actions[0].properties.locationX", "wrong_type")]),
    (example(actions=[{"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": []}]),
     [("actions[0].properties", "wrong_type")]),
])
def test_invalid_documents(document: object, expected: list[tuple[str, str]]) -> None:
    assert problems(document) == expected


def test_a_record_carries_event_id_and_received_at() -> None:
    payload = orjson.dumps({**README_EXAMPLE, "eventId": "5b0e1c6e-9e1e-4f0e-8c0e-7c5d6b2e1f00",
                            "receivedAt": "2024-01-01T00:00:00.123Z"})
    record = validate_record(payload)
    assert str(record.eventId) == "5b0e1c6e-9e1e-4f0e-8c0e-7c5d6b2e1f00"
    assert record.receivedAt == datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


def test_a_record_from_another_producer_may_omit_them() -> None:
    record = validate_record(orjson.dumps(README_EXAMPLE))
    assert record.eventId is None and record.receivedAt is None


def test_unparseable_record() -> None:
    with pytest.raises(InvalidLogError) as caught:
        validate_record(b"{not json")
    assert caught.value.problems[0].code == "invalid_json"
