"""The fast path never accepts what the contract refuses, and yields the very rows the contract's
path yields for what both accept."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from logstream.contract import (
    EPOCH,
    MILLISECOND,
    InvalidLogError,
    epoch_millis,
    validate_logs,
    validate_record,
)
from logstream.limits import MAX_ACTIONS_PER_LOG, MAX_DEPTH, MAX_PROPERTIES, MAX_STRING_LENGTH
from logstream.quick_validate import REQUIRED, log_actions
from stream.split import COLUMNS, Columns, Source
from tests.property.test_contract_properties import json_values, logs, sent_times

SOURCE = Source("raw", 2, 41, 1_700_000_000_000)

mutations = st.sampled_from([
    ("userId", ""), ("userId", 7), ("sessionId", None), ("sessionId", "x" * 257), ("actions", []), ("actions", {}),
    ("type", "SCROLL"), ("type", 3), ("time", "2018-10-18T21:37:28"), ("time", "1999-12-31T23:59:59Z"),
    ("time", "2018-10-18T21:37:28+05:30:15"), ("time", 1539920248), ("locationX", True), ("locationX", "1"),
    ("viewedId", 5), ("pageTo", None), ("properties", []), ("drop", "properties"), ("drop", "time"),
    # the limits
    ("many_actions", MAX_ACTIONS_PER_LOG + 1), ("many_properties", MAX_PROPERTIES + 1),
    ("deep", MAX_DEPTH + 1), ("long_string", MAX_STRING_LENGTH + 1), ("long_key", MAX_STRING_LENGTH + 1),
    ("not_finite", float("inf")), ("not_finite", float("nan")), ("long_item", MAX_STRING_LENGTH + 1),
])

LIMITS = {"many_actions", "many_properties", "deep", "long_string", "long_key", "not_finite", "long_item"}


def nest(levels: int) -> object:
    value: object = 0
    for _ in range(levels - 1):  # the properties object itself is the first level
        value = [value]
    return value


def mutate(document: dict, mutation: tuple[str, object]) -> dict:
    document = copy.deepcopy(document)
    key, value = mutation
    action = document["actions"][0]
    if key in LIMITS:
        properties = action["properties"]
        if key == "many_actions":
            document["actions"] = (document["actions"] * value)[:value]
        elif key == "many_properties":
            properties.update({f"p{i}": i for i in range(value)})
        elif key == "deep":
            properties["deep"] = nest(value)
        elif key == "long_string":
            properties["text"] = "é" * value
        elif key == "long_key":
            properties["k" * value] = 1
        elif key == "long_item":
            properties["items"] = [{"a": ["x" * value]}]
        else:
            properties["score"] = value
        return document
    if key not in document and key not in ("drop", "type", "time", "properties"):
        # a property: break it on an action whose type requires it
        wanted = [a for a in document["actions"] if key in dict(REQUIRED[a["type"].upper()])]
        assume(wanted)
        action = wanted[0]
    if key == "drop":
        action.pop(str(value), None)
    elif key in document:
        document[key] = value
    elif key in ("type", "time", "properties"):
        action[key] = value
    else:
        action["properties"][key] = value
    return document


def contract_accepts(document: object) -> bool:
    try:
        validate_logs(document)
    except InvalidLogError:
        return False
    return True


@given(json_values)
def test_any_json_the_fast_path_accepts_the_contract_accepts(document: object) -> None:
    if log_actions(document) is not None:
        assert contract_accepts(document)


@settings(max_examples=300)
@given(logs, mutations)
def test_broken_logs_are_refused_by_both(document: dict, mutation: tuple[str, object]) -> None:
    broken = mutate(document, mutation)
    assert log_actions(broken) is None
    assert not contract_accepts(broken)


@settings(max_examples=300)
@given(logs, st.one_of(st.none(), st.uuids().map(str)), st.booleans())
def test_both_paths_yield_the_same_rows(document: dict, event_id: str | None, received: bool) -> None:
    record = {**document, **({"eventId": event_id} if event_id else {}),
              **({"receivedAt": "2024-02-29T23:59:59.999+01:00"} if received else {})}
    payload = orjson.dumps(record)
    fast, slow = Columns(), Columns()
    assert fast.add_payload(payload, SOURCE)
    slow.add(validate_record(payload), SOURCE, payload)
    assert_same_rows(fast, slow)


def assert_same_rows(fast: Columns, slow: Columns) -> None:
    assert len(fast.data) == len(slow.data) == len(COLUMNS)
    for name, fast_column, slow_column in zip(COLUMNS, fast.data, slow.data, strict=True):
        if name == "properties":  # same JSON objects (key order may differ)
            assert [orjson.loads(p) for p in fast_column] == [orjson.loads(p) for p in slow_column]
        else:
            assert fast_column == slow_column, name


@settings(max_examples=300)
@given(logs, mutations)
def test_as_sent_records_agree_on_both_paths(document: dict, mutation: tuple[str, object]) -> None:
    """Seed 002's records (`propertyRules: as-sent`): what the fast path takes, the contract takes, with
    the same rows; a required property missing or of another type is no longer a problem for either."""
    payload = orjson.dumps({**mutate(document, mutation), "propertyRules": "as-sent"})
    fast = Columns()
    try:
        record = validate_record(payload)
    except InvalidLogError:
        assert not fast.add_payload(payload, SOURCE)
        return
    slow = Columns()
    slow.add(record, SOURCE, payload)
    if fast.add_payload(payload, SOURCE):
        assert_same_rows(fast, slow)
    assert set(slow.data[COLUMNS.index("property_rules")]) == {"as-sent"}


def test_as_sent_is_only_the_records_own_word() -> None:
    """The producer's validation never reads a client's propertyRules: only the raw record's counts."""
    view = {"userId": "u", "sessionId": "s", "propertyRules": "as-sent",
            "actions": [{"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {"viewID": "x"}}]}
    assert log_actions(view) is None and not contract_accepts(view)
    assert log_actions(view, properties_as_sent=True) is not None
    assert validate_record(orjson.dumps(view)).actions[0].properties.model_dump() == {"viewID": "x"}


def contract_accepts_by(document: object, latest: datetime) -> bool:
    try:
        validate_logs(document, latest=latest)
    except InvalidLogError:
        return False
    return True


@settings(max_examples=300)
@given(logs, st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)))
def test_with_a_future_bound_the_two_agree(document: dict, latest: datetime) -> None:
    fast = log_actions(document, epoch_millis(latest)) is not None
    assert fast == contract_accepts_by(document, latest)


def test_non_canonical_event_ids_take_the_contract_path() -> None:
    document = {"userId": "u", "sessionId": "s", "eventId": str(uuid.uuid4()).upper(),
                "actions": [{"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {"viewedId": "v"}}]}
    assert not Columns().add_payload(orjson.dumps(document), SOURCE)
    rows = Columns()
    rows.add(validate_record(orjson.dumps(document)), SOURCE, orjson.dumps(document))
    assert rows.data[1] == [uuid.UUID(document["eventId"]).int]


@settings(max_examples=300)
@given(logs, st.booleans(), st.integers(0, 100 * 365 * 86400))
def test_the_stream_paths_agree_on_the_future_bound(document: dict, received: bool, max_future_s: int) -> None:
    record = {**document, **({"receivedAt": "2024-02-29T23:59:59.999+01:00"} if received else {})}
    payload = orjson.dumps(record)
    fast = Columns().add_payload(payload, SOURCE, max_future_s * 1000)
    try:
        validate_record(payload, max_future=timedelta(seconds=max_future_s),
                        reference=EPOCH + SOURCE.timestamp_ms * MILLISECOND)
        slow = True
    except InvalidLogError:
        slow = False
    assert fast == slow


@settings(max_examples=150)
@given(st.dictionaries(st.text(max_size=3), json_values | st.floats() | st.text(min_size=8190, max_size=8200),
                       max_size=5))
def test_the_limits_shortcut_answers_as_the_full_walk(properties: dict) -> None:
    from logstream.limits import _walk, properties_problem

    assert properties_problem(properties) == _walk(properties)


# 36 characters with hyphens where a UUID has them, or not: the fast path once took any 36 lower-case
# characters with a hyphen at index 8, and the sink then failed on an id of over 128 bits.
uuid_like = st.text(alphabet="0123456789abcdefABCDEF-_+ g", min_size=30, max_size=40)
event_ids = st.one_of(
    st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: f"{{{u}}}"), st.uuids().map(lambda u: f"urn:uuid:{u}"), uuid_like,
    st.just("12345678-123456789012345678901234567"), st.text(max_size=40), json_values,
)


@settings(max_examples=400)
@given(logs, event_ids)
def test_the_fast_path_takes_an_event_id_only_as_the_contract_reads_it(document: dict, event_id: object) -> None:
    payload = orjson.dumps({**document, "eventId": event_id})
    fast = Columns()
    if fast.add_payload(payload, SOURCE):
        slow = Columns()
        slow.add(validate_record(payload), SOURCE, payload)  # raises InvalidLogError if the contract refuses it
        assert fast.data[:2] == slow.data[:2]  # the same action and event ids
        assert all(0 <= value < 1 << 128 for column in fast.data[:2] for value in column)


@settings(max_examples=300)
@given(logs, st.one_of(sent_times(), st.text(max_size=40), json_values))
def test_the_fast_path_takes_a_received_at_only_where_the_contract_does(document: dict, received: object) -> None:
    payload = orjson.dumps({**document, "receivedAt": received})
    if Columns().add_payload(payload, SOURCE):
        validate_record(payload)
