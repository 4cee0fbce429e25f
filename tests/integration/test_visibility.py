"""Read your writes, piece by piece: the query API's internal visibility check and registry on the real
ClickHouse engine, and the producer's answers when visibility cannot be confirmed (no query service:
refused before publishing; a query service whose stream does not run: 504, the logs still accepted)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from producer_api.app import create_app as create_producer
from producer_api.settings import ProducerSettings
from tests.fixtures import example
from tests.support import Service, consume_all, free_port

STORED = str(uuid.uuid4())
LOG = orjson.dumps({**example(userId="visible"), "eventId": STORED})
QUERY_RECORDS = [LOG]


def visible(client: TestClient, event_id: str, actions: int, timeout_ms: int = 0) -> dict:
    body = {"events": [{"eventId": event_id, "actions": actions}], "types": ["CLICK", "VIEW", "NAVIGATE"],
            "from": "2018-10-18T21:37:28-06:00", "to": "2018-10-18T21:37:30-06:00", "timeoutMs": timeout_ms}
    response = client.post("/internal/visible", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_visibility_counts_every_action_of_the_events(query_client: TestClient) -> None:
    assert visible(query_client, STORED, 3) == {"visible": True, "expected": 3, "found": 3}
    assert visible(query_client, STORED, 4)["visible"] is False  # a fourth action was never stored
    started = time.monotonic()
    assert visible(query_client, str(uuid.uuid4()), 1, timeout_ms=300) == {"visible": False, "expected": 1, "found": 0}
    assert 0.3 <= time.monotonic() - started < 5


def test_the_registry_is_idempotent(query_client: TestClient) -> None:
    user = f"registered-{uuid.uuid4()}"
    assert query_client.get("/internal/users/registered", params={"userId": user}).json() == {"registered": False}
    for _ in range(2):
        assert query_client.post("/internal/users", json={"userIds": [user, user]}).json() == {"registered": 1}
    assert query_client.get("/internal/users/registered", params={"userId": user}).json() == {"registered": True}
    assert query_client.get("/internal/users/registered", params={"userId": user + "' OR 1=1 --"}).json() == {
        "registered": False}


def post(client: TestClient, path: str, body: object) -> object:
    return client.post(path, content=orjson.dumps(body), headers={"content-type": "application/json"})


def test_without_a_query_service_nothing_is_published(broker: str, topic: str) -> None:
    user = f"alone-{uuid.uuid4()}"
    with TestClient(create_producer(ProducerSettings(kafka_bootstrap_servers=broker, raw_topic=topic))) as alone:
        v1 = post(alone, "/v1/logs?wait=visible", example(userId=user))
        assert v1.status_code == 503 and v1.json()["code"] == "upstream_unavailable"
        assert "LOGSTREAM_QUERY_URL" in v1.json()["detail"] and "nothing was published" in v1.json()["detail"]
        compat = post(alone, "/api/submitlogs", example(userId=user))
        assert compat.status_code == 503 and set(compat.json()) == {"error"}
        assert post(alone, "/logs/", [example(userId=user)]).json() == {"success": False,
                                                                        "code": "UPSTREAM_UNAVAILABLE"}
        assert post(alone, "/v1/logs", example(userId=user)).status_code == 202  # without waiting: as before
    published = [m for m in consume_all(broker, topic, expect=10_000, timeout=3) if m.key() == user.encode()]
    assert len(published) == 1


@pytest.fixture(scope="module")
def query_without_stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real query service whose ClickHouse no stream worker fills: nothing ever becomes visible."""
    workdir = tmp_path_factory.mktemp("query-alone")
    port = free_port()
    env = {"LOGSTREAM_CLICKHOUSE_DSN": f"chdb://{workdir}/clickhouse", "LOGSTREAM_QUERY_PORT": str(port)}
    service = Service(["query"], env, workdir, "query").start()
    base = f"http://127.0.0.1:{port}"
    try:
        service.wait_ready(f"{base}/readyz", timeout=60)
        yield base
    finally:
        service.stop(30)


def test_not_visible_in_time_is_504_and_the_logs_stay_accepted(broker: str, topic: str,
                                                               query_without_stream: str) -> None:
    settings = ProducerSettings(kafka_bootstrap_servers=broker, raw_topic=topic, query_url=query_without_stream,
                                visible_timeout_s=1)
    user = f"invisible-{uuid.uuid4()}"
    with TestClient(create_producer(settings)) as producer:
        started = time.monotonic()
        v1 = post(producer, "/v1/logs?wait=visible", example(userId=user))
        assert time.monotonic() - started < 6
        assert v1.status_code == 504 and v1.json()["code"] == "not_visible"
        assert len(v1.json()["eventIds"]) == 1 and "do not send them again" in v1.json()["detail"]
        seed001 = post(producer, "/api/submitlogs", example(userId=user))
        assert seed001.status_code == 504 and "not queryable within 1 s" in seed001.json()["error"]
        seed004 = post(producer, "/logs/", example(userId=user))
        assert seed004.status_code == 504 and set(seed004.json()) == {"container_errors", "action_errors"}
        assert "not_visible" in seed004.headers["logstream-error"]
    published = [m for m in consume_all(broker, topic, expect=10_000, timeout=3) if m.key() == user.encode()]
    assert len(published) == 3  # accepted all the same: the stream will store them when it runs
