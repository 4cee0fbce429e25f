"""End to end through `logstream up`: HTTP -> raw topic -> Faust -> ClickHouse -> query API."""

from __future__ import annotations

import time
import uuid

import httpx
import orjson
import pytest

from tests.fixtures import README_EXAMPLE, example
from tests.support import Stack, all_actions, consume_all, produce_raw, wait_until

pytestmark = pytest.mark.also_on_apache_kafka


def post(stack: Stack, body: object, **headers: str) -> httpx.Response:
    return httpx.post(f"{stack.base_url}/v1/logs", content=orjson.dumps(body),
                      headers={"content-type": "application/json", **headers}, timeout=30)


def test_readme_example_is_queryable_with_its_original_times_within_5_s(stack: Stack) -> None:
    user = f"user-{uuid.uuid4()}"
    accepted = post(stack, example(userId=user))
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["logs"] == 1 and body["actions"] == 3 and len(body["eventIds"]) == 1
    posted = time.monotonic()

    actions = wait_until(lambda: all_actions(stack.base_url, {"userId": user}), timeout=5, what="the actions")
    assert time.monotonic() - posted < 5
    assert len(actions) == 3
    # ordered by time; the VIEW and NAVIGATE share a time, so actionId orders them
    assert actions[0]["type"] == "CLICK"
    assert sorted((a["type"], a["time"], orjson.dumps(a["properties"])) for a in actions) == sorted(
        (a["type"], a["time"], orjson.dumps(a["properties"])) for a in README_EXAMPLE["actions"])
    assert {a["eventId"] for a in actions} == set(body["eventIds"])
    assert all(a["userId"] == user and a["sessionId"] == "XYZ456ABC" for a in actions)


def test_a_thousand_logs_in_batches_give_exactly_the_right_count(stack: Stack) -> None:
    user = f"bulk-{uuid.uuid4()}"
    event_ids: list[str] = []
    for start in range(0, 1000, 100):
        logs = [example(userId=user, sessionId=f"s{i}") for i in range(start, start + 100)]
        response = post(stack, logs)
        assert response.status_code == 202, response.text
        assert response.json()["logs"] == 100 and response.json()["actions"] == 300
        event_ids += response.json()["eventIds"]
    assert len(set(event_ids)) == 1000

    actions = wait_until(lambda: (a := all_actions(stack.base_url, {"userId": user}, page=700)) and
                         len(a) >= 3000 and a, timeout=30, what="3000 actions")
    assert len(actions) == 3000
    assert len({a["actionId"] for a in actions}) == 3000
    assert {a["eventId"] for a in actions} == set(event_ids)
    times = [(a["time"], a["actionId"]) for a in actions]
    assert len(times) == len(set(times))


def test_grouped_logs_endpoint(stack: Stack) -> None:
    user = f"grouped-{uuid.uuid4()}"
    assert post(stack, [example(userId=user, sessionId="a"), example(userId=user, sessionId="b")]).status_code == 202
    wait_until(lambda: len(all_actions(stack.base_url, {"userId": user})) == 6, timeout=10, what="6 actions")
    body = httpx.get(f"{stack.base_url}/v1/logs", params={"userId": user, "type": "click,view"}).json()
    assert body["nextCursor"] is None
    assert sorted((log["sessionId"], len(log["actions"])) for log in body["logs"]) == [("a", 2), ("b", 2)]
    assert all(a["type"] in ("CLICK", "VIEW") for log in body["logs"] for a in log["actions"])


def test_a_malformed_record_written_to_the_raw_topic_lands_in_the_dlq(stack: Stack) -> None:
    marker = uuid.uuid4().hex
    bad_schema = orjson.dumps({"userId": marker, "sessionId": "s", "actions": [{"type": "CLICK"}]})
    not_json = f"not json {marker}".encode()
    produce_raw(stack.bootstrap, "logstream.logs.raw.v1", [(b"k1", bad_schema), (b"k2", not_json)])

    def letters() -> list:
        found = [m for m in consume_all(stack.bootstrap, "logstream.logs.dlq.v1", expect=10_000, timeout=3)
                 if marker.encode() in (m.value() or b"")]
        return found if len(found) >= 2 else []

    found = wait_until(letters, timeout=30, what="two dead letters", interval=0.5)
    by_value = {m.value(): dict(m.headers()) for m in found}
    schema_headers, json_headers = by_value[bad_schema], by_value[not_json]
    assert schema_headers["logstream.dlq.reason"] == b"schema_violation"
    assert {"path": "actions[0].time", "code": "missing_field"}.items() <= orjson.loads(
        schema_headers["logstream.dlq.errors"])[0].items()
    assert json_headers["logstream.dlq.reason"] == b"unparseable"
    assert schema_headers["logstream.dlq.source"].startswith(b"logstream.logs.raw.v1/")
    # and the valid traffic still flows
    user = f"after-dlq-{uuid.uuid4()}"
    assert post(stack, example(userId=user)).status_code == 202
    wait_until(lambda: len(all_actions(stack.base_url, {"userId": user})) == 3, timeout=10, what="3 actions")


def test_readiness_reports_every_check(stack: Stack) -> None:
    body = httpx.get(f"{stack.base_url}/readyz").json()
    assert body["ready"] is True
    assert set(body["checks"]) == {"broker", "clickhouse", "migrations", "stream"}
    assert httpx.get(f"{stack.base_url}/healthz").json() == {"status": "ok"}


def test_one_base_url_documents_the_whole_api(stack: Stack) -> None:
    paths = httpx.get(f"{stack.base_url}/openapi.json").json()["paths"]
    assert {"/v1/logs", "/v1/actions", "/healthz", "/readyz"} <= set(paths)
    assert "post" in paths["/v1/logs"] and "get" in paths["/v1/logs"]
    assert httpx.get(f"{stack.base_url}/docs").status_code == 200


def test_a_forwarded_answer_has_one_date_and_one_server_header(stack: Stack) -> None:
    response = httpx.get(f"{stack.base_url}/v1/actions", params={"limit": 1})
    assert response.status_code == 200
    assert len(response.headers.get_list("date")) == 1 and len(response.headers.get_list("server")) == 1
