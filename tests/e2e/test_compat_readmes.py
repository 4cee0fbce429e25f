"""Every example request of the five reference services' READMEs, run as written against `logstream up`
(curl bodies and query strings verbatim, tests/compat_examples.py), with the answers their READMEs
document. Each write is answered only once queryable, so every GET right after a POST must see it."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tests.compat_examples import (
    SEED000_LOG_CURL,
    SEED000_LOG_EXAMPLE,
    SEED000_USERS_EXAMPLE,
    SEED001_SUBMIT_AS_WRITTEN,
    SEED002_CURL,
    SEED003_POST_EXAMPLE,
)
from tests.support import Stack

JSON = {"Content-Type": "application/json"}
README_ACTIONS = [  # the three actions of the READMEs' examples, as sent
    {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 52, "locationY": 11}},
    {"time": "2018-10-18T21:37:30-06:00", "type": "VIEW", "properties": {"viewedId": "FDJKLHSLD"}},
    {"time": "2018-10-18T21:37:30-06:00", "type": "NAVIGATE",
     "properties": {"pageFrom": "communities", "pageTo": "inventory"}},
]


def post(stack: Stack, path: str, body: str | bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{stack.base_url}{path}", content=body, headers=JSON if headers is None else headers,
                      timeout=30, follow_redirects=True)


def get(stack: Stack, path_and_query: str) -> httpx.Response:
    return httpx.get(f"{stack.base_url}{path_and_query}", timeout=30)


def by_time_and_type(actions: list[dict[str, Any]]) -> list[tuple[str, str, bytes]]:
    return sorted((a["time"], a["type"], orjson.dumps(a["properties"], option=orjson.OPT_SORT_KEYS)) for a in actions)


# ---------------------------------------------------------------- 000


def test_000_readme(stack: Stack) -> None:
    # "Note, the user must exist in the database for this request to be successful."
    unregistered = post(stack, "/api/v1/log", SEED000_LOG_CURL)
    assert unregistered.status_code == 400 and unregistered.json() == {"status": "failed"}
    assert "user_not_registered" in unregistered.headers["logstream-error"]

    # curl -L -X POST 'http://127.0.0.1:5000/api/v1/testusers' ... --data-raw '{"users": [...]}'
    users = '{"users": [{"userId": "YXGgm8DiT"},{"userId": "osdE0fb2a"},{"userId": "YCYaL3Mdq"}]}'
    assert post(stack, "/api/v1/testusers", users).json() == {"status": "success"}
    # POST /testusers with the "Example JSON data format", twice: "if some or all the user ids already
    # existed, the response will still be successful"
    for _ in range(2):
        response = post(stack, "/testusers", SEED000_USERS_EXAMPLE)
        assert response.status_code == 200 and response.json() == {"status": "success"}
    assert post(stack, "/testusers", '{"users": [{"userId": "dDYLl"}, {"userId": "dDYLl2mT8"}]}').status_code == 200

    for body, user in ((SEED000_LOG_CURL, "dDYLl"), (SEED000_LOG_EXAMPLE, "dDYLl2mT8")):
        sent = post(stack, "/api/v1/log", body)
        assert sent.status_code == 200 and sent.json() == {"status": "success"}
        retrieved = get(stack, f"/api/v1/retrieve?userId={user}")
        assert retrieved.status_code == 200
        answer = retrieved.json()
        assert answer["status"] == "success" and list(answer) == ["logs", "status"]
        [log] = answer["logs"]
        assert (log["userId"], log["sessionId"]) == (user, "999TGF123")
        assert all(list(a) == ["properties", "time", "type"] for a in log["actions"])
        # the time keeps its offset (000 dropped it: "2018-10-18T21:37:28")
        assert by_time_and_type(log["actions"]) == by_time_and_type(README_ACTIONS)

    # GET /api/v1/retrieve?userId=user_id&type=log_type&start=start_time&end=end_time, as written: its
    # placeholders are not times: "may occur if start_time and/or end_time are not correctly formated"
    placeholders = get(stack, "/api/v1/retrieve?userId=user_id&type=log_type&start=start_time&end=end_time")
    assert placeholders.status_code == 400 and placeholders.json() == {"status": "failed"}

    # filtered "by any combination": type exact, both ends inclusive
    at = "2018-10-18T21:37:30-06:00"
    found = get(stack, f"/api/v1/retrieve?userId=dDYLl&type=VIEW&start={at}&end={at}").json()
    assert [[a["type"] for a in log["actions"]] for log in found["logs"]] == [["VIEW"]]


# ---------------------------------------------------------------- 001


def test_001_readme(stack: Stack) -> None:
    # The README's body, as written, is not JSON: "[" opening key: value pairs, never closed
    as_written = post(stack, "/api/submitlogs", SEED001_SUBMIT_AS_WRITTEN)
    assert as_written.status_code == 400 and as_written.json() == {"error": "No data received"}

    intended = "{" + SEED001_SUBMIT_AS_WRITTEN.strip()[1:] + "}"  # the object it clearly means
    submitted = post(stack, "/api/submitlogs", intended)
    assert submitted.status_code == 200 and submitted.json() == {"status": "logs submitted"}

    # GET /api/retrievelogs: "Errors will be returned if no parameters are provided"
    bare = get(stack, "/api/retrievelogs")
    assert bare.status_code == 400 and bare.json() == {"status": "parameter(s) must be provided"}
    # "if logType is not one of: click, view, navigate"
    wrong = get(stack, "/api/retrievelogs?userId=CBC123XYZ&logType=views")
    assert wrong.status_code == 400 and wrong.json() == {"status": "logType must be click, view, or navigate"}
    # "time range (both from and to time must be provided)"
    half = get(stack, "/api/retrievelogs?userId=CBC123XYZ&fromTime=2018-10-20")
    assert half.status_code == 400 and "fromTime and toTime" in half.json()["status"]

    expected = [{"_userId": "CBC123XYZ", "_sessionId": "XYZ456ABC", "_time": "2018-10-20T21:37:28-06:00",
                 "_locationX": 52, "_locationY": 11}]
    for query in ("userId=CBC123XYZ", "userId=CBC123XYZ&logType=click", "userId=CBC123XYZ&logType=CLICK",
                  "userId=CBC123XYZ&fromTime=2018-10-20T21:37:28-06:00&toTime=2018-10-20T21:37:28-06:00",
                  "userId=CBC123XYZ&logType=click&fromTime=2018-10-19&toTime=2018-10-22"):
        response = get(stack, f"/api/retrievelogs?{query}")
        assert response.status_code == 200 and response.json() == expected, query
    assert get(stack, "/api/retrievelogs?userId=CBC123XYZ&logType=view").json() == []


# ---------------------------------------------------------------- 002


def test_002_readme(stack: Stack) -> None:
    # curl -X POST -H 'Content-Type: application/json' -i 'http://127.0.0.1:5000/log' --data '{...}\n'
    sent = post(stack, "/log", SEED002_CURL)
    assert sent.status_code == 200 and sent.json() == {"success": True}

    # Sample Request URL: http://127.0.0.1:5000/log?userId=user1&type=CLICK
    sample = get(stack, "/log?userId=user1&type=CLICK")
    assert sample.status_code == 200 and sample.json() == {"result": []}

    result = get(stack, "/log?userId=ABC12312XYZ").json()["result"]
    assert all(set(r) == {"userId", "sessionId", "time", "type", "properties"} for r in result)
    assert all((r["userId"], r["sessionId"]) == ("ABC12312XYZ", "XYZ45126ABC") for r in result)
    expected = [dict(a) for a in README_ACTIONS]
    expected[0]["time"] = "2013-10-18T21:37:28-06:00"  # 002's example clicks in 2013
    assert by_time_and_type(result) == by_time_and_type(expected)
    clicks = get(stack, "/log?userId=ABC12312XYZ&type=CLICK&startTime=2013-10-18T21:37:28-06:00"
                        "&endTime=2013-10-18T21:37:28-06:00").json()["result"]
    assert [r["time"] for r in clicks] == ["2013-10-18T21:37:28-06:00"]  # both ends inclusive

    # "Required Parameters: userId, sessionId"; "Optional Parameters: actions"
    assert post(stack, "/log", '{"userId": "ABC12312XYZ", "sessionId": "no-actions"}').json() == {"success": True}
    missing = post(stack, "/log", '{"sessionId": "XYZ45126ABC"}')
    assert missing.status_code == 400 and missing.json() == {"success": False, "errorCode": "Bad request"}


# ---------------------------------------------------------------- 003


def test_003_readme(stack: Stack) -> None:
    # the GET example's range, with an action on each bound (both inclusive) and one outside
    edges = [{"userId": "ASDF", "sessionId": "edges", "actions": [
        {"time": "2019-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 1, "locationY": 2}},
        {"time": "2019-11-18T21:37:28-06:00", "type": "VIEW", "properties": {"viewedId": "v"}},
        {"time": "2019-11-18T21:37:28.001-06:00", "type": "VIEW", "properties": {"viewedId": "after"}}]}]
    assert post(stack, "/logs/", orjson.dumps(edges)).json() == {"success": True}

    example = get(stack, "/logs/?userId=ASDF&types=CLICK,VIEW,NAVIGATE&from=2019-10-18T21:37:28-06:00"
                         "&to=2019-11-18T21:37:28-06:00")
    assert example.status_code == 200
    assert example.json() == [{"userId": "ASDF", "sessionId": "edges", "actions": edges[0]["actions"][:2]}]

    # POST /logs/ with the README's "Example of a body that is accepted"
    accepted = post(stack, "/logs/", SEED003_POST_EXAMPLE)
    assert accepted.status_code == 200 and accepted.json() == {"success": True}
    sent = orjson.loads(SEED003_POST_EXAMPLE)
    assert get(stack, "/logs/?userId=asd").json() == [
        {"userId": "asd", "sessionId": "asdfg", "actions": sent[1]["actions"]}]
    # types: a comma list; logs with no matching action are left out
    navigations = get(stack, "/logs/?userId=asd&types=NAVIGATE,VIEW&from=2018-10-19T00:00:00-06:00").json()
    assert navigations == [{"userId": "asd", "sessionId": "asdfg", "actions": [sent[1]["actions"][1]]}]
    assert get(stack, "/logs/?userId=asd&types=VIEW").json() == []

    # "Violation of this validation results in a 400 status error with the appropriate error code"
    invalid = post(stack, "/logs/", orjson.dumps([sent[0], {**sent[1], "sessionId": ""}]))
    assert invalid.status_code == 400 and invalid.json() == {"success": False, "code": "MISSING_SESSIONID"}


# ---------------------------------------------------------------- 004


def test_004_readme(stack: Stack) -> None:
    url = f"{stack.base_url}/logs/"
    new_log = {"userId": "ABC123XYZ", "sessionId": "XYZ456ABC-004",
               "actions": [{"time": "2018-10-18T21:37:28-06:00", "type": "CLICK",
                            "properties": {"locationX": 52, "locationY": 11}}]}
    # create_response = requests.post(url, json=new_log); print(create_response.status_code)
    create_response = httpx.post(url, json=new_log, timeout=30)
    assert create_response.status_code == 201 and create_response.content == b""

    expected = {"time": "2018-10-19T03:37:28Z", "type": "CLICK", "properties": {"locationX": 52, "locationY": 11},
                "userId": "ABC123XYZ", "sessionId": "XYZ456ABC-004"}
    # Unfiltered Retrieval: retrieve_response = requests.get(url)
    everything = httpx.get(url, timeout=30)
    assert everything.status_code == 200 and expected in everything.json()
    assert all(list(entry) == ["time", "type", "properties", "userId", "sessionId"] for entry in everything.json())
    assert all(entry["time"].endswith("Z") for entry in everything.json())

    # Filtered Retrieval, as written: the filters travel as a JSON body on the GET, and its range is
    # empty ("2018-10-18" to "2018-10-18", the end exclusive)
    retrieve_response = httpx.request("GET", url, json={"user": "ABC123XYZ", "type": "CLICK",
                                                        "start_time": "2018-10-18", "end_time": "2018-10-18"})
    assert retrieve_response.status_code == 200 and retrieve_response.json() == []
    # the same filters with a day's range, in the body and in the query string
    day = {"user": "ABC123XYZ", "type": "CLICK", "start_time": "2018-10-18", "end_time": "2018-10-20"}
    for response in (httpx.request("GET", url, json=day), httpx.get(url, params=day)):
        assert response.status_code == 200 and expected in response.json()
        assert {entry["userId"] for entry in response.json()} == {"ABC123XYZ"}
    # "The end is exclusive"; "Datetimes are in the format 2018-10-18T21:37:28-06:00"
    bounds = {"user": "ABC123XYZ", "start_time": "2018-10-18T21:37:28-06:00"}
    assert httpx.get(url, params={**bounds, "end_time": "2018-10-18T21:37:28-06:00"}).json() == []
    assert expected in httpx.get(url, params={**bounds, "end_time": "2018-10-18T21:37:28.001-06:00"}).json()
