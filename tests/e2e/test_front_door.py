"""The front door forwards the documented API and nothing else: the query process's /internal/ routes
(the producer's alone) and /clickhouse/ (its engine, for stream workers alone) are not on the base URL."""

from __future__ import annotations

import httpx
import pytest

from tests.support import Stack


@pytest.mark.parametrize("path", ["/clickhouse/?query=SELECT%201", "/clickhouse/ping", "/clickhouse",
                                  "/internal/users/registered?userId=u", "/internal"])
def test_the_engine_and_the_internal_routes_are_not_forwarded(stack: Stack, path: str) -> None:
    # even with the engine's password (the internal key) and the internal key header
    auth = httpx.BasicAuth("logstream", stack.internal_key)
    answer = httpx.get(f"{stack.base_url}{path}", auth=auth, headers={"X-Logstream-Internal-Key": stack.internal_key},
                       timeout=10)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_the_query_process_serves_the_engine_to_the_stream_worker(stack: Stack) -> None:
    """What the front door refuses is there behind it: the refusal above is the front door's."""
    answer = httpx.get(f"{stack.query_url}/clickhouse/?query=SELECT%201", auth=("logstream", stack.internal_key),
                       timeout=10)
    assert (answer.status_code, answer.text.strip()) == (200, "1")
