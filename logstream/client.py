"""logstream's Python client: `Client(...).send(logs)` and `AsyncClient(...).send(logs)`.

What the browser client (clients/js) does, for servers, scripts and mobile back ends: logs (the
contract's `LogIn`, or dicts of its shape) go in batches of `batch_size` logs, one `POST /v1/logs`
each with its own `Idempotency-Key`, made before the first try and kept for every retry, so a retry
never stores a batch twice. Network errors, 408/409/425/429 and 5xx are retried with exponential
backoff (or after the answer's `Retry-After`), up to `max_attempts` tries; any other 4xx is raised at
once as `RefusedError` with the server's problem (never retried). Batches go in order; a batch that
fails stops the send, and the error says how many logs were stored before it.

A leaf of the core: only the contract's models and httpx (import-linter keeps the services off it).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from logstream.contract import LogIn

RETRIED_4XX = frozenset({408, 409, 425, 429})
LogLike = LogIn | Mapping[str, Any]


@dataclass(frozen=True)
class Batch:
    key: str
    body: bytes
    logs: int


@dataclass
class Sent:
    """What a send stored: logs and actions as the server counted them, their eventIds, and how many
    batches the server had already stored (a retry of a batch whose first answer was lost)."""

    logs: int = 0
    actions: int = 0
    event_ids: list[uuid.UUID] = field(default_factory=list)
    batches: int = 0
    replayed: int = 0

    def add(self, response: httpx.Response) -> None:
        body = response.json()
        self.logs += body["logs"]
        self.actions += body["actions"]
        self.event_ids += [uuid.UUID(event_id) for event_id in body["eventIds"]]
        self.batches += 1
        self.replayed += response.headers.get("Idempotent-Replayed") == "true"


class DeliveryError(Exception):
    """A batch was not stored; `sent` holds what the batches before it stored."""

    def __init__(self, message: str, sent: Sent):
        super().__init__(message)
        self.sent = sent


class RefusedError(DeliveryError):
    """The server refused a batch (a 4xx other than 408/409/425/429): sending it again would not help."""

    def __init__(self, status: int, problem: Any, sent: Sent):
        code = problem.get("code") if isinstance(problem, dict) else None
        super().__init__(f"logstream refused a batch: {status} {code or ''}".strip(), sent)
        self.status, self.problem = status, problem


class UnavailableError(DeliveryError):
    """A batch was still not stored after every try (network errors, 5xx, 429)."""


def batches(logs: Iterable[LogLike], size: int) -> Iterator[Batch]:
    """The logs in batches of at most `size`, each with its own Idempotency-Key."""
    chunk: list[Any] = []
    for log in logs:
        chunk.append(log.model_dump(mode="json") if isinstance(log, LogIn) else log)
        if len(chunk) == size:
            yield Batch(str(uuid.uuid4()), orjson.dumps(chunk), len(chunk))
            chunk = []
    if chunk:
        yield Batch(str(uuid.uuid4()), orjson.dumps(chunk), len(chunk))


def retry_after_s(value: str | None) -> float | None:
    """Retry-After as delay-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _Policy:
    """What both clients share: the request, and what to do with its answer."""

    def __init__(self, endpoint: str, write_key: str | None, batch_size: int, max_attempts: int,
                 max_retry_delay_s: float):
        if not 1 <= batch_size <= 10_000:
            raise ValueError("batch_size must be 1 to 10,000 logs (the server's LOGSTREAM_MAX_LOGS_PER_REQUEST)")
        self.url = endpoint.rstrip("/") + "/v1/logs"
        self.headers = {"Content-Type": "application/json"}
        if write_key:
            self.headers["Authorization"] = f"Bearer {write_key}"
        self.batch_size, self.max_attempts, self.max_retry_delay_s = batch_size, max(1, max_attempts), max_retry_delay_s

    def request_headers(self, batch: Batch) -> dict[str, str]:
        return {**self.headers, "Idempotency-Key": batch.key}

    def delay_s(self, attempt: int, response: httpx.Response | None) -> float:
        """How long to wait before the next try; Retry-After when the server gave one."""
        given = retry_after_s(response.headers.get("Retry-After")) if response is not None else None
        if given is not None:
            return given
        full = min(self.max_retry_delay_s, 0.5 * 2**attempt)
        return full / 2 + random.random() * full / 2  # noqa: S311 (jitter, not a secret)

    def verdict(self, response: httpx.Response, sent: Sent) -> bool:
        """True if stored; False to retry; RefusedError if it never will be."""
        if response.is_success:
            sent.add(response)
            return True
        if 400 <= response.status_code < 500 and response.status_code not in RETRIED_4XX:
            try:
                problem = response.json()
            except ValueError:
                problem = response.text
            raise RefusedError(response.status_code, problem, sent)
        return False

    def give_up(self, batch: Batch, last: str, sent: Sent) -> UnavailableError:
        return UnavailableError(f"a batch of {batch.logs} logs was not stored after {self.max_attempts} tries "
                                f"(last: {last}); its Idempotency-Key {batch.key} makes a later retry safe", sent)


class Client:
    """Sends logs over HTTP, synchronously. A context manager (closes its connections)."""

    def __init__(self, endpoint: str, *, write_key: str | None = None, batch_size: int = 500, max_attempts: int = 8,
                 max_retry_delay_s: float = 30.0, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        self._policy = _Policy(endpoint, write_key, batch_size, max_attempts, max_retry_delay_s)
        self._http = httpx.Client(timeout=timeout_s, transport=transport)

    def send(self, logs: Iterable[LogLike]) -> Sent:
        sent = Sent()
        for batch in batches(logs, self._policy.batch_size):
            self._send_batch(batch, sent)
        return sent

    def _send_batch(self, batch: Batch, sent: Sent) -> None:
        policy = self._policy
        for attempt in range(policy.max_attempts):
            response = None
            try:
                response = self._http.post(policy.url, content=batch.body, headers=policy.request_headers(batch))
                if policy.verdict(response, sent):
                    return
                last = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last = exc.__class__.__name__
            if attempt + 1 < policy.max_attempts:
                time.sleep(policy.delay_s(attempt, response))
        raise policy.give_up(batch, last, sent)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient:
    """Sends logs over HTTP from asyncio. An async context manager (closes its connections)."""

    def __init__(self, endpoint: str, *, write_key: str | None = None, batch_size: int = 500, max_attempts: int = 8,
                 max_retry_delay_s: float = 30.0, timeout_s: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._policy = _Policy(endpoint, write_key, batch_size, max_attempts, max_retry_delay_s)
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def send(self, logs: Iterable[LogLike]) -> Sent:
        sent = Sent()
        for batch in batches(logs, self._policy.batch_size):
            await self._send_batch(batch, sent)
        return sent

    async def _send_batch(self, batch: Batch, sent: Sent) -> None:
        policy = self._policy
        for attempt in range(policy.max_attempts):
            response = None
            try:
                response = await self._http.post(policy.url, content=batch.body,
                                                 headers=policy.request_headers(batch))
                if policy.verdict(response, sent):
                    return
                last = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last = exc.__class__.__name__
            if attempt + 1 < policy.max_attempts:
                await asyncio.sleep(policy.delay_s(attempt, response))
        raise policy.give_up(batch, last, sent)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
