"""logstream.client against the real stack (`logstream up`): batches stored once each, a lost answer
retried with the same Idempotency-Key and stored once, a refusal raised and never retried."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from cli.main import main
from logstream.client import AsyncClient, Client, RefusedError
from logstream.contract import LogIn
from tests.fixtures import example
from tests.support import Stack, all_actions, wait_until


class LosesFirstAnswers(httpx.HTTPTransport):
    """A real transport that lets the first `n` requests reach the server, then drops their answers (as
    a connection cut after the server stored the batch does); it counts every request."""

    def __init__(self, n: int):
        super().__init__()
        self.lose, self.requests = n, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        response = super().handle_request(request)
        if self.lose:
            self.lose -= 1
            response.close()
            raise httpx.ReadError("connection lost before the answer", request=request)
        return response


def stored(stack: Stack, user: str, expected: int) -> list[dict]:
    wait_until(lambda: len(all_actions(stack.base_url, {"userId": user})) >= expected, timeout=20,
               what=f"{expected} actions of {user}")
    return all_actions(stack.base_url, {"userId": user})


def test_send_batches_logs_and_each_is_stored_once(stack: Stack) -> None:
    user = f"py-client-{uuid.uuid4()}"
    logs = [LogIn.model_validate(example(userId=user, sessionId=f"s{i}")) for i in range(7)]
    with Client(stack.base_url, batch_size=3) as client:
        sent = client.send(logs)
    assert (sent.logs, sent.actions, sent.batches, sent.replayed) == (7, 21, 3, 0)
    actions = stored(stack, user, 21)
    assert len(actions) == 21
    assert {a["eventId"] for a in actions} == {str(e) for e in sent.event_ids}


def test_a_lost_answer_is_retried_with_the_same_key_and_stored_once(stack: Stack) -> None:
    user = f"py-retry-{uuid.uuid4()}"
    transport = LosesFirstAnswers(1)
    with Client(stack.base_url, transport=transport, max_retry_delay_s=0.2) as client:
        sent = client.send([example(userId=user)])
    assert transport.requests == 2 and sent.replayed == 1
    assert len(stored(stack, user, 3)) == 3
    assert len(all_actions(stack.base_url, {"userId": user})) == 3


def test_the_async_client_sends_the_same_way(stack: Stack) -> None:
    user = f"py-async-{uuid.uuid4()}"

    async def send():
        async with AsyncClient(stack.base_url, batch_size=2) as client:
            return await client.send([example(userId=user, sessionId=f"s{i}") for i in range(3)])

    sent = asyncio.run(send())
    assert (sent.logs, sent.actions, sent.batches) == (3, 9, 2)
    assert len(stored(stack, user, 9)) == 9


def test_a_refused_batch_is_raised_with_its_problem_and_never_retried(stack: Stack) -> None:
    user = f"py-refused-{uuid.uuid4()}"
    transport = LosesFirstAnswers(0)
    bad = example(userId=user, actions=[{"time": "2018-10-18T21:37:28", "type": "CLICK",
                                         "properties": {"locationX": 1, "locationY": 2}}])
    with Client(stack.base_url, transport=transport, batch_size=1) as client, pytest.raises(RefusedError) as refused:
        client.send([example(userId=user), bad])
    assert refused.value.status == 400 and refused.value.problem["code"] == "invalid_logs"
    assert refused.value.problem["errors"][0]["code"] == "missing_offset"
    assert refused.value.sent.logs == 1, "the batch before it was stored"
    assert transport.requests == 2


def test_seed_data_via_http_stores_every_action_through_the_client(stack: Stack) -> None:
    # 2001: a range no other test's data is in
    window = {"from": "2001-05-01T00:00:00Z", "to": "2001-06-01T00:00:00Z"}
    with pytest.raises(SystemExit) as seeded:
        main(["seed-data", "--via-http", stack.base_url, "--actions", "300", "--users", "20", "--days", "30",
              "--end", "2001-06-01", "--seed", "7"])
    assert seeded.value.code == 0

    def total() -> int:
        return httpx.get(f"{stack.base_url}/v1/stats/summary", params=window, timeout=10).json()["total"]

    wait_until(lambda: total() >= 300, timeout=30, what="300 seeded actions")
    time.sleep(1)
    assert total() == 300
