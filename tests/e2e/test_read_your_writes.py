"""Read your writes through `logstream up`: a compatibility write answered, the same service's GET sent
at once sees it, every time; and the answer came from the stream's stored watermark, not from
counting rows in ClickHouse (the fallback), as the producer's metrics show."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures import example
from tests.support import Stack

ITERATIONS = 100


def visible_by(base_url: str) -> dict[str, float]:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return {sample.labels["how"]: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "logstream_ingest_visible_by_total"}


def test_every_get_right_after_a_compat_post_sees_it(stack: Stack) -> None:
    before = visible_by(stack.base_url)
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        for i in range(ITERATIONS):
            user = f"ryw-{i}-{uuid.uuid4().hex[:8]}"
            if i % 2:  # seed 001: POST /api/submitlogs, GET /api/retrievelogs
                assert client.post("/api/submitlogs", json=example(userId=user)).json() == {"status": "logs submitted"}
                found = client.get("/api/retrievelogs", params={"userId": user})
                assert found.status_code == 200 and len(found.json()) == 3, (i, found.text)
            else:  # seed 002: POST /log, GET /log
                assert client.post("/log", json=example(userId=user)).json() == {"success": True}
                found = client.get("/log", params={"userId": user})
                assert found.status_code == 200 and len(found.json()["result"]) == 3, (i, found.text)
    after = visible_by(stack.base_url)
    assert after.get("watermark", 0) - before.get("watermark", 0) == ITERATIONS, (before, after)
    assert after.get("count", 0) == before.get("count", 0)


def test_wait_visible_then_get_sees_every_action(stack: Stack) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        for i in range(10):
            user = f"ryw-v1-{i}-{uuid.uuid4().hex[:8]}"
            answer = client.post("/v1/logs", params={"wait": "visible"}, json=[example(userId=user)] * 3)
            assert answer.status_code == 202 and answer.json()["visible"] is True
            found = client.get("/v1/actions", params={"userId": user, "limit": 100})
            assert len(found.json()["actions"]) == 9, found.text
