"""The compatibility routes' pure parts: 003's first-failure codes, 004's per-field errors, the time
bounds of the reads, each seed's error body."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from logstream import shapes
from logstream.compat import ERROR_HEADER, SeedError
from logstream.contract import InvalidLogError, validate_logs
from producer_api.compat.seed003 import first_failure
from producer_api.compat.seed004 import errors
from query_api.compat.reads import instant, time_range
from query_api.errors import InvalidParameterError
from tests.fixtures import README_EXAMPLE


def log(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(README_EXAMPLE)
    document.update(changes)
    return document


def action(**changes: Any) -> dict[str, Any]:
    return {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 1, "locationY": 2},
            **changes}


# ---------------------------------------------------------------- 003


@pytest.mark.parametrize(("body", "code"), [
    (None, "NO_LOGS_PROVIDED"), ([], "NO_LOGS_PROVIDED"), ({}, "NO_LOGS_PROVIDED"), ("logs", "NO_LOGS_PROVIDED"),
    ([log(userId="")], "MISSING_USERID"), ([{"sessionId": "s"}], "MISSING_USERID"), (["x"], "MISSING_USERID"),
    ([log(userId=7)], "MISSING_USERID"), ([log(userId="u" * 257)], "MISSING_USERID"),
    ([log(sessionId=None)], "MISSING_SESSIONID"),
    ([log(actions=[])], "MISSING_ACTIONS"), ([log(actions={"a": 1})], "MISSING_ACTIONS"),
    ([log(actions=[{}])], "EMPTY_ACTION"), ([log(actions=[None])], "EMPTY_ACTION"),
    ([log(actions=[action(type="")])], "MISSING_TYPE_VALUE"),
    ([log(actions=[action(properties=None)])], "MISSING_PROPERTIES_VALUE"),
    ([log(actions=[action(properties={})])], "MISSING_PROPERTIES_VALUE"),
    ([log(actions=[action(time="")])], "MISSING_TIME_VALUE"),
    ([log(actions=[action(time="2018-10-18T21:37:28")])], "INVALID_TIME_FORMAT"),
    ([log(actions=[action(time="2018-10-18")])], "INVALID_TIME_FORMAT"),
    ([log(actions=[action(time=1539920248)])], "INVALID_TIME_FORMAT"),
    ([log(actions=[action(properties={"locationY": 1})])], "MISSING_LOCATION_X_VALUE"),
    ([log(actions=[action(properties={"locationX": "1", "locationY": 1})])], "MISSING_LOCATION_X_VALUE"),
    ([log(actions=[action(properties={"locationX": 1, "locationY": None})])], "MISSING_LOCATION_Y_VALUE"),
    ([log(actions=[action(type="VIEW", properties={"locationX": 1})])], "MISSING_VIEWEDID_VALUE"),
    ([log(actions=[action(type="NAVIGATE", properties={"pageTo": "b"})])], "MISSING_PAGEFROM_VALUE"),
    ([log(actions=[action(type="NAVIGATE", properties={"pageFrom": "a"})])], "MISSING_PAGETO_VALUE"),
    ([log(actions=[action(type="SCROLL")])], "INVALID_ACTION_TYPE"),
    ([log(actions=[action(type=3)])], "INVALID_ACTION_TYPE"),
])
def test_003_codes(body: Any, code: str) -> None:
    failure = first_failure(body)
    assert failure is not None and failure[0] == code


@pytest.mark.parametrize(("actions", "code"), [
    # within an action, 003's order: type, properties, time, time format, then the type's properties
    ([{"type": "SCROLL"}], "MISSING_PROPERTIES_VALUE"),
    ([{"type": "SCROLL", "properties": {"a": 1}}], "MISSING_TIME_VALUE"),
    ([{"type": "SCROLL", "properties": {"a": 1}, "time": "now"}], "INVALID_TIME_FORMAT"),
    ([{"properties": {"a": 1}, "time": "now"}], "MISSING_TYPE_VALUE"),
    # the first failing action wins
    ([action(properties={"locationY": 1}), action(time="")], "MISSING_LOCATION_X_VALUE"),
])
def test_003_order_within_and_across_actions(actions: list[Any], code: str) -> None:
    assert first_failure([log(actions=actions)]) is not None
    assert first_failure([log(actions=actions)])[0] == code  # type: ignore[index]


def test_003_the_first_failing_log_wins() -> None:
    assert first_failure([log(), log(sessionId=""), log(userId="")])[0] == "MISSING_SESSIONID"  # type: ignore[index]


@pytest.mark.parametrize("time", ["2018-10-18T21:37:28-06:00", "2018-10-18T21:37:28+05:30", "2018-10-18T21:37:28Z",
                                  "2018-10-18T21:37:28.123+00:00", "2018-10-18T21:37:28-0600"])
def test_003_takes_any_offset_and_location_zero(time: str) -> None:
    body = [log(actions=[action(time=time, properties={"locationX": 0, "locationY": 0.0})])]
    assert first_failure(body) is None
    validate_logs(body)  # and the contract agrees


def test_003_accepts_what_the_contract_accepts() -> None:
    assert first_failure([README_EXAMPLE, log(userId="other")]) is None
    assert first_failure([log(actions=[action(type="click")])]) is None  # the contract takes any case


# ---------------------------------------------------------------- 004


def problems_of(document: Any) -> Any:
    with pytest.raises(InvalidLogError) as raised:
        validate_logs(document)
    return raised.value.problems


DRF_TIME = ("Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")


def test_004_errors_per_field() -> None:
    document = {"userId": "", "actions": [action(), action(time="x", properties={"locationY": 1}),
                                          {"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {}}]}
    assert errors(problems_of(document)) == {
        "container_errors": {"userId": ["This field may not be blank."], "sessionId": ["This field is required."]},
        "action_errors": [
            {"time": [DRF_TIME], "properties": {"locationX": ["This field is required."]}},
            {"properties": {"viewedId": ["This field is required."]}},
        ],
    }


def test_004_errors_of_the_container() -> None:
    assert errors(problems_of({"userId": "u", "sessionId": "s", "actions": []})) == {
        "container_errors": {"actions": ["This list may not be empty."]}, "action_errors": []}
    # one entry per refused action, in order (004 listed only the actions with errors)
    assert errors(problems_of({"userId": "u", "sessionId": "s", "actions": [action(), {"type": "CLICK"}, 3]}))[
        "action_errors"] == [{"time": ["This field is required."], "properties": ["This field is required."]},
                             {"type": ["This field is required."]}]


# ---------------------------------------------------------------- reads


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("text", "expected"), [
    ("2018-10-18T21:37:28-06:00", utc(2018, 10, 19, 3, 37, 28)),
    ("2018-10-18T21:37:28 05:30", utc(2018, 10, 18, 16, 7, 28)),  # a "+" decoded as a space
    ("2018-10-18T21:37:28Z", utc(2018, 10, 18, 21, 37, 28)),
    ("2018-10-18T21:37:28", utc(2018, 10, 18, 21, 37, 28)),  # no offset: UTC
    ("2018-10-18", utc(2018, 10, 18)),
    ("", None), (None, None),
])
def test_instants(text: str | None, expected: datetime | None) -> None:
    assert instant("start", text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2018-13-01", "18/10/2018", "2018-10-18T25:00:00Z"])
def test_a_bad_instant_names_its_parameter(text: str) -> None:
    with pytest.raises(InvalidParameterError, match="^start: "):
        instant("start", text)


def test_inclusive_and_exclusive_ends_at_the_millisecond() -> None:
    at = utc(2018, 10, 19, 3, 37, 28)
    assert time_range(at, at, end_inclusive=True) == (at, utc(2018, 10, 19, 3, 37, 28, 1000))
    assert time_range(at, at, end_inclusive=False) == (at, at)
    sub = utc(2018, 10, 19, 3, 37, 28, 1500)  # 28.0015: a stored 28.001 is before it, 28.002 after
    assert time_range(sub, sub, end_inclusive=True) == (utc(2018, 10, 19, 3, 37, 28, 2000),
                                                        utc(2018, 10, 19, 3, 37, 28, 2000))
    assert time_range(None, None, end_inclusive=True) == (None, None)


def test_bounds_are_clamped_to_what_can_be_stored() -> None:
    low, high = time_range(utc(1, 1, 1), utc(9999, 1, 1), end_inclusive=True)
    assert (low, high) == (utc(2000, 1, 1), utc(2100, 1, 1))


# ---------------------------------------------------------------- shapes


def test_each_seeds_error_body() -> None:
    assert shapes.seed000(400, "invalid_logs", "x") == {"status": "failed"}
    assert shapes.seed001_write(400, "invalid_json", "x") == {"error": "No data received"}
    assert shapes.seed001_write(400, "invalid_logs", "why") == {"error": "why"}
    assert shapes.seed001_read(400, "missing_parameters", "parameter(s) must be provided") == {
        "status": "parameter(s) must be provided"}
    assert shapes.seed002(400, "invalid_logs", "x") == {"success": False, "errorCode": "Bad request"}
    assert shapes.seed002(503, "broker_unavailable", "x") == {"success": False, "errorCode": "Service Unavailable"}
    assert shapes.seed003(400, "invalid_json", "x") == {"success": False, "code": "NO_LOGS_PROVIDED"}
    assert shapes.seed003(400, "invalid_parameter", "x") == {"success": False, "code": "INVALID_TIME_FORMAT"}
    assert shapes.seed003(400, "MISSING_USERID", "x") == {"success": False, "code": "MISSING_USERID"}
    assert shapes.seed004(503, "x", "why") == {"container_errors": {"non_field_errors": ["why"]},
                                               "action_errors": []}


def test_a_seed_error_carries_code_and_detail_in_a_header() -> None:
    error = SeedError(shapes.seed000, 400, "invalid_logs", "userId: Field required\n\u00e9t\u00e9" + "x" * 500,
                      headers={"Retry-After": "1"})
    response = error.response()
    assert response.status_code == 400 and response.body == b'{"status":"failed"}'
    header = response.headers[ERROR_HEADER]
    assert header.startswith("invalid_logs: userId: Field required ?t?") and len(header) == 300
    assert response.headers["retry-after"] == "1"


def test_the_error_header_is_always_sendable() -> None:
    from logstream.compat import error_header

    [value] = error_header("invalid_logs", "time is not ISO 8601: 'a\x00b\x7f\x1f\u202e\U0001f600\r\nc'").values()
    assert all(" " <= c <= "~" for c in value)
    assert value == "invalid_logs: time is not ISO 8601: 'a?b? ?? c'"  # \x1f is whitespace to str.split


@pytest.mark.parametrize("package", ["producer_api.compat", "query_api.compat"])
def test_each_service_lists_every_compatibility_route_in_one_place(package: str) -> None:
    """compat/__init__.py's ROUTES names every route its router serves, with the module answering it."""
    import importlib

    from logstream.security import routes_of

    compat = importlib.import_module(package)
    assert sorted(routes_of(compat.router)) == sorted(compat.ROUTES)
    for (method, path), module in compat.ROUTES.items():
        assert (method, path) in routes_of(module.router), (method, path, module.__name__)


def test_the_front_door_knows_every_compatibility_routes_methods() -> None:
    """logstream.compat.SERVED is what the two services serve, and every other method on those paths
    has a 405 route (producer_api/compat/methods.py)."""
    from logstream.compat import SERVED
    from logstream.security import routes_of
    from producer_api import compat as writes
    from producer_api.compat import methods
    from query_api import compat as reads

    served: dict[str, set[str]] = {}
    for method, path in [*writes.ROUTES, *reads.ROUTES]:
        served.setdefault(path, set()).add(method)
    assert {path: set(found) for path, found in SERVED.items()} == served
    refused = routes_of(methods.router)
    for path, found in served.items():
        assert {m for m, p in refused if p == path} == set(methods.METHODS) - found, path


def test_001_bounds_without_an_offset_are_wall_clock_times() -> None:
    from query_api.compat.seed001 import bounds

    day = bounds("2018-10-19", "2018-10-19T23:59:59")
    assert (day["local_start"], day["local_end"]) == (utc(2018, 10, 19), utc(2018, 10, 19, 23, 59, 59, 1000))
    # the instants a wall-clock day can hold, for the time index: a day either side
    assert (day["start"], day["end"]) == (utc(2018, 10, 18), utc(2018, 10, 20, 23, 59, 59, 1000))
    mixed = bounds("2018-10-19T05:30:00+05:30", "2018-10-19T12:00")
    assert (mixed["start"], mixed["local_start"], mixed["local_end"]) == (
        utc(2018, 10, 19), None, utc(2018, 10, 19, 12, 0, 0, 1000))
    assert bounds("2018-10-19T00:00:00Z", "2018-10-19T01:00:00-06:00") == {
        "start": utc(2018, 10, 19), "end": utc(2018, 10, 19, 7, 0, 0, 1000), "local_start": None, "local_end": None}


@pytest.mark.parametrize("text", ["2018-10-19", "2018-10-19T21:37:28", "2018-10-19T21:37-06:00", "2018-10-19T21Z"])
def test_003_bounds_are_full_times_with_an_offset(text: str) -> None:
    from query_api.compat.reads import full_instant

    with pytest.raises(InvalidParameterError, match="^from: "):
        full_instant("from", text)
    assert full_instant("from", "2018-10-19T21:37:28.5-06:00") == utc(2018, 10, 20, 3, 37, 28, 500000)
    assert full_instant("from", "2018-10-19T21:37:28 05:30") == utc(2018, 10, 19, 16, 7, 28)
