"""The producer's OpenAPI examples held to real answers of `logstream up`: its compatibility writes answer
only once queryable, which takes the whole stack. (The query API's: tests/integration/test_stats_api.py.)"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures import example
from tests.support import Stack, same_shape

USER = f"examples-{uuid.uuid4().hex[:10]}"
LOG = example(userId=USER)
USERS = {"users": [{"userId": USER}]}


@pytest.fixture(scope="module")
def registered(stack: Stack) -> Stack:
    """000 stores the logs of registered users only."""
    assert httpx.post(f"{stack.base_url}/testusers", json=USERS, timeout=30).status_code == 200
    return stack


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("post", "/v1/logs", LOG, 202),
    ("post", "/v1/beacon", {"logs": LOG}, 202),
    ("post", "/api/v1/log", LOG, 200),
    ("post", "/testusers", USERS, 200),
    ("post", "/api/v1/testusers", USERS, 200),
    ("post", "/api/submitlogs", LOG, 200),
    ("post", "/log", LOG, 200),
    ("post", "/logs/", [LOG], 200),  # 003: an array
    ("post", "/logs/", LOG, 201),  # 004: one object, answered without a body
    ("get", "/healthz", None, 200),
    ("get", "/readyz", None, 200),
])
def test_the_producers_examples_are_real_answers(registered: Stack, method: str, path: str, body: Any,
                                                 status: int) -> None:
    """Each operation's documented answer for `status` (an example, or no body) has the shape of its real answer."""
    documented = httpx.get(f"{registered.base_url}/openapi.json", timeout=30).json()["paths"][path][method]
    content = documented["responses"][str(status)].get("content")
    response = httpx.request(method, f"{registered.base_url}{path}", json=body, timeout=30)
    assert response.status_code == status, response.text
    if content is None:
        assert response.content == b""
    else:
        assert same_shape(response.json(), content["application/json"]["example"]), response.json()
