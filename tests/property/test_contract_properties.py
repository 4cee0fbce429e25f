"""Hypothesis on the contract: any JSON validates or raises InvalidLogError; valid logs split into
one row per action with deterministic ids; sent times round-trip exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from logstream.contract import InvalidLogError, offset_text, render_time, validate_logs, validate_record
from query_api.cursor import Cursor
from stream import batch
from stream.split import Source

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)

identifiers = st.text(min_size=1, max_size=256)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))
instants = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@st.composite
def sent_times(draw: st.DrawFn) -> str:
    local = draw(instants)
    offset = draw(offsets)
    text = local.replace(tzinfo=timezone(offset)).isoformat(timespec="milliseconds" if local.microsecond else "seconds")
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


numbers = st.integers(-10**6, 10**6) | st.floats(-1e6, 1e6, allow_nan=False)
extra = st.dictionaries(st.text(max_size=8).filter(lambda k: k not in {"locationX", "locationY", "viewedId",
                                                                       "pageFrom", "pageTo"}), json_values,
                        max_size=3)


@st.composite
def actions(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["CLICK", "VIEW", "NAVIGATE"]))
    required = {
        "CLICK": st.fixed_dictionaries({"locationX": numbers, "locationY": numbers}),
        "VIEW": st.fixed_dictionaries({"viewedId": st.text()}),
        "NAVIGATE": st.fixed_dictionaries({"pageFrom": st.text(), "pageTo": st.text()}),
    }[kind]
    case = draw(st.sampled_from([str.upper, str.lower, str.title]))
    return {"time": draw(sent_times()), "type": case(kind), "properties": {**draw(extra), **draw(required)}}


logs = st.fixed_dictionaries({"userId": identifiers, "sessionId": identifiers,
                              "actions": st.lists(actions(), min_size=1, max_size=5)})


@given(json_values)
def test_any_json_validates_or_raises_invalid_log_error(document: object) -> None:
    try:
        validate_logs(document)
    except InvalidLogError as exc:
        assert exc.problems and all(p.code for p in exc.problems)


@given(st.binary(max_size=200))
def test_any_bytes_on_the_topic_validate_or_raise_invalid_log_error(payload: bytes) -> None:
    try:
        validate_record(payload)
    except InvalidLogError as exc:
        assert exc.problems


@settings(max_examples=200)
@given(logs)
def test_valid_logs_validate_and_split_into_one_row_per_action(document: dict) -> None:
    [log] = validate_logs(document)
    first = batch.build([(None, orjson.dumps(document), Source("raw", 3, 17, 1_700_000_000_000))])
    again = batch.build([(None, orjson.dumps(document), Source("raw", 3, 17, 1_700_000_000_000))])
    assert not first.dead
    rows = first.rows.data
    assert len(first.rows) == len(document["actions"])
    assert rows[0] == again.rows.data[0], "action ids are deterministic"
    assert len(set(rows[0])) == len(rows[0])
    assert rows[4] == [a["type"].upper() for a in document["actions"]]
    assert [orjson.loads(p) for p in rows[7]] == [a["properties"] for a in document["actions"]]
    for sent, action, millis, offset in zip(document["actions"], log.actions, rows[5], rows[6], strict=True):
        assert render_time(datetime.fromtimestamp(millis / 1000, UTC), offset) == sent["time"]
        assert offset == offset_text(action.time)


@given(instants, st.uuids(), st.none() | st.tuples(instants, st.integers(0, 2**31), st.integers(0, 2**63),
                                                  st.integers(0, 1000)))
def test_cursor_round_trips(instant: datetime, action_id, arrival) -> None:
    if arrival is not None:
        arrival = (arrival[0].replace(tzinfo=UTC), *arrival[1:])
    cursor = Cursor(instant.replace(tzinfo=UTC), action_id, arrival)
    assert Cursor.decode(cursor.encode()) == cursor
