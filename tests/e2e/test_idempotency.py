"""Idempotency-Key on POST /v1/logs, through the real stack."""

from __future__ import annotations

import hashlib
import time
import uuid

import httpx
import orjson
import pytest

from logstream.security import INTERNAL_KEY_HEADER
from tests.fixtures import example
from tests.support import Stack, all_actions, produce_raw, wait_until

pytestmark = pytest.mark.also_on_apache_kafka


def post(stack: Stack, body: object, key: str | None) -> httpx.Response:
    headers = {"content-type": "application/json", **({"Idempotency-Key": key} if key else {})}
    return httpx.post(f"{stack.base_url}/v1/logs", content=orjson.dumps(body), headers=headers, timeout=30)


def settled_actions(stack: Stack, user: str, expected: int) -> list[dict]:
    wait_until(lambda: len(all_actions(stack.base_url, {"userId": user})) >= expected, timeout=15,
               what=f"{expected} actions")
    time.sleep(1)  # time for a wrongly published duplicate to show up too
    return all_actions(stack.base_url, {"userId": user})


def test_a_retry_with_the_same_key_publishes_nothing_and_gets_the_first_answer(stack: Stack) -> None:
    user, key = f"idem-{uuid.uuid4()}", str(uuid.uuid4())
    logs = [example(userId=user, sessionId="a"), example(userId=user, sessionId="b")]
    first = post(stack, logs, key)
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    # the same logs, other whitespace and key order: the same request
    retry = httpx.post(f"{stack.base_url}/v1/logs", content=orjson.dumps(logs, option=orjson.OPT_SORT_KEYS
                                                                         | orjson.OPT_INDENT_2),
                       headers={"content-type": "application/json", "Idempotency-Key": key}, timeout=30)
    assert retry.status_code == 202 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    actions = settled_actions(stack, user, 6)
    assert len(actions) == 6
    assert {a["eventId"] for a in actions} == set(first.json()["eventIds"])


def test_without_a_key_each_request_is_new(stack: Stack) -> None:
    user = f"nokey-{uuid.uuid4()}"
    assert post(stack, example(userId=user), None).status_code == 202
    assert post(stack, example(userId=user), None).status_code == 202
    assert len(settled_actions(stack, user, 6)) == 6


def test_a_key_reused_for_other_logs_is_422(stack: Stack) -> None:
    key = str(uuid.uuid4())
    assert post(stack, example(userId="u1"), key).status_code == 202
    response = post(stack, example(userId="u2"), key)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


def test_a_bad_key_is_400(stack: Stack) -> None:
    for key in ["has space", "x" * 256, "tab\there"]:
        response = post(stack, example(), key)
        assert response.status_code == 400 and response.json()["code"] == "invalid_idempotency_key", key


def test_a_retry_after_a_first_attempt_that_died_mid_way_stores_each_action_once(stack: Stack) -> None:
    """The first attempt reserved the key and published, then died before answering: the retry
    publishes the same eventIds again, and the stream stores only what is missing."""
    user, key = f"died-{uuid.uuid4()}", str(uuid.uuid4())
    document = example(userId=user)
    event_id = str(uuid.uuid4())
    digest = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()
    reserved = httpx.post(f"{stack.query_url}/internal/idempotency", headers={INTERNAL_KEY_HEADER: stack.internal_key},
                          json={"key": key, "requestSha256": digest, "eventIds": [event_id], "state": "pending"})
    assert reserved.status_code == 200
    # what the first attempt did publish
    produce_raw(stack.bootstrap, "logstream.logs.raw.v1",
                [(user.encode(), orjson.dumps({**document, "eventId": event_id,
                                               "receivedAt": "2024-01-01T00:00:00.000Z"}))])
    assert len(settled_actions(stack, user, 3)) == 3

    in_progress = post(stack, document, key)  # still within the publish timeout: someone may be on it
    assert in_progress.status_code == 409 and int(in_progress.headers["retry-after"]) >= 1

    retry = wait_until(lambda: r if (r := post(stack, document, key)).status_code == 202 else None,
                       timeout=30, what="the pending key to go stale", interval=1)
    assert retry.json()["eventIds"] == [event_id]
    actions = settled_actions(stack, user, 3)
    assert len(actions) == 3 and {a["eventId"] for a in actions} == {event_id}
    assert post(stack, document, key).headers["idempotent-replayed"] == "true"
