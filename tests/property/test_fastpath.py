"""The fast path never accepts what the contract refuses, and yields the very rows the contract's
path yields for what both accept."""

from __future__ import annotations

import copy
import uuid

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from logstream.contract import InvalidLogError, validate_logs, validate_record
from logstream.fastpath import REQUIRED, log_actions
from stream.split import Columns, Source
from tests.property.test_contract_properties import json_values, logs

SOURCE = Source("raw", 2, 41, 1_700_000_000_000)

mutations = st.sampled_from([
    ("userId", ""), ("userId", 7), ("sessionId", None), ("sessionId", "x" * 257), ("actions", []), ("actions", {}),
    ("type", "SCROLL"), ("type", 3), ("time", "2018-10-18T21:37:28"), ("time", "1999-12-31T23:59:59Z"),
    ("time", "2018-10-18T21:37:28+05:30:15"), ("time", 1539920248), ("locationX", True), ("locationX", "1"),
    ("viewedId", 5), ("pageTo", None), ("properties", []), ("drop", "properties"), ("drop", "time"),
])


def mutate(document: dict, mutation: tuple[str, object]) -> dict:
    document = copy.deepcopy(document)
    key, value = mutation
    action = document["actions"][0]
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
    slow.add(validate_record(payload), SOURCE)
    for name, fast_column, slow_column in zip(range(12), fast.data, slow.data, strict=True):
        if name == 7:  # properties: same JSON objects (key order may differ)
            assert [orjson.loads(p) for p in fast_column] == [orjson.loads(p) for p in slow_column]
        else:
            assert fast_column == slow_column, name


def test_non_canonical_event_ids_take_the_contract_path() -> None:
    document = {"userId": "u", "sessionId": "s", "eventId": str(uuid.uuid4()).upper(),
                "actions": [{"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {"viewedId": "v"}}]}
    assert not Columns().add_payload(orjson.dumps(document), SOURCE)
    rows = Columns()
    rows.add(validate_record(orjson.dumps(document)), SOURCE)
    assert rows.data[1] == [uuid.UUID(document["eventId"]).int]
