"""The raw topic's JSON Schema against the contract, both ways, on logs near the boundary.

1. Every record the contract accepts validates against infra/kafka/schemas/logstream.logs.raw.v1.json.
2. Every record the schema accepts, the contract accepts too, unless all its problems are among
   NOT_EXPRESSIBLE: the rules JSON Schema cannot state (a time's grammar, range and skew; the
   limits on nested properties; finite numbers). The schema's description names them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from logstream import schemas
from logstream.contract import EPOCH, MILLISECOND, InvalidLogError, render_time, validate_record
from stream import batch
from stream.actions_topic import action_records
from stream.split import Source
from tests.property.test_contract_properties import json_values, logs, sent_times

RAW = Draft202012Validator(schemas.schema("logstream.logs.raw.v1"))
NOT_EXPRESSIBLE = frozenset({"invalid_time", "missing_offset", "invalid_offset", "time_out_of_range",
                             "time_in_future", "too_deep", "too_many_properties", "number_out_of_range"})
MAX_FUTURE = timedelta(hours=24)

uuid_texts = st.uuids().flatmap(lambda u: st.sampled_from([
    str(u), str(u).upper(), u.hex, "{" + str(u) + "}", f"urn:uuid:{u}", str(u)[:-1], str(u) + "0", f"urn:uuid:{u.hex}",
    "{" + u.hex + "}", str(u).replace("-", "", 1), "",
]))
type_names = st.sampled_from(["CLICK", "click", "Click", "clıck", "VIEW", "vıew", "NAVIGATE", "navıgate", "CLİCK",
                              "CLICKS", "", "KLICK", "ＣLICK", "click "])
mutations = st.sampled_from(["drop", "replace", "long", "type", "empty"])


def contract_accepts(payload: bytes) -> tuple[bool, set[str]]:
    """Whether the contract accepts the record, and the codes of the problems it finds that the schema
    could have stated (a string too long below the first level of properties is not one of them)."""
    try:
        validate_record(payload, max_future=MAX_FUTURE)
    except InvalidLogError as exc:
        return False, {p.code for p in exc.problems if not (p.code == "too_long" and nested(p.path))}
    return True, set()


def nested(path: str) -> bool:
    """A path below an action's properties' own members: actions[0].properties.a.b, ...a[1]."""
    _, _, below = path.partition(".properties")
    return below.count(".") + below.count("[") >= 2


def schema_accepts(payload: bytes) -> bool:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return RAW.is_valid(document)


def containers(document: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every dict and list in the document."""
    found = [path] if isinstance(document, dict | list) else []
    items = document.items() if isinstance(document, dict) else enumerate(document) if found else ()
    for key, value in items:
        found += containers(value, (*path, key))
    return found


def at(document: Any, path: tuple) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def near_records(draw: st.DrawFn) -> dict:
    """Valid logs with the producer's fields, then a few random edits anywhere in them."""
    record = draw(logs)
    if draw(st.booleans()):
        record["eventId"] = draw(uuid_texts | st.none() | json_values)
    if draw(st.booleans()):
        record["receivedAt"] = draw(sent_times() | st.none() | json_values)
    if draw(st.booleans()):  # seed 002's route: properties as sent
        record["propertyRules"] = draw(st.sampled_from(["as-sent", None, "contract", 1]))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(containers(record)))
        target = at(record, path)
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        kind = draw(mutations)
        if kind == "drop":
            del target[key]
        elif kind == "replace":
            target[key] = draw(json_values)
        elif kind == "long":
            target[key] = "x" * draw(st.sampled_from([256, 257, 8192, 8193]))
        elif kind == "type":
            target[key] = draw(type_names)
        else:
            target[key] = [] if isinstance(target[key], list) else {} if isinstance(target[key], dict) else ""
    return record


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_records())
def test_the_raw_schema_and_the_contract_agree(record: dict) -> None:
    payload = orjson.dumps(record)
    accepted, problems = contract_accepts(payload)
    if accepted:
        assert schema_accepts(payload), list(RAW.iter_errors(orjson.loads(payload)))[:1]
    elif schema_accepts(payload):
        assert problems <= NOT_EXPRESSIBLE, problems  # the contract refused only for what the schema can't say


@settings(max_examples=200, deadline=None)
@given(logs, uuid_texts)
def test_every_uuid_form_the_contract_takes_the_schema_takes(record: dict, event_id: str) -> None:
    payload = orjson.dumps({**record, "eventId": event_id})
    assert contract_accepts(payload)[0] == schema_accepts(payload), event_id


def test_the_documented_example_is_valid() -> None:
    for example in schemas.schema("logstream.logs.raw.v1")["examples"]:
        assert contract_accepts(orjson.dumps(example)) == (True, set())
        assert RAW.is_valid(example)


ACTIONS = Draft202012Validator(schemas.schema("logstream.actions.v1"))


@settings(max_examples=150, deadline=None)
@given(st.lists(near_records(), min_size=1, max_size=4))
def test_every_action_record_the_stream_publishes_validates(records: list[dict]) -> None:
    """Logs through the stream's own build (fast path or contract) to action records: each has the
    schema, is the /v1/actions object of its row, and refused records publish nothing."""
    built = batch.build((None, orjson.dumps(r), Source("raw", 2, offset, 1_700_000_000_000))
                        for offset, r in enumerate(records))
    published = action_records(built.rows)
    assert len(published) == len(built.rows)
    rows = built.rows.data
    for row, (key, value) in enumerate(published):
        action_id, event_id, user, session, kind, millis, offset, properties, received, topic, partition, raw_offset, \
            _, rules = (column[row] for column in rows)
        document = orjson.loads(value)
        assert ACTIONS.is_valid(document), list(ACTIONS.iter_errors(document))[:1]
        expected = {"actionId": str(uuid.UUID(int=action_id)), "eventId": str(uuid.UUID(int=event_id)),
                    "userId": user, "sessionId": session, "type": kind, "time": document["time"],
                    "properties": orjson.Fragment(properties), "receivedAt": document["receivedAt"],
                    "source": {"topic": topic, "partition": partition, "offset": raw_offset}}
        if rules:
            expected["propertyRules"] = rules
        assert value == orjson.dumps(expected)  # rendered in parts, byte for byte what orjson renders
        assert key == user.encode() and document["actionId"] == str(uuid.UUID(int=action_id))
        assert document["time"] == render_time(EPOCH + millis * MILLISECOND, offset)  # as the client sent it
        assert datetime.fromisoformat(document["receivedAt"]) == EPOCH + received * MILLISECOND
        assert document["source"]["partition"] == 2
    refused = {Source("raw", 2, offset) for offset in range(len(records))}
    assert action_records(built.rows, refused) == []


def test_the_actions_schema_refuses_what_consumers_must_not_see() -> None:
    example = schemas.schema("logstream.actions.v1")["examples"][0]
    assert ACTIONS.is_valid(example)
    for broken in ({**example, "actionId": "nope"}, {**example, "type": "click"},
                   {**example, "properties": {"locationX": 1}}, {k: v for k, v in example.items() if k != "source"},
                   {**example, "time": "2018-10-18 21:37:28Z"}):
        assert not ACTIONS.is_valid(broken)
