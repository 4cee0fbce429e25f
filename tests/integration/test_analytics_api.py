"""GET /v1/stats/funnel, /retention and /paths through the real app on the real ClickHouse engine:
worked examples, every limit's problem, the OpenAPI examples held to real answers, and 503s."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from query_api.app import create_app
from query_api.settings import QuerySettings
from tests.support import same_shape, store_records


def log(user: str, session: str, actions: list[tuple[str, str, dict]]) -> bytes:
    return orjson.dumps({"userId": user, "sessionId": session, "eventId": str(uuid.uuid4()),
                         "actions": [{"time": t, "type": k, "properties": p} for t, k, p in actions]})


def nav(page_from: str, page_to: str) -> dict[str, str]:
    return {"pageFrom": page_from, "pageTo": page_to}


CLICK = {"locationX": 1, "locationY": 2}
LOGS = [
    log("u1", "s1", [("2018-10-22T10:00:00Z", "NAVIGATE", nav("home", "inventory")),
                     ("2018-10-22T10:00:20Z", "VIEW", {"viewedId": "item-1"}),
                     ("2018-10-22T10:00:30Z", "CLICK", CLICK),
                     ("2018-10-22T10:01:00Z", "NAVIGATE", nav("inventory", "cart")),
                     ("2018-10-22T10:02:00Z", "NAVIGATE", nav("cart", "checkout"))]),
    log("u2", "s2", [("2018-10-22T11:00:00Z", "NAVIGATE", nav("home", "inventory")),
                     ("2018-10-22T11:01:00Z", "VIEW", {"viewedId": "item-2"}),
                     ("2018-10-22T11:05:00Z", "NAVIGATE", nav("inventory", "checkout"))]),
    # u3: the click comes before the view, so a strict funnel stops at the view
    log("u3", "s3", [("2018-10-22T12:00:00Z", "NAVIGATE", nav("search", "inventory")),
                     ("2018-10-22T12:00:05Z", "CLICK", CLICK),
                     ("2018-10-22T12:00:10Z", "VIEW", {"viewedId": "item-1"})]),
    # u1 comes back the next week, u2 does not
    log("u1", "s4", [("2018-10-30T09:00:00Z", "VIEW", {"viewedId": "item-3"}),
                     ("2018-10-30T09:00:01Z", "NAVIGATE", nav("home", "cart")),
                     ("2018-10-30T09:00:02Z", "NAVIGATE", nav("cart", "checkout"))]),
]
DAY = {"from": "2018-10-22T00:00:00Z", "to": "2018-10-23T00:00:00Z"}
FUNNEL = {"steps": ["NAVIGATE:pageTo=inventory", "VIEW", "CLICK"], "window": "1h", **DAY}
RETENTION = {"interval": "week", "from": "2018-10-22", "to": "2018-11-05", "tz": "UTC"}
PATHS = {"end": "checkout", "depth": 2, "from": "2018-10-22", "to": "2018-11-05"}


@pytest.fixture(scope="module")
def settings(chdb_dir: Path) -> QuerySettings:
    return QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"a_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def client(settings: QuerySettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        store_records(settings, LOGS)
        yield test_client


def get(client: TestClient, path: str, params: dict[str, Any]) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_strict_funnel_by_user(client: TestClient) -> None:
    body = get(client, "/v1/stats/funnel", FUNNEL)
    assert body == {"by": "user", "order": "strict", "windowSeconds": 3600, "steps": [
        {"step": 1, "spec": "NAVIGATE:pageTo=inventory", "entered": 3, "conversionFromFirst": 1.0,
         "conversionFromPrevious": 1.0, "medianMsFromPrevious": None, "p90MsFromPrevious": None},
        {"step": 2, "spec": "VIEW", "entered": 3, "conversionFromFirst": 1.0, "conversionFromPrevious": 1.0,
         "medianMsFromPrevious": 20_000, "p90MsFromPrevious": 60_000},  # 10 s, 20 s, 60 s: nearest rank
        {"step": 3, "spec": "CLICK", "entered": 1, "conversionFromFirst": 1 / 3, "conversionFromPrevious": 1 / 3,
         "medianMsFromPrevious": 10_000, "p90MsFromPrevious": 10_000}]}


def test_any_order_a_window_edge_and_periods(client: TestClient) -> None:
    body = get(client, "/v1/stats/funnel", {**FUNNEL, "order": "any"})
    assert [s["entered"] for s in body["steps"]] == [3, 3, 2]  # u3's click before its view counts
    assert all(s["spec"] is None for s in body["steps"])
    # u1's click is 30 s after its navigation: a 30 s window includes it, 29 s does not
    assert get(client, "/v1/stats/funnel", {**FUNNEL, "window": "30s"})["steps"][2]["entered"] == 1
    assert get(client, "/v1/stats/funnel", {**FUNNEL, "window": "29"})["steps"][2]["entered"] == 0
    by_day = get(client, "/v1/stats/funnel", {**FUNNEL, "interval": "day", "tz": "America/Edmonton"})
    assert [(p["start"], p["steps"][0]["entered"]) for p in by_day["periods"]] == [
        ("2018-10-21T00:00:00-06:00", 0), ("2018-10-22T00:00:00-06:00", 3)]  # 10:00Z is 04:00 there
    by_session = get(client, "/v1/stats/funnel",
                     {**FUNNEL, "by": "session", "steps": ["VIEW", "NAVIGATE:pageTo^=check"]})
    assert [s["entered"] for s in by_session["steps"]] == [3, 2]  # s1 and s2; s4 is outside the range


def test_weekly_retention(client: TestClient) -> None:
    body = get(client, "/v1/stats/retention", {**RETENTION, "return": "NAVIGATE:pageTo=checkout"})
    assert body == {"interval": "week", "tz": "UTC", "start": None, "return": "NAVIGATE:pageTo=checkout",
                    "cohorts": [
                        {"start": "2018-10-22T00:00:00+00:00", "users": 3, "retained": [2, 1],
                         "shares": [2 / 3, 1 / 3]},
                        {"start": "2018-10-29T00:00:00+00:00", "users": 0, "retained": [0], "shares": [None]}]}


def test_paths_to_and_from_a_page(client: TestClient) -> None:
    body = get(client, "/v1/stats/paths", PATHS)
    assert body["end"] == "checkout" and body["start"] is None and body["depth"] == 2
    assert body["paths"] == [  # ties in order of the pages
        {"pages": ["home", "cart", "checkout"], "sessions": 1},
        {"pages": ["home", "inventory", "checkout"], "sessions": 1},
        {"pages": ["inventory", "cart", "checkout"], "sessions": 1}]
    from_home = get(client, "/v1/stats/paths", {**PATHS, "end": None, "start": "home", "depth": 1})
    assert from_home["paths"] == [{"pages": ["home", "inventory"], "sessions": 2},
                                  {"pages": ["home", "cart"], "sessions": 1}]


@pytest.mark.parametrize(("path", "params", "code", "where"), [
    ("/v1/stats/funnel", {**FUNNEL, "steps": ["VIEW"] * 11}, "too_many_steps", "steps"),
    ("/v1/stats/funnel", {**FUNNEL, "steps": []}, "invalid_parameter", "query.steps"),
    ("/v1/stats/funnel", {**FUNNEL, "steps": ["VIEW", "JUMP"]}, "invalid_step", "steps[2]"),
    ("/v1/stats/funnel", {**FUNNEL, "steps": ["VIEW", "CLICK", "NAVIGATE:pageTo"]}, "invalid_step", "steps[3]"),
    ("/v1/stats/funnel", {**FUNNEL, "steps": ["NAVIGATE:pageTo="]}, "invalid_step", "steps[1]"),
    ("/v1/stats/funnel", {**FUNNEL, "window": "0s"}, "window_out_of_range", "window"),
    ("/v1/stats/funnel", {**FUNNEL, "window": "91d"}, "window_out_of_range", "window"),
    ("/v1/stats/funnel", {**FUNNEL, "window": "a week"}, "window_out_of_range", "window"),
    ("/v1/stats/funnel", {**FUNNEL, "by": "account"}, "invalid_parameter", "query.by"),
    ("/v1/stats/funnel", {**FUNNEL, "order": "reverse"}, "invalid_parameter", "query.order"),
    ("/v1/stats/funnel", {**FUNNEL, "interval": "minute"}, "invalid_parameter", "query.interval"),
    ("/v1/stats/funnel", {**FUNNEL, "to": None}, "invalid_parameter", "to"),
    ("/v1/stats/funnel", {**FUNNEL, "interval": "day", "from": "2000-01-01", "to": "2099-01-01"},
     "too_many_buckets", "interval"),
    ("/v1/stats/retention", {**RETENTION, "start": "VIEW:viewedId"}, "invalid_step", "start"),
    ("/v1/stats/retention", {**RETENTION, "return": "TAP"}, "invalid_step", "return"),
    ("/v1/stats/retention", {**RETENTION, "interval": "day", "to": "2020-01-01"}, "too_many_periods", "interval"),
    ("/v1/stats/retention", {**RETENTION, "tz": "Mars/Olympus_Mons"}, "invalid_parameter", "tz"),
    ("/v1/stats/paths", {**PATHS, "depth": 0}, "depth_out_of_range", "depth"),
    ("/v1/stats/paths", {**PATHS, "depth": 7}, "depth_out_of_range", "depth"),
    ("/v1/stats/paths", {**PATHS, "start": "home"}, "invalid_parameter", "start"),
    ("/v1/stats/paths", {**PATHS, "end": None}, "invalid_parameter", "start"),
    ("/v1/stats/paths", {**PATHS, "limit": 1001}, "invalid_parameter", "query.limit"),
])
def test_every_limit_is_a_problem_saying_what_to_change(client: TestClient, path: str, params: dict, code: str,
                                                         where: str) -> None:
    response = client.get(path, params={k: v for k, v in params.items() if v is not None})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["errors"][0]["path"] == where, body
    if code == "invalid_step":
        assert where in body["detail"]  # names the step's position, and the step itself
        assert repr(params.get("steps", [None])[-1] if where.startswith("steps") else
                    params.get(where))[1:-1][:20] in body["detail"]


@pytest.mark.parametrize(("path", "params"), [
    ("/v1/stats/funnel", FUNNEL), ("/v1/stats/retention", {**RETENTION, "return": "NAVIGATE:pageTo=checkout"}),
    ("/v1/stats/paths", PATHS)])
def test_the_openapi_example_has_the_shape_of_the_real_answer(client: TestClient, path: str,
                                                              params: dict[str, Any]) -> None:
    operation = client.get("/openapi.json").json()["paths"][path]["get"]
    example = operation["responses"]["200"]["content"]["application/json"]["example"]
    assert set(operation["responses"]) >= {"200", "400", "503"}
    assert same_shape(get(client, path, params), example)


def test_the_query_limits_apply(settings: QuerySettings) -> None:
    """The statements run under the store's limits: 300 different paths are over 1 KiB of result."""
    own = settings.model_copy(update={"clickhouse_database": f"l_{uuid.uuid4().hex[:8]}"})
    logs = [log(f"user-{n}", f"session-{n}", [(f"2018-10-22T10:00:0{i}Z", "NAVIGATE", nav(f"p{n}-{i}", f"p{n}-{i + 1}"))
                                              for i in range(4)] + [("2018-10-22T10:00:05Z", "NAVIGATE",
                                                                     nav(f"p{n}-4", "checkout"))])
            for n in range(300)]
    params = {**PATHS, "depth": 4, "limit": 1000}
    with TestClient(create_app(own), raise_server_exceptions=False) as roomy:
        store_records(own, logs)
        assert len(get(roomy, "/v1/stats/paths", params)["paths"]) == 300
    tight = own.model_copy(update={"query_max_result_bytes": 1024})
    with TestClient(create_app(tight), raise_server_exceptions=False) as client:
        response = client.get("/v1/stats/paths", params=params)
        assert response.status_code == 400 and response.json()["code"] == "result_too_large", response.text


def test_clickhouse_unavailable_is_503_problem(settings: QuerySettings) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as own:
        own.app.state.store.close()
        for path, params in [("/v1/stats/funnel", FUNNEL), ("/v1/stats/retention", RETENTION),
                             ("/v1/stats/paths", PATHS)]:
            response = own.get(path, params=params)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["code"] == "clickhouse_unavailable"
