"""logstream.client's retry policy, on httpx's MockTransport: what is retried, after how long, with
which key (the real stack's side is tests/e2e/test_python_client.py)."""

from __future__ import annotations

import time

import httpx
import pytest

from logstream.client import Client, UnavailableError, batches, retry_after_s
from tests.fixtures import README_EXAMPLE

ACCEPTED = {"eventIds": ["4c0c6d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"], "logs": 1, "actions": 3}


def scripted(*answers: httpx.Response | Exception):
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return seen, httpx.MockTransport(handler)


def test_429_is_retried_after_its_retry_after_with_the_same_key() -> None:
    seen, transport = scripted(httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(202, json=ACCEPTED))
    started = time.monotonic()
    with Client("http://logs.test", transport=transport, write_key="w" * 20) as client:
        sent = client.send([README_EXAMPLE])
    assert time.monotonic() - started >= 1.0
    assert sent.logs == 1 and len(seen) == 2
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]
    assert seen[0].headers["Authorization"] == "Bearer " + "w" * 20


def test_every_try_failing_raises_unavailable_naming_the_key() -> None:
    seen, transport = scripted(*[httpx.ConnectError("refused")] * 3)
    with Client("http://logs.test", transport=transport, max_attempts=3, max_retry_delay_s=0.01) as client, \
            pytest.raises(UnavailableError, match="after 3 tries") as failed:
        client.send([README_EXAMPLE])
    assert len(seen) == 3 and seen[0].headers["Idempotency-Key"] in str(failed.value)


def test_batches_split_by_size_each_with_a_new_key() -> None:
    made = list(batches([README_EXAMPLE] * 5, 2))
    assert [b.logs for b in made] == [2, 2, 1]
    assert len({b.key for b in made}) == 3


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    assert retry_after_s("later") is None
