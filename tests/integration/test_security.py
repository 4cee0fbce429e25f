"""API keys, rate limits and CORS through the real apps: the producer on the real broker (its
forwarded routes pointed at a closed port: a request that gets past the keys is answered 503 by the
forwarder), and the query API on the real ClickHouse engine."""

from __future__ import annotations

import logging

import orjson
import pytest
from fastapi.testclient import TestClient

from logstream.security import INTERNAL_KEY_HEADER
from producer_api.app import create_app
from producer_api.settings import ProducerSettings
from tests.fixtures import README_EXAMPLE
from tests.support import free_port

WRITE, READ, BOTH, INTERNAL = "write-key-0123456789", "read-key-0123456789", "both-key-0123456789", "i" * 32
ORIGIN = "https://app.example.com"


PRODUCER_SETTINGS = {"write_keys": (WRITE, BOTH), "read_keys": (READ, BOTH),
                     "query_url": f"http://127.0.0.1:{free_port()}", "rate_limit_per_s": 0.2,
                     "rate_limit_burst": 4, "cors_origins": (ORIGIN,)}
QUERY_SETTINGS = {"read_keys": (READ,), "write_keys": (WRITE,), "internal_key": INTERNAL}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def ingest(producer_client: TestClient, **headers: str):
    return producer_client.post("/v1/logs", content=orjson.dumps(README_EXAMPLE),
                       headers={"content-type": "application/json", **headers})


def code(response) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.json()["code"]


def test_ingest_needs_a_write_key(producer_client: TestClient) -> None:
    missing = ingest(producer_client)
    assert missing.status_code == 401 and code(missing) == "missing_api_key"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = ingest(producer_client, **bearer("not-a-key-0123456789"))
    assert wrong.status_code == 401 and code(wrong) == "invalid_api_key"
    read_only = ingest(producer_client, **bearer(READ))
    assert read_only.status_code == 403 and code(read_only) == "insufficient_scope"
    assert ingest(producer_client, **bearer(WRITE)).status_code == 202
    assert ingest(producer_client, **{"x-api-key": BOTH}).status_code == 202


def test_compatibility_writes_need_a_write_key_too(producer_client: TestClient) -> None:
    assert code(producer_client.post("/api/submitlogs", json=README_EXAMPLE)) == "missing_api_key"
    assert code(producer_client.post("/logs/", json=[README_EXAMPLE], headers=bearer(READ))) == "insufficient_scope"


def test_forwarded_reads_need_a_read_key(producer_client: TestClient) -> None:
    assert code(producer_client.get("/v1/actions")) == "missing_api_key"
    assert code(producer_client.get("/v1/actions", headers=bearer(WRITE))) == "insufficient_scope"
    assert code(producer_client.get("/api/v1/retrieve", headers=bearer(WRITE))) == "insufficient_scope"
    # past the keys, to the (closed) query port
    passed = producer_client.get("/v1/actions", headers={"x-api-key": READ})
    assert passed.status_code == 503 and code(passed) == "upstream_unavailable"


def test_health_and_docs_need_no_key(producer_client: TestClient) -> None:
    assert producer_client.get("/healthz").status_code == 200
    assert producer_client.get("/openapi.json").status_code == 200


def test_rate_limit_per_key_with_retry_after_and_ratelimit_headers() -> None:
    # a producer of its own: the bucket is per key and per process
    settings = ProducerSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", write_keys=(WRITE,),
                                read_keys=(READ, BOTH), rate_limit_per_s=0.1, rate_limit_burst=2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as limited:
        answers = [limited.get("/nowhere", headers=bearer(READ)) for _ in range(3)]
        assert [a.status_code for a in answers] == [404, 404, 429]
        assert answers[0].headers["ratelimit-policy"] == '"per-key";q=2;w=20'
        assert answers[0].headers["ratelimit"].startswith('"per-key";r=1;t=')
        refused = answers[2]
        assert code(refused) == "rate_limited" and 1 <= int(refused.headers["retry-after"]) <= 10
        assert refused.headers["ratelimit"].startswith('"per-key";r=0;')
        assert limited.get("/nowhere", headers=bearer(BOTH)).status_code == 404  # another key, another bucket
        assert code(limited.get("/nowhere")) == "missing_api_key"  # no key: refused before any bucket


def test_cors_preflight_and_refusals_readable_by_the_browser(producer_client: TestClient) -> None:
    preflight = producer_client.options("/v1/logs", headers={"origin": ORIGIN, "access-control-request-method": "POST",
                                                    "access-control-request-headers": "authorization,content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    refused = producer_client.post("/v1/logs", json=README_EXAMPLE, headers={"origin": ORIGIN})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN
    assert "ratelimit" in refused.headers["access-control-expose-headers"].lower()
    other = producer_client.options("/v1/logs", headers={"origin": "https://evil.example",
                                                "access-control-request-method": "POST"})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


def test_keys_are_never_logged_nor_echoed(producer_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    secret = "a-key-nobody-configured-0123"
    with caplog.at_level(logging.DEBUG):
        answers = [ingest(producer_client, **bearer(secret)), ingest(producer_client, **bearer(WRITE)),
                   producer_client.get("/v1/actions", headers={"x-api-key": READ}),
                   ingest(producer_client, **bearer(READ))]
    for key in (secret, WRITE, READ):
        assert all(key not in r.text and key not in str(r.headers) for r in answers)
        assert key not in caplog.text
    assert "**********" in repr(ProducerSettings(write_keys=(WRITE,)))


# ---------------------------------------------------------------- the query API, when exposed


def test_the_query_api_checks_read_keys_itself(query_client: TestClient) -> None:
    assert code(query_client.get("/v1/actions")) == "missing_api_key"
    assert code(query_client.get("/logs/", headers=bearer(WRITE))) == "insufficient_scope"
    assert query_client.get("/v1/actions", headers=bearer(READ)).status_code == 200
    assert query_client.get("/readyz").status_code == 200


def test_internal_routes_need_the_internal_key(query_client: TestClient) -> None:
    assert code(query_client.get("/internal/users/registered", params={"userId": "u"}, headers=bearer(READ))) == \
        "invalid_internal_key"
    answer = query_client.get("/internal/users/registered", params={"userId": "u"},
                              headers={INTERNAL_KEY_HEADER: INTERNAL})
    assert answer.status_code == 200 and answer.json() == {"registered": False}
