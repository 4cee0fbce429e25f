"""The analyst routes (/v1/stats/*, sessions, users, export) through the real app on the real
ClickHouse engine, with data written by the real sink (so the rollups are fed as in production); and
the OpenAPI document's examples, the compatibility reads' held to their real answers."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from query_api.app import create_app
from query_api.settings import QuerySettings
from tests.support import same_shape, success_examples

EDMONTON = "America/Edmonton"


def log(user: str, session: str, actions: list[tuple[str, str, dict]]) -> bytes:
    return orjson.dumps({"userId": user, "sessionId": session, "eventId": str(uuid.uuid4()),
                         "actions": [{"time": t, "type": k, "properties": p} for t, k, p in actions]})


def nav(page_from: str, page_to: str) -> dict[str, str]:
    return {"pageFrom": page_from, "pageTo": page_to}


LOGS = [
    # The issue's example: three actions in the 21:00 Edmonton hour of 2018-10-18.
    log("ABC123XYZ", "XYZ456ABC", [("2018-10-18T21:37:28-06:00", "CLICK", {"locationX": 52, "locationY": 11}),
                                   ("2018-10-18T21:37:30-06:00", "VIEW", {"viewedId": "FDJKLHSLD"}),
                                   ("2018-10-18T21:37:30-06:00", "NAVIGATE", nav("communities", "inventory"))]),
    log("bob", "b1", [("2018-10-19T10:37:29Z", "NAVIGATE", nav("communities", "inventory")),
                      ("2018-10-19T10:40:00Z", "NAVIGATE", nav("inventory", "checkout")),
                      ("2018-10-19T16:07:31+05:30", "VIEW", {"viewedId": "FDJKLHSLD"})]),
    log("bob", "b2", [("2018-10-20T12:00:00.250Z", "CLICK", {"locationX": 1, "locationY": 2, "pageTo": "not-a-nav"}),
                      ("2018-10-20T12:00:05Z", "VIEW", {"viewedId": "other"})]),
    # The DST change in Edmonton: 01:30 happens twice on 2018-11-04 (MDT, then MST).
    log("carol", "c1", [("2018-11-04T01:30:00-06:00", "CLICK", {"locationX": 0, "locationY": 0}),
                        ("2018-11-04T01:30:00-07:00", "CLICK", {"locationX": 0, "locationY": 0})]),
]
QUERY_RECORDS = LOGS  # stored before the module's first test (tests/integration/conftest.py)


def get(query_client: TestClient, path: str, **params: Any) -> Any:
    response = query_client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_timeseries_matches_the_issue_example(query_client: TestClient) -> None:
    body = get(query_client, "/v1/stats/timeseries", interval="hour", tz=EDMONTON,
               **{"from": "2018-10-18T21:00:00-06:00", "to": "2018-10-18T23:00:00-06:00"})
    assert body == {"interval": "hour", "tz": EDMONTON, "buckets": [
        {"start": "2018-10-18T21:00:00-06:00", "total": 3, "byType": {"CLICK": 1, "VIEW": 1, "NAVIGATE": 1}},
        {"start": "2018-10-18T22:00:00-06:00", "total": 0, "byType": {"CLICK": 0, "VIEW": 0, "NAVIGATE": 0}}]}


def test_a_dst_day_has_25_hours_and_both_1_30s_count_apart(query_client: TestClient) -> None:
    body = get(query_client, "/v1/stats/timeseries", interval="hour", tz=EDMONTON, type="click",
               **{"from": "2018-11-04T00:00:00-06:00", "to": "2018-11-05T00:00:00-07:00"})
    starts = [b["start"] for b in body["buckets"]]
    assert len(starts) == 25
    assert starts[1:4] == ["2018-11-04T01:00:00-06:00", "2018-11-04T01:00:00-07:00", "2018-11-04T02:00:00-07:00"]
    assert [b["byType"] for b in body["buckets"][1:3]] == [{"CLICK": 1}, {"CLICK": 1}]
    day = get(query_client, "/v1/stats/timeseries", interval="day", tz=EDMONTON,
              **{"from": "2018-11-03T00:00:00-06:00", "to": "2018-11-06T00:00:00-07:00"})
    assert [(b["start"], b["total"]) for b in day["buckets"]] == [
        ("2018-11-03T00:00:00-06:00", 0), ("2018-11-04T00:00:00-06:00", 2), ("2018-11-05T00:00:00-07:00", 0)]
    spring = get(query_client, "/v1/stats/timeseries", interval="hour", tz=EDMONTON,
                 **{"from": "2019-03-10T00:00:00-07:00", "to": "2019-03-11T00:00:00-06:00"})
    assert len(spring["buckets"]) == 23


def test_timeseries_in_a_half_hour_zone_and_by_month(query_client: TestClient) -> None:
    body = get(query_client, "/v1/stats/timeseries", interval="day", tz="Asia/Kolkata",
               **{"from": "2018-10-18T00:00:00+05:30", "to": "2018-10-21T00:00:00+05:30"})
    assert [(b["start"], b["total"]) for b in body["buckets"]] == [
        ("2018-10-18T00:00:00+05:30", 0), ("2018-10-19T00:00:00+05:30", 6), ("2018-10-20T00:00:00+05:30", 2)]
    months = get(query_client, "/v1/stats/timeseries", interval="month", **{"from": "2018-10-01", "to": "2019-01-01"})
    assert [(b["start"], b["total"]) for b in months["buckets"]] == [
        ("2018-10-01T00:00:00+00:00", 8), ("2018-11-01T00:00:00+00:00", 2), ("2018-12-01T00:00:00+00:00", 0)]


@pytest.mark.parametrize(("params", "code", "path"), [
    ({"interval": "minute", "from": "2018-01-01", "to": "2018-03-01"}, "too_many_buckets", "interval"),
    ({"interval": "fortnight", "from": "2018-01-01", "to": "2018-03-01"}, "invalid_parameter", "query.interval"),
    ({"tz": "Mars/Olympus_Mons", "from": "2018-01-01", "to": "2018-03-01"}, "invalid_parameter", "tz"),
    ({"tz": "../../etc/passwd", "from": "2018-01-01", "to": "2018-03-01"}, "invalid_parameter", "tz"),
    ({"from": "2018-01-01"}, "invalid_parameter", "to"),
    ({"from": "1999-12-31", "to": "2000-01-02"}, "invalid_parameter", "from"),
    ({"from": "2018-03-01", "to": "2018-01-01"}, "invalid_parameter", "from"),
])
def test_timeseries_refusals_say_what_to_change(query_client: TestClient, params: dict, code: str, path: str) -> None:
    response = query_client.get("/v1/stats/timeseries", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["errors"][0]["path"] == path
    if code == "too_many_buckets":
        assert "narrow from/to or use interval=hour" in body["detail"]



def test_summary_exact_over_all_time_a_range_a_type_and_a_user(query_client: TestClient) -> None:
    assert get(query_client, "/v1/stats/summary") == {
        "total": 10, "byType": {"CLICK": 4, "VIEW": 3, "NAVIGATE": 3}, "uniqueUsers": 3, "uniqueSessions": 4,
        "firstTime": "2018-10-19T03:37:28Z", "lastTime": "2018-11-04T08:30:00Z"}
    ranged = get(query_client, "/v1/stats/summary",
                 **{"from": "2018-10-19T03:37:30Z", "to": "2018-10-20T12:00:00.250Z"})
    assert ranged == {"total": 5, "byType": {"CLICK": 0, "VIEW": 2, "NAVIGATE": 3}, "uniqueUsers": 2,
                      "uniqueSessions": 2, "firstTime": "2018-10-19T03:37:30Z", "lastTime": "2018-10-19T10:40:00Z"}
    assert get(query_client, "/v1/stats/summary", type="view,navigate", userId="bob") == {
        "total": 4, "byType": {"VIEW": 2, "NAVIGATE": 2}, "uniqueUsers": 1, "uniqueSessions": 2,
        "firstTime": "2018-10-19T10:37:29Z", "lastTime": "2018-10-20T12:00:05Z"}
    assert get(query_client, "/v1/stats/summary", userId="nobody")["firstTime"] is None


def test_top_lists_and_navigation(query_client: TestClient) -> None:
    assert get(query_client, "/v1/stats/top", dimension="pageTo")["items"] == [
        {"value": "inventory", "count": 2}, {"value": "checkout", "count": 1}]
    assert get(query_client, "/v1/stats/top", dimension="viewedId", limit=1)["items"] == [
        {"value": "FDJKLHSLD", "count": 2}]
    assert get(query_client, "/v1/stats/top", dimension="pageTo", type="click")["items"] == []
    assert get(query_client, "/v1/stats/top", dimension="userId", type="click")["items"] == [
        {"value": "carol", "count": 2}, {"value": "ABC123XYZ", "count": 1}, {"value": "bob", "count": 1}]
    assert get(query_client, "/v1/stats/top", dimension="sessionId", **{"from": "2018-10-19"})["items"] == [
        {"value": "XYZ456ABC", "count": 3}, {"value": "b1", "count": 3}, {"value": "b2", "count": 2},
        {"value": "c1", "count": 2}]
    assert get(query_client, "/v1/stats/navigation")["transitions"] == [
        {"pageFrom": "communities", "pageTo": "inventory", "count": 2},
        {"pageFrom": "inventory", "pageTo": "checkout", "count": 1}]
    response = query_client.get("/v1/stats/top", params={"dimension": "country"})
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "query.dimension"


def test_a_sessions_timeline(query_client: TestClient) -> None:
    body = get(query_client, "/v1/sessions/b1")
    assert {k: v for k, v in body.items() if k != "actions"} == {
        "sessionId": "b1", "userId": "bob", "userIds": ["bob"], "firstTime": "2018-10-19T10:37:29Z",
        "lastTime": "2018-10-19T10:40:00Z", "durationMs": 151_000, "total": 3,
        "byType": {"CLICK": 0, "VIEW": 1, "NAVIGATE": 2}, "truncated": False}
    assert [a["time"] for a in body["actions"]] == ["2018-10-19T10:37:29Z", "2018-10-19T16:07:31+05:30",
                                                    "2018-10-19T10:40:00Z"]
    missing = query_client.get("/v1/sessions/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_a_users_sessions_newest_first_paginated(query_client: TestClient) -> None:
    first = get(query_client, "/v1/users/bob/sessions", limit=1)
    assert [s["sessionId"] for s in first["sessions"]] == ["b2"] and first["nextCursor"]
    assert first["sessions"][0] == {"sessionId": "b2", "firstTime": "2018-10-20T12:00:00.250Z",
                                    "lastTime": "2018-10-20T12:00:05Z", "durationMs": 4750, "total": 2,
                                    "byType": {"CLICK": 1, "VIEW": 1, "NAVIGATE": 0}}
    second = get(query_client, "/v1/users/bob/sessions", limit=1, cursor=first["nextCursor"])
    assert [s["sessionId"] for s in second["sessions"]] == ["b1"] and second["nextCursor"] is None
    ranged = get(query_client, "/v1/users/bob/sessions", **{"from": "2018-10-19T10:37:29Z", "to": "2018-10-20"})
    assert [s["sessionId"] for s in ranged["sessions"]] == ["b1"]
    bad = query_client.get("/v1/users/bob/sessions", params={"cursor": "WzE1Mzk5LCJ4Il0"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"


def test_export_ndjson_is_the_actions_pages_and_csv_has_the_same_rows(query_client: TestClient) -> None:
    pages = get(query_client, "/v1/actions", limit=1000)["actions"]
    response = query_client.get("/v1/actions/export")
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
    assert [orjson.loads(line) for line in response.content.splitlines()] == pages
    response = query_client.get("/v1/actions/export", params={"format": "csv", "userId": "bob"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    bob = [a for a in pages if a["userId"] == "bob"]
    assert [r["actionId"] for r in rows] == [a["actionId"] for a in bob]
    assert [r["time"] for r in rows] == [a["time"] for a in bob]
    assert [orjson.loads(r["properties"]) for r in rows] == [a["properties"] for a in bob]
    empty = query_client.get("/v1/actions/export", params={"format": "csv", "userId": "nobody"})
    assert empty.text == "actionId,eventId,userId,sessionId,type,time,properties\n"


def test_every_endpoint_has_an_example_in_the_openapi_document(query_client: TestClient) -> None:
    document = query_client.get("/openapi.json").json()
    routes = [(path, method, operation) for path, methods in document["paths"].items()
              for method, operation in methods.items()]
    assert {path for path, _, _ in routes} >= {
        "/v1/stats/timeseries", "/v1/stats/summary", "/v1/stats/top", "/v1/stats/navigation",
        "/v1/sessions/{sessionId}", "/v1/users/{userId}/sessions", "/v1/actions/export"}
    for path, method, operation in routes:
        examples = success_examples(operation)
        assert examples and all(examples.values()), (method, path)
    assert query_client.get("/docs").status_code == 200


@pytest.mark.parametrize(("path", "params", "name"), [
    ("/api/v1/retrieve", {"userId": "ABC123XYZ"}, None),
    ("/api/retrievelogs", {"userId": "ABC123XYZ"}, None),
    ("/log", {"userId": "ABC123XYZ"}, None),
    ("/logs/", {"userId": "ABC123XYZ", "types": "CLICK,VIEW,NAVIGATE"}, "003"),
    ("/logs/", {"user": "ABC123XYZ", "type": "CLICK"}, "004"),
])
def test_the_compatibility_examples_are_real_answers(query_client: TestClient, path: str, params: dict[str, str],
                                                     name: str | None) -> None:
    """Each compatibility read's documented example (or named one) has the shape of its real answer."""
    document = query_client.get("/openapi.json").json()
    media = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    example = media["example"] if name is None else media["examples"][name]["value"]
    response = query_client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert same_shape(response.json(), example), response.json()


def test_clickhouse_unavailable_is_503_problem(query_settings: QuerySettings) -> None:
    with TestClient(create_app(query_settings), raise_server_exceptions=False) as own:
        own.app.state.store.close()
        day = {"from": "2018-10-18", "to": "2018-10-19"}
        for path, params in [("/v1/stats/summary", {}), ("/v1/stats/timeseries", day),
                             ("/v1/stats/top", {"dimension": "userId"}), ("/v1/stats/navigation", {}),
                             ("/v1/sessions/b1", {}), ("/v1/users/bob/sessions", {}), ("/v1/actions/export", {}),
                             ("/v1/actions", {})]:
            response = own.get(path, params=params)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "clickhouse_unavailable" and response.headers["retry-after"] == "1"
