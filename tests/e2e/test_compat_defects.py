"""The reference services' defects, each proven gone through `logstream up`: no write answered and then
lost, times keep their offsets, any offset is accepted, `locationX: 0` is valid, times compare as
instants, never a 500. Plus what is particular to one route (000's registry, the slash variants)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.support import Stack, all_actions

Check = Callable[[Any], bool]
SHAPE: dict[str, Check] = {
    "000": lambda body: body == {"status": "failed"},
    "001 write": lambda body: set(body) == {"error"} and isinstance(body["error"], str),
    "001 read": lambda body: set(body) == {"status"} and isinstance(body["status"], str),
    "002": lambda body: body == {"success": False, "errorCode": "Bad request"},
    "003": lambda body: set(body) == {"success", "code"} and body["success"] is False and body["code"].isupper(),
    "004": lambda body: set(body) == {"container_errors", "action_errors"},
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def a_log(user: str, *actions: tuple[str, str, dict[str, Any]], session: str = "s") -> dict[str, Any]:
    return {"userId": user, "sessionId": session,
            "actions": [{"time": t, "type": k, "properties": p} for t, k, p in actions]}


def click(time: str, x: float = 52, y: float = 11) -> tuple[str, str, dict[str, Any]]:
    return time, "CLICK", {"locationX": x, "locationY": y}


def post(stack: Stack, path: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(f"{stack.base_url}{path}", content=content, headers={"content-type": "application/json"},
                      timeout=30)


def get(stack: Stack, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{stack.base_url}{path}", params=params, timeout=30)


def register(stack: Stack, user: str) -> None:
    assert post(stack, "/testusers", {"users": [{"userId": user}]}).json() == {"status": "success"}


# ---------------------------------------------------------------- no write answered and then lost


def test_every_write_is_queryable_as_soon_as_it_is_answered(stack: Stack) -> None:
    """001 answered 200 before writing and lost 2 of 10,000 logs; none of the routes may answer first."""
    for round_ in range(5):
        user = unique(f"rw{round_}")
        register(stack, user)
        time = f"2018-10-18T21:37:{round_:02d}-06:00"
        writes = [("/api/v1/log", a_log(user, click(time), session="000"), 200),
                  ("/api/submitlogs", a_log(user, click(time), session="001"), 200),
                  ("/log", a_log(user, click(time), session="002"), 200),
                  ("/logs/", [a_log(user, click(time), session="003")], 200),
                  ("/logs/", a_log(user, click(time), session="004"), 201)]
        for path, body, status in writes:
            assert post(stack, path, body).status_code == status, path
        # read at once, through each service's own read route
        assert len(get(stack, "/api/v1/retrieve", userId=user).json()["logs"]) == 5
        assert len(get(stack, "/api/retrievelogs", userId=user).json()) == 5
        assert len(get(stack, "/log", userId=user).json()["result"]) == 5
        assert len(get(stack, "/logs/", userId=user).json()) == 5
        assert len(get(stack, "/logs/", user=user).json()) == 5


def test_v1_clients_can_opt_in_to_read_their_writes(stack: Stack) -> None:
    user = unique("v1")
    response = post(stack, "/v1/logs?wait=visible", [a_log(user, click("2018-10-18T21:37:28-06:00"), session=s)
                                                     for s in ("a", "b")])
    assert response.status_code == 202 and response.json()["visible"] is True
    actions = get(stack, "/v1/actions", userId=user).json()["actions"]
    assert {a["eventId"] for a in actions} == set(response.json()["eventIds"]) and len(actions) == 2
    refused = post(stack, "/v1/logs?wait=eventually", a_log(user, click("2018-10-18T21:37:28-06:00")))
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "query.wait"


def test_a_large_batch_is_visible_once_answered(stack: Stack) -> None:
    user = unique("batch")
    logs = [a_log(user, click(f"2018-10-18T21:{i // 60 % 60:02d}:{i % 60:02d}-06:00"), session=f"s{i}")
            for i in range(2500)]
    response = post(stack, "/v1/logs?wait=visible", logs)
    assert response.status_code == 202 and response.json()["visible"] is True
    assert len(all_actions(stack.base_url, {"userId": user})) == 2500


# ---------------------------------------------------------------- times keep their offsets


def test_times_come_back_as_the_instant_sent_in_each_services_rendering(stack: Stack) -> None:
    """000 and 002 dropped the offset; each route now returns the time as sent (004: the same instant
    in UTC with Z, as 004 rendered times)."""
    user = unique("offsets")
    register(stack, user)
    sent = ["2018-10-18T21:37:28-06:00", "2018-10-19T09:07:29+05:30", "2018-10-19T03:37:30Z",
            "2018-10-19T03:37:31.250-00:30"]
    assert post(stack, "/api/v1/log", a_log(user, *(click(t) for t in sent))).status_code == 200
    as_sent = sent  # ordered by instant already
    assert [a["time"] for a in get(stack, "/api/v1/retrieve", userId=user).json()["logs"][0]["actions"]] == as_sent
    assert [e["_time"] for e in get(stack, "/api/retrievelogs", userId=user).json()] == as_sent
    assert [r["time"] for r in get(stack, "/log", userId=user).json()["result"]] == as_sent
    assert [a["time"] for a in get(stack, "/logs/", userId=user).json()[0]["actions"]] == as_sent
    assert [e["time"] for e in get(stack, "/logs/", user=user).json()] == [
        "2018-10-19T03:37:28Z", "2018-10-19T03:37:29Z", "2018-10-19T03:37:30Z", "2018-10-19T04:07:31.250Z"]


def test_003_accepts_any_offset_and_location_zero(stack: Stack) -> None:
    """003 accepted only the literal -06:00 offset and refused locationX: 0."""
    user = unique("003")
    times = ["2018-10-18T21:37:28+05:30", "2018-10-18T21:37:28Z", "2018-10-18T21:37:28.5-06:00",
             "2018-10-18T21:37:28+00:00"]
    log = a_log(user, *(click(t, x=0, y=0) for t in times))
    assert post(stack, "/logs/", [log]).json() == {"success": True}
    [stored] = get(stack, "/logs/", userId=user).json()
    assert sorted(a["time"] for a in stored["actions"]) == sorted(
        ["2018-10-18T21:37:28+05:30", "2018-10-18T21:37:28Z", "2018-10-18T21:37:28.500-06:00",
         "2018-10-18T21:37:28+00:00"])
    assert all(a["properties"] == {"locationX": 0, "locationY": 0} for a in stored["actions"])
    # and every other route takes them too
    register(stack, user)
    for path in ("/api/v1/log", "/api/submitlogs", "/log", "/logs/"):
        assert post(stack, path, a_log(user, click("2018-10-18T21:37:28+05:30", x=0))).status_code in (200, 201)


def test_times_compare_as_instants_not_as_strings(stack: Stack) -> None:
    """001 and 003 compared the time strings: 2018-10-18T23:30:00-06:00 sorted before 2018-10-19."""
    user = unique("instants")
    late_evening = "2018-10-18T23:30:00-06:00"  # 2018-10-19T05:30:00Z
    early_morning = "2018-10-19T01:00:00+05:30"  # 2018-10-18T19:30:00Z
    assert post(stack, "/logs/", [a_log(user, click(late_evening), click(early_morning))]).status_code == 200
    day = {"from": "2018-10-19T00:00:00Z", "to": "2018-10-19T23:59:59Z"}
    assert [a["time"] for a in get(stack, "/logs/", userId=user, **day).json()[0]["actions"]] == [late_evening]
    found = get(stack, "/api/retrievelogs", userId=user, fromTime=day["from"], toTime=day["to"]).json()
    assert [e["_time"] for e in found] == [late_evening]
    # an offset in the bounds, "+" left unencoded in the query string as clients often do
    raw = httpx.get(f"{stack.base_url}/log?userId={user}&startTime=2018-10-19T11:00:01+05:30", timeout=30)
    assert [r["time"] for r in raw.json()["result"]] == []
    raw = httpx.get(f"{stack.base_url}/log?userId={user}&startTime=2018-10-19T10:30:00+05:30", timeout=30)
    assert [r["time"] for r in raw.json()["result"]] == [late_evening]


# ---------------------------------------------------------------- never a 500

NOT_JSON = b"{not json"
READS = [
    ("/api/v1/retrieve", {"start": "yesterday"}, "000"),
    ("/api/v1/retrieve", {"end": "2018-13-01T00:00:00Z"}, "000"),
    ("/api/retrievelogs", {"fromTime": "x", "toTime": "y"}, "001 read"),
    ("/api/retrievelogs", {"userId": "u", "toTime": "2018-10-18"}, "001 read"),
    ("/api/retrievelogs", {"logType": "scroll"}, "001 read"),
    ("/log", {"startTime": "10/18/2018"}, "002"),
    ("/log", {"endTime": "2018-10-18T25:00:00Z"}, "002"),
    ("/logs/", {"from": "2018-10-18T21:37:28-06:00x"}, "003"),
    ("/logs/", {"to": "garbage"}, "003"),
    ("/logs/", {"start_time": "garbage"}, "004"),
    ("/logs/", {"end_time": "2018-02-30"}, "004"),
]
BAD_TIME = {"userId": "u", "sessionId": "s", "actions": [{"time": "18/10/2018", "type": "CLICK",
                                                           "properties": {"locationX": 1, "locationY": 2}}]}
WRITES = [
    *[("/api/v1/log", body, "000") for body in (NOT_JSON, b"", [], "x", 1, None, {"actions": "x"}, BAD_TIME)],
    *[("/testusers", body, "000") for body in (NOT_JSON, [], {"users": "x"}, {"users": [{"userId": 1}]})],
    *[("/api/v1/testusers", body, "000") for body in ({"users": [{"userId": ""}]}, {})],
    *[("/api/submitlogs", body, "001 write") for body in (NOT_JSON, b"", [], "x", 7, {"userId": 1}, BAD_TIME)],
    *[("/log", body, "002") for body in (NOT_JSON, [], "x", None, {"actions": "x"}, BAD_TIME)],
    *[("/logs/", body, "003") for body in (NOT_JSON, b"", "x", 1, None, [1], [{"actions": {}}], [BAD_TIME])],
    *[("/logs/", body, "004") for body in ({}, {"actions": "x"}, {"userId": []}, BAD_TIME)],
]


@pytest.mark.parametrize(("path", "params", "seed"), READS)
def test_a_malformed_read_is_a_400_in_the_services_shape(stack: Stack, path: str, params: dict[str, str],
                                                          seed: str) -> None:
    response = get(stack, path, **params)
    assert response.status_code == 400, response.text
    assert SHAPE[seed](response.json()), response.text
    assert response.headers["logstream-error"]


@pytest.mark.parametrize(("path", "body", "seed"), WRITES)
def test_a_malformed_write_is_a_400_in_the_services_shape(stack: Stack, path: str, body: Any, seed: str) -> None:
    response = post(stack, path, body)
    assert response.status_code == 400, response.text
    assert SHAPE[seed](response.json()), response.text


def test_003_reports_its_first_failure_and_stores_nothing(stack: Stack) -> None:
    user = unique("all-or-nothing")
    good = a_log(user, click("2018-10-18T21:37:28-06:00"))
    bad = a_log(user, ("2018-10-18T21:37:28-06:00", "CLICK", {"locationY": 1}))
    response = post(stack, "/logs/", [good, bad, {"sessionId": "s"}])
    assert response.json() == {"success": False, "code": "MISSING_LOCATION_X_VALUE"}
    assert get(stack, "/logs/", userId=user).json() == []


def test_004_lists_every_problem_per_field(stack: Stack) -> None:
    body = {"userId": "", "actions": [{"time": "2018-10-18T21:37:28Z", "type": "VIEW", "properties": {"viewedId": "a"}},
                                      {"time": "x", "type": "CLICK", "properties": {"locationY": 1}}]}
    answer = post(stack, "/logs/", body).json()
    assert answer["container_errors"] == {"userId": ["This field may not be blank."],
                                          "sessionId": ["This field is required."]}
    [action] = answer["action_errors"]
    assert set(action) == {"time", "properties"} and action["properties"] == {"locationX": ["This field is required."]}


# ---------------------------------------------------------------- 000's registry, routes, slashes


def test_only_000_needs_registered_users(stack: Stack) -> None:
    user = unique("stranger")
    log = a_log(user, click("2018-10-18T21:37:28-06:00"))
    refused = post(stack, "/api/v1/log", log)
    assert refused.status_code == 400 and refused.json() == {"status": "failed"}
    assert get(stack, "/api/v1/retrieve", userId=user).json() == {"logs": [], "status": "success"}
    assert post(stack, "/api/submitlogs", log).status_code == 200
    assert post(stack, "/log", log).status_code == 200
    register(stack, user)
    assert post(stack, "/api/v1/log", log).json() == {"status": "success"}


def test_the_slash_variants_behave_as_the_originals(stack: Stack) -> None:
    """Flask answered 404 to a slash its rule did not have, and redirected /logs to /logs/."""
    for path in ("/api/v1/log/", "/testusers/", "/api/v1/testusers/", "/api/submitlogs/", "/log/"):
        assert post(stack, path, {"users": []}).status_code == 404, path
    for path in ("/api/v1/retrieve/", "/api/retrievelogs/?userId=u", "/log/"):
        assert httpx.get(f"{stack.base_url}{path}").status_code == 404, path
    user = unique("slash")
    moved = httpx.post(f"{stack.base_url}/logs", json=[a_log(user, click("2018-10-18T21:37:28Z"))])
    assert moved.status_code == 308 and moved.headers["location"] == "/logs/"
    followed = httpx.post(f"{stack.base_url}/logs?x=1", json=[a_log(user, click("2018-10-18T21:37:28Z"))],
                          follow_redirects=True)
    assert followed.status_code == 200 and followed.json() == {"success": True}
    query = httpx.get(f"{stack.base_url}/logs?userId={user}")
    assert query.status_code == 308 and query.headers["location"] == f"/logs/?userId={user}"
    assert len(httpx.get(f"{stack.base_url}/logs?userId={user}", follow_redirects=True).json()[0]["actions"]) == 1


def test_003_and_004_parameters_together_are_refused(stack: Stack) -> None:
    response = get(stack, "/logs/", userId="u", user="u")
    assert response.status_code == 400 and response.json()["code"] == "invalid_parameter"


def test_the_compatibility_routes_are_documented(stack: Stack) -> None:
    paths = httpx.get(f"{stack.base_url}/openapi.json").json()["paths"]
    for path, method in (("/api/v1/log", "post"), ("/testusers", "post"), ("/api/v1/testusers", "post"),
                         ("/api/v1/retrieve", "get"), ("/api/submitlogs", "post"), ("/api/retrievelogs", "get"),
                         ("/log", "post"), ("/log", "get"), ("/logs/", "post"), ("/logs/", "get")):
        assert method in paths[path], (path, method)
    assert not [p for p in paths if p.startswith("/internal")]


# ---------------------------------------------------------------- the services' own behaviour, kept


def test_001_skips_actions_of_unknown_types_and_says_which(stack: Stack) -> None:
    """001's README: it "will skip any logs with an invalid type"; its tests send `views`."""
    user = unique("001-skip")
    log = a_log(user, click("2018-10-18T21:37:28-06:00"),
                ("2018-10-18T21:37:29-06:00", "views", {"viewedId": "FDJKLHSLD"}),
                ("2018-10-18T21:37:30-06:00", "view", {"viewedId": "FDJKLHSLD"}))
    response = post(stack, "/api/submitlogs", log)
    assert response.status_code == 200 and response.json() == {"status": "logs submitted"}
    assert response.headers["logstream-skipped"] == "actions[1]: 'views'"
    stored = get(stack, "/api/retrievelogs", userId=user).json()
    assert [e["_time"] for e in stored] == ["2018-10-18T21:37:28-06:00", "2018-10-18T21:37:30-06:00"]
    only_unknown = post(stack, "/api/submitlogs", a_log(user, ("2018-10-18T21:37:31-06:00", "scroll", {})))
    assert only_unknown.status_code == 200 and "actions[0]: 'scroll'" in only_unknown.headers["logstream-skipped"]
    assert len(get(stack, "/api/retrievelogs", userId=user).json()) == 2
    # a known type with its properties missing is still refused, whole
    refused = post(stack, "/api/submitlogs", a_log(user, ("2018-10-18T21:37:32-06:00", "CLICK", {})))
    assert refused.status_code == 400 and "locationX" in refused.json()["error"]
    assert "logstream-skipped" not in post(stack, "/api/submitlogs", a_log(user, click("2018-10-18T21:37:33Z"))).headers


def test_002_stores_properties_as_sent(stack: Stack) -> None:
    """002 checked only userId and sessionId; its own tests post a VIEW with {"viewID": ...}."""
    user = unique("002-as-sent")
    log = a_log(user, ("2018-10-18T21:37:28-06:00", "VIEW", {"viewID": "FDJKLHSLD"}),
                ("2018-10-18T21:37:29-06:00", "click", {"x": 1}))
    assert post(stack, "/log", log).json() == {"success": True}
    result = get(stack, "/log", userId=user).json()["result"]
    assert [(r["type"], r["properties"]) for r in result] == [("VIEW", {"viewID": "FDJKLHSLD"}),
                                                              ("CLICK", {"x": 1})]
    assert [a["properties"] for a in get(stack, "/v1/actions", userId=user).json()["actions"]] == [
        {"viewID": "FDJKLHSLD"}, {"x": 1}]
    # only on 002's route: the contract's rules everywhere else, whatever the body claims
    for path in ("/v1/logs", "/api/submitlogs", "/logs/"):
        assert post(stack, path, {**log, "propertyRules": "as-sent"}).status_code == 400, path
    # still a known type, a time with its offset, properties an object
    for action in (("2018-10-18T21:37:28-06:00", "VIEWS", {}), ("2018-10-18T21:37:28", "VIEW", {}),
                   ("2018-10-18T21:37:28Z", "VIEW", [])):
        assert post(stack, "/log", a_log(user, action)).status_code == 400, action


def test_001_reads_a_bound_without_offset_as_each_actions_wall_clock(stack: Stack) -> None:
    """001 compared the stored text: `fromTime=2018-10-19` meant 2018-10-19 as each action was written."""
    user = unique("001-wall")
    late_evening = "2018-10-18T23:30:00-06:00"  # 2018-10-19T05:30:00Z, but written on the 18th
    early_morning = "2018-10-19T01:00:00+05:30"  # 2018-10-18T19:30:00Z, but written on the 19th
    assert post(stack, "/api/submitlogs", a_log(user, click(late_evening), click(early_morning))).status_code == 200

    def found(**bounds: str) -> list[str]:
        return [e["_time"] for e in get(stack, "/api/retrievelogs", userId=user, **bounds).json()]

    assert found(fromTime="2018-10-19", toTime="2018-10-19T23:59:59") == [early_morning]
    assert found(fromTime="2018-10-18T00:00:00", toTime="2018-10-18T23:30:00") == [late_evening]  # inclusive
    assert found(fromTime="2018-10-18", toTime="2018-10-18T23:29:59.999") == []
    # with an offset, a bound is an instant, as before
    assert found(fromTime="2018-10-19T00:00:00Z", toTime="2018-10-19T23:59:59Z") == [late_evening]


def test_003_refuses_a_bound_that_is_not_a_full_time_with_its_offset(stack: Stack) -> None:
    for bound in ("2018-10-19", "2018-10-19T21:37:28", "2018-10-19T21:37-06:00"):
        for name in ("from", "to"):
            response = get(stack, "/logs/", **{name: bound})
            assert response.status_code == 400, (name, bound)
            assert response.json() == {"success": False, "code": "INVALID_TIME_FORMAT"}, (name, bound)
    assert get(stack, "/logs/", userId="u", **{"from": "2018-10-19T21:37:28.5Z"}).status_code == 200


def test_actions_with_the_same_time_come_back_in_the_order_they_were_posted(stack: Stack) -> None:
    user = unique("ties")
    register(stack, user)
    same = "2018-10-18T21:37:30-06:00"
    sent = [(same, kind, props) for kind, props in (
        ("NAVIGATE", {"pageFrom": "a", "pageTo": "b"}), ("CLICK", {"locationX": 1, "locationY": 1}),
        ("VIEW", {"viewedId": "v"}), ("CLICK", {"locationX": 0, "locationY": 0}))]
    assert post(stack, "/logs/", [a_log(user, *sent[:3])]).status_code == 200
    assert post(stack, "/logs/", a_log(user, sent[3])).status_code == 201  # a later log, same user and time
    posted = [p for _, _, p in sent]
    assert [a["properties"] for a in get(stack, "/logs/", userId=user).json()[0]["actions"]] == posted
    assert [a["properties"] for a in get(stack, "/logs/", user=user).json()] == posted
    assert [r["properties"] for r in get(stack, "/log", userId=user).json()["result"]] == posted
    assert [a["properties"] for a in get(stack, "/api/v1/retrieve", userId=user).json()["logs"][0]["actions"]] == posted
    assert [a["properties"] for a in get(stack, "/v1/actions", userId=user).json()["actions"]] == posted
    first = get(stack, "/v1/actions", userId=user, limit="3").json()
    rest = get(stack, "/v1/actions", userId=user, cursor=first["nextCursor"]).json()
    assert [a["properties"] for a in first["actions"] + rest["actions"]] == posted


def test_004_takes_an_empty_action_list_and_words_a_bad_time_as_drf(stack: Stack) -> None:
    user = unique("004")
    empty = post(stack, "/logs/", {"userId": user, "sessionId": "s", "actions": []})
    assert empty.status_code == 201 and empty.content == b""
    assert get(stack, "/logs/", user=user).json() == []
    # the rest of the log is still checked
    assert post(stack, "/logs/", {"userId": "", "sessionId": "s", "actions": []}).json() == {
        "container_errors": {"userId": ["This field may not be blank."]}, "action_errors": []}
    bad = post(stack, "/logs/", a_log(user, ("18/10/2018", "CLICK", {"locationX": 1, "locationY": 2})))
    assert bad.status_code == 400 and bad.json() == {"container_errors": {}, "action_errors": [{"time": [
        "Datetime has wrong format. Use one of these formats instead: "
        "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}]}


NOT_SERVED = [  # (method, path, query or body, Allow, the service's body)
    ("GET", "/api/submitlogs", None, "POST", lambda b: set(b) == {"error"}),
    ("PUT", "/api/submitlogs", None, "POST", lambda b: set(b) == {"error"}),
    ("POST", "/api/retrievelogs", None, "GET", lambda b: set(b) == {"status"}),
    ("GET", "/api/v1/log", None, "POST", lambda b: b == {"status": "failed"}),
    ("GET", "/testusers", None, "POST", lambda b: b == {"status": "failed"}),
    ("DELETE", "/api/v1/retrieve", None, "GET", lambda b: b == {"status": "failed"}),
    ("PUT", "/log", None, "GET, POST", lambda b: b == {"success": False, "errorCode": "Method Not Allowed"}),
    ("PATCH", "/logs/", b"[]", "GET, POST", lambda b: b == {"success": False, "code": "METHOD_NOT_ALLOWED"}),
    ("DELETE", "/logs/", None, "GET, POST", lambda b: b == {"detail": 'Method "DELETE" not allowed.'}),
    ("PUT", "/logs/", b'{"userId": "u"}', "GET, POST", lambda b: b == {"detail": 'Method "PUT" not allowed.'}),
]


@pytest.mark.parametrize(("method", "path", "body", "allow", "shape"), NOT_SERVED)
def test_a_method_a_route_does_not_serve_is_405_with_allow(stack: Stack, method: str, path: str, body: bytes | None,
                                                           allow: str, shape: Check) -> None:
    response = httpx.request(method, f"{stack.base_url}{path}", content=body, timeout=30)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow and shape(response.json()), response.text
    assert response.headers["logstream-error"].startswith("method_not_allowed: ")
