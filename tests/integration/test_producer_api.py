"""POST /v1/logs through the real app and the real embedded broker: every status it can answer."""

from __future__ import annotations

import gzip
import time
import uuid

import orjson
import pytest
from fastapi.testclient import TestClient

from logstream import __version__
from producer_api.app import create_app
from producer_api.settings import ProducerSettings
from tests.fixtures import README_EXAMPLE, example
from tests.support import consume_all, free_port, header_texts, headers_validator, success_examples

PRODUCER_SETTINGS = {"max_body_bytes": 64 * 1024}


def post(producer_client: TestClient, body: bytes, content_type: str = "application/json", **headers: str):
    return producer_client.post("/v1/logs", content=body, headers={"content-type": content_type, **headers})


def test_202_after_the_broker_acked_and_the_record_is_the_log_plus_event_id(producer_client: TestClient, broker: str,
                                                                             topic: str) -> None:
    user = f"u-{uuid.uuid4()}"
    response = post(producer_client, orjson.dumps(example(userId=user)))
    assert response.status_code == 202
    body = response.json()
    assert body["logs"] == 1 and body["actions"] == 3
    [record] = [m for m in consume_all(broker, topic, expect=10_000, timeout=3) if m.key() == user.encode()]
    value = orjson.loads(record.value())
    assert value["eventId"] == body["eventIds"][0]
    assert value["receivedAt"].endswith("Z")
    assert {k: value[k] for k in README_EXAMPLE} == example(userId=user)
    headers = header_texts(record)
    assert headers_validator("logstream.logs.raw.v1").is_valid(headers)
    assert headers == {"content-type": "application/json", "logstream.schema": "logstream.logs.raw/1",
                       "logstream.producer": f"logstream/{__version__}", "logstream.route": "POST /v1/logs"}


def test_an_array_gives_one_record_per_log(producer_client: TestClient) -> None:
    response = post(producer_client, orjson.dumps([README_EXAMPLE] * 3))
    assert response.status_code == 202
    assert response.json()["logs"] == 3 and len(set(response.json()["eventIds"])) == 3


def test_invalid_logs_are_400_with_every_problem_and_nothing_is_published(producer_client: TestClient, broker: str,
                                                                          topic: str) -> None:
    marker = f"bad-{uuid.uuid4()}"
    bad = example(userId=marker)
    bad["actions"][0]["properties"].pop("locationX")
    response = post(producer_client, orjson.dumps([example(userId=marker), bad, {"userId": marker}]))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["code"] == "invalid_logs"
    paths = [(e["path"], e["code"]) for e in problem["errors"]]
    assert paths == [("[1].actions[0].properties.locationX", "missing_property"),
                     ("[2].sessionId", "missing_field"), ("[2].actions", "missing_field")]
    assert not [m for m in consume_all(broker, topic, expect=10_000, timeout=3) if m.key() == marker.encode()]


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b"{not json", "application/json", 400, "invalid_json"),
    (b"", "application/json", 400, "invalid_json"),
    (b'"just a string"', "application/json", 400, "invalid_logs"),
    (b"[]", "application/json", 400, "invalid_logs"),
    (orjson.dumps(README_EXAMPLE), "text/plain", 415, "unsupported_media_type"),
    (orjson.dumps(README_EXAMPLE), "", 415, "unsupported_media_type"),
    (orjson.dumps([README_EXAMPLE] * 200), "application/json", 413, "payload_too_large"),
    (gzip.compress(orjson.dumps(README_EXAMPLE), mtime=0), "application/json", 400, "invalid_json"),
])
def test_bad_bodies(producer_client: TestClient, body: bytes, content_type: str, status: int, code: str) -> None:
    response = post(producer_client, body, content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    # with an Idempotency-Key: the same refusal, before the key is looked at
    keyed = post(producer_client, body, content_type, **{"Idempotency-Key": f"k-{uuid.uuid4()}"})
    assert (keyed.status_code, keyed.json()) == (response.status_code, response.json())


def test_a_charset_parameter_or_json_suffix_is_fine(producer_client: TestClient) -> None:
    assert post(producer_client, orjson.dumps(README_EXAMPLE), "application/json; charset=utf-8").status_code == 202
    assert post(producer_client, orjson.dumps(README_EXAMPLE), "application/vnd.logstream+json").status_code == 202


def test_unknown_route_and_method_are_problems_not_500(producer_client: TestClient) -> None:
    # this producer has no query service behind it, so it forwards nothing
    assert producer_client.get("/nowhere").json()["code"] == "not_found"
    response = producer_client.get("/v1/logs")
    assert response.status_code == 405 and response.headers["content-type"] == "application/problem+json"


def test_every_endpoint_has_an_example_in_the_openapi_document(producer_client: TestClient) -> None:
    # this producer has no query service behind it: its document holds its own operations alone
    document = producer_client.get("/openapi.json").json()
    routes = [(path, method, operation) for path, methods in document["paths"].items()
              for method, operation in methods.items()]
    assert {path for path, _, _ in routes} >= {"/v1/logs", "/api/v1/log", "/testusers", "/logs/", "/readyz"}
    for path, method, operation in routes:
        examples = success_examples(operation)
        assert examples and all(examples.values()), (method, path)


def test_broker_unavailable_is_503_with_retry_after_within_a_bounded_time() -> None:
    settings = ProducerSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", publish_timeout_ms=1000)
    with TestClient(create_app(settings)) as dead:
        started = time.monotonic()
        response = dead.post("/v1/logs", content=orjson.dumps(README_EXAMPLE),
                             headers={"content-type": "application/json"})
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "broker_unavailable"
    assert elapsed < 8


def test_queue_full_is_503_with_retry_after(broker: str, topic: str) -> None:
    settings = ProducerSettings(kafka_bootstrap_servers=broker, raw_topic=topic, kafka_queue_max_messages=100)
    with TestClient(create_app(settings)) as small:
        response = small.post("/v1/logs", content=orjson.dumps([README_EXAMPLE] * 101),
                              headers={"content-type": "application/json"})
    assert response.status_code == 503
    assert response.json()["code"] == "queue_full" and response.headers["retry-after"] == "1"


def test_a_path_with_control_characters_is_forwarded_encoded_not_a_500(broker: str) -> None:
    settings = ProducerSettings(kafka_bootstrap_servers=broker, query_url=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings), raise_server_exceptions=False) as front:
        responses = [front.get("/v1/sessions/%F1%BF%A6%99o%14%C3%9Ar"), front.get("/v1/users/a%0Ab/sessions")]
    # nothing listens upstream: a 503 problem, not the 500 an unforwardable URL used to cause, nor the
    # 404 of a path with a newline that the catch-all route did not match
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(503, "upstream_unavailable")] * 2
