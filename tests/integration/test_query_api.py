"""The read API through the real app on the real ClickHouse engine (chDB, in this process)."""

from __future__ import annotations

import base64
import uuid

import orjson
import pytest
from fastapi.testclient import TestClient

BASE = "2018-10-18T21:37:{:02d}-06:00"


def log(user: str, session: str, actions: list[tuple[str, str, dict]]) -> bytes:
    return orjson.dumps({"userId": user, "sessionId": session, "eventId": str(uuid.uuid4()),
                         "actions": [{"time": t, "type": k, "properties": p} for t, k, p in actions]})


LOGS = [
    log("alice", "s1", [(BASE.format(28), "CLICK", {"locationX": 0, "locationY": 11}),
                        (BASE.format(30), "view", {"viewedId": "FDJKLHSLD"}),
                        (BASE.format(30), "NAVIGATE", {"pageFrom": "communities", "pageTo": "inventory"})]),
    log("bob", "s2", [("2018-10-19T03:37:29Z", "CLICK", {"locationX": 1.5, "locationY": -2, "extra": [1]}),
                      ("2018-10-19T09:07:31+05:30", "VIEW", {"viewedId": "x"})]),
    # twenty actions at the same instant: they come back, and page, in the order they were sent
    log("carol", "s3", [("2018-10-20T00:00:00.125Z", "CLICK", {"locationX": i, "locationY": i}) for i in range(20)]),
]
QUERY_RECORDS = LOGS  # stored before the module's first test (tests/integration/conftest.py)


def actions(query_client: TestClient, **params: object) -> list[dict]:
    response = query_client.get("/v1/actions", params=params)
    assert response.status_code == 200, response.text
    return response.json()["actions"]


def test_times_come_back_exactly_as_sent(query_client: TestClient) -> None:
    found = actions(query_client, userId="alice")
    assert found[0]["time"] == "2018-10-18T21:37:28-06:00" and found[0]["type"] == "CLICK"
    assert sorted((a["time"], a["type"]) for a in found[1:]) == [
        ("2018-10-18T21:37:30-06:00", "NAVIGATE"), ("2018-10-18T21:37:30-06:00", "VIEW")]
    assert found[0]["properties"] == {"locationX": 0, "locationY": 11}
    bob = actions(query_client, userId="bob")
    assert [a["time"] for a in bob] == ["2018-10-19T03:37:29Z", "2018-10-19T09:07:31+05:30"]
    assert bob[0]["properties"] == {"locationX": 1.5, "locationY": -2, "extra": [1]}
    assert actions(query_client, userId="carol")[0]["time"] == "2018-10-20T00:00:00.125Z"


def test_ordered_by_time_then_action_id(query_client: TestClient) -> None:
    found = actions(query_client, limit=1000)
    assert len(found) == 25
    keys = [a["time"] for a in found[:5]]
    assert keys[0] == "2018-10-18T21:37:28-06:00"
    carol = [a["actionId"] for a in found if a["userId"] == "carol"]
    assert len(carol) == 20 and len(set(carol)) == 20


def test_from_is_inclusive_and_to_exclusive(query_client: TestClient) -> None:
    at = "2018-10-19T03:37:29Z"
    assert [a["userId"] for a in actions(query_client, **{"from": at, "to": "2018-10-19T03:37:29.001Z"})] == ["bob"]
    # 21:37:28-06:00 is 03:37:28Z: alice's click, not bob's click at `at`, nor alice's 03:37:30Z actions
    assert [a["userId"] for a in actions(query_client, **{"from": "2018-10-18T21:37:28-06:00", "to": at})] == ["alice"]
    assert len(actions(query_client, **{"from": "2018-10-18T21:37:28-06:00", "to": "2018-10-19T03:37:30Z"})) == 2
    # bounds in another offset: 03:37:29Z to 03:37:32Z
    found = actions(query_client, **{"from": "2018-10-19T09:07:29+05:30", "to": "2018-10-19T09:07:32+05:30"})
    assert [a["userId"] for a in found] == ["bob", "alice", "alice", "bob"]


def test_type_filter_takes_a_list_in_any_case(query_client: TestClient) -> None:
    assert {a["type"] for a in actions(query_client, type="view,Navigate", limit=100)} == {"VIEW", "NAVIGATE"}
    assert len(actions(query_client, type="VIEW", limit=100)) == 2


def all_pages(query_client: TestClient, route: str, key: str, **params: object) -> list[dict]:
    seen, cursor = [], None
    while True:
        response = query_client.get(route, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        assert sum(len(g["actions"]) for g in body[key]) <= params["limit"] if key == "logs" else \
            len(body[key]) <= params["limit"]
        seen += body[key]
        cursor = body["nextCursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 24, 25, 26])
def test_pagination_never_skips_or_repeats(query_client: TestClient, limit: int) -> None:
    everything = actions(query_client, limit=1000)
    assert all_pages(query_client, "/v1/actions", "actions", limit=limit) == everything


def instant(action: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(action["time"]).timestamp()


@pytest.mark.parametrize("params", [{}, {"type": "CLICK"}, {"type": "VIEW,NAVIGATE"}, {"userId": "alice"},
                                    {"sessionId": "s3"}, {"from": "2018-10-19T03:37:29Z", "to": "2018-10-20T00:00Z"}])
@pytest.mark.parametrize("limit", [1, 3, 24, 26])
def test_newest_first_is_the_same_rows_reversed_and_pages_both_ways(query_client: TestClient, params: dict,
                                                                     limit: int) -> None:
    oldest_first = actions(query_client, limit=1000, **params)
    assert oldest_first == sorted(oldest_first, key=instant) and oldest_first  # ties: by actionId as stored
    newest_first = actions(query_client, limit=1000, order="desc", **params)
    assert newest_first == oldest_first[::-1]
    assert all_pages(query_client, "/v1/actions", "actions", limit=limit, order="desc", **params) == newest_first
    assert all_pages(query_client, "/v1/actions", "actions", limit=limit, order="asc", **params) == oldest_first
    logs = all_pages(query_client, "/v1/logs", "logs", limit=limit, order="desc", **params)
    position = {a["actionId"]: i for i, a in enumerate(newest_first)}  # each group keeps the page's order
    assert sorted(position[a["actionId"]] for g in logs for a in g["actions"]) == list(range(len(newest_first)))
    assert all([position[a["actionId"]] for a in g["actions"]] == sorted(position[a["actionId"]] for a in g["actions"])
               for g in logs)


def test_order_is_asc_or_desc(query_client: TestClient) -> None:
    for route in ("/v1/actions", "/v1/logs"):
        response = query_client.get(route, params={"order": "newest"})
        assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["path"] == "query.order"


def test_actions_with_the_same_time_come_back_in_the_order_they_arrived(query_client: TestClient) -> None:
    """Ties by arrival: the record's partition and offset, then the action's index in its log."""
    assert [a["properties"]["locationX"] for a in actions(query_client, userId="carol")] == list(range(20))
    assert [a["type"] for a in actions(query_client, userId="alice")] == ["CLICK", "VIEW", "NAVIGATE"]
    first = query_client.get("/v1/actions", params={"userId": "carol", "limit": 7}).json()
    rest = query_client.get("/v1/actions", params={"userId": "carol", "cursor": first["nextCursor"]}).json()
    assert [a["properties"]["locationX"] for a in first["actions"] + rest["actions"]] == list(range(20))


def test_a_cursor_from_before_the_arrival_order_reads_on_without_a_gap(query_client: TestClient) -> None:
    """A client paging across the upgrade holds a (time, actionId) cursor: it reads on in that former
    order to the end, so the ties of its time are neither repeated nor skipped."""
    carol = actions(query_client, userId="carol")

    def read_on(action_id: str) -> list[dict]:
        millis = 1539993600125  # carol's time, 2018-10-20T00:00:00.125Z
        cursor: str | None = base64.urlsafe_b64encode(orjson.dumps([millis, action_id])).decode().rstrip("=")
        seen: list[dict] = []
        while cursor:
            body = query_client.get("/v1/actions", params={"limit": 3, "cursor": cursor}).json()
            seen += body["actions"]
            cursor = body["nextCursor"]
        return seen

    every = read_on("00000000-0000-0000-0000-000000000000")  # every tie after the least id, in id order
    assert sorted(a["actionId"] for a in every) == sorted(a["actionId"] for a in carol)
    assert read_on("ffffffff-ffff-ffff-ffff-ffffffffffff") == []
    for position in (0, 7, 10, 19):  # begun on a former page ending at `position`: the rest, once each
        assert read_on(every[position]["actionId"]) == every[position + 1:]


def test_logs_groups_actions_per_session(query_client: TestClient) -> None:
    body = query_client.get("/v1/logs", params={"type": "CLICK,VIEW", "to": "2018-10-20T00:00:00Z"}).json()
    assert [(g["userId"], g["sessionId"], [a["type"] for a in g["actions"]]) for g in body["logs"]] == [
        ("alice", "s1", ["CLICK", "VIEW"]), ("bob", "s2", ["CLICK", "VIEW"])]


@pytest.mark.parametrize(("params", "path"), [
    ({"from": "yesterday"}, "from"),
    ({"to": "2018-13-01T00:00:00Z"}, "to"),
    ({"type": "CLICK,SCROLL"}, "type"),
    ({"limit": 0}, "limit"),
    ({"limit": 10_001}, "limit"),
    ({"limit": "ten"}, "query.limit"),
    ({"from": "2018-10-20T00:00:00Z", "to": "2018-10-19T00:00:00Z"}, "from"),
])
def test_bad_parameters_are_400_problems(query_client: TestClient, params: dict, path: str) -> None:
    for route in ("/v1/actions", "/v1/logs"):
        response = query_client.get(route, params=params)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["path"] == path


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJhIiwiYiJd", "e30"])
def test_bad_cursor_is_400(query_client: TestClient, cursor: str) -> None:
    response = query_client.get("/v1/actions", params={"cursor": cursor})
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


def test_values_never_become_sql(query_client: TestClient) -> None:
    assert actions(query_client, userId="alice' OR 1=1 --") == []
    assert actions(query_client, sessionId="s1\\' OR '1'='1") == []


def test_readiness_checks_clickhouse_and_migrations(query_client: TestClient) -> None:
    body = query_client.get("/readyz").json()
    assert body == {"ready": True, "checks": {"clickhouse": {"ok": True, "detail": "reachable"},
                                              "migrations": {"ok": True, "detail": "applied"}}}


def test_reads_share_a_pool_of_connections(query_client: TestClient) -> None:
    """A read runs on any idle connection of the pool: with all but one held, reads still answer,
    and the same as before."""
    store = query_client.app.state.store
    settings = query_client.app.state.settings
    assert len(store._pool) == settings.query_connections >= 2
    expected = actions(query_client, limit=1000)
    held = [store._borrowed() for _ in range(settings.query_connections - 1)]
    clients = {id(hold.__enter__()) for hold in held}
    try:
        assert len(clients) == settings.query_connections - 1
        assert actions(query_client, limit=1000) == expected
    finally:
        for hold in held:
            hold.__exit__(None, None, None)


def test_reads_side_by_side_share_the_engines_threads(query_client: TestClient) -> None:
    """A read alone runs with the engine's default threads; one that starts while another runs gets
    its share of the cores (the engine's own setting, read back by the query itself)."""
    import threading

    from query_api.store import CORES
    from tests.support import wait_until

    store = query_client.app.state.store
    setting = "SELECT toUInt64(getSetting('max_threads'))"
    alone = store._rows(setting, {}, store.settings)[0][0]
    beside = threading.Thread(target=store._rows, args=("SELECT sleep(1)", {}, store.settings))
    beside.start()
    try:
        wait_until(lambda: store._reading == 1, timeout=5, what="the long read to start", interval=0.005)
        shared = store._rows(setting, {}, store.settings)[0][0]
    finally:
        beside.join()
    assert shared == max(1, CORES // 2) < alone
    assert store._rows(setting, {}, store.settings)[0][0] == alone


def test_a_page_of_types_no_action_has_is_empty(query_client: TestClient) -> None:
    """The compatibility reads pass their own type names through: unknown ones match nothing."""
    from query_api.filters import ActionFilter
    from query_api.queries import actions_page

    store = query_client.app.state.store
    for order in ("asc", "desc"):
        sql, parameters = actions_page(ActionFilter(types=("click", "SCROLL")), None, 10, order)
        assert store._rows(sql, parameters, store.settings) == []
