"""A stream worker process for fault tests: `logstream query --with-stream` (it owns its chDB
directory and answers /v1/actions, so the test can check what reached ClickHouse)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from stream.split import action_id_of
from tests.fixtures import example
from tests.support import Service, all_actions, free_port, stack_env, wait_until


@dataclass
class Worker:
    broker: str
    workdir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    port: int = field(default_factory=free_port)
    service: Service | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def topic(self) -> str:
        return f"raw-{self.run}"

    def env(self) -> dict[str, str]:
        return stack_env(self.broker, self.workdir / "data", LOGSTREAM_QUERY_PORT=str(self.port),
                         LOGSTREAM_RAW_TOPIC=self.topic, LOGSTREAM_DLQ_TOPIC=f"dlq-{self.run}",
                         LOGSTREAM_STREAM_GROUP=f"group-{self.run}", **self.env_extra)

    def start(self) -> Worker:
        self.service = Service(["query", "--with-stream"], self.env(), self.workdir, "worker").start()
        self.service.wait_ready(f"{self.base}/readyz", timeout=90)
        return self

    def status(self) -> dict:
        return stream_status(self.base)


def stream_status(base: str) -> dict:
    """The stream worker's status from a service's /readyz ({} while it cannot answer)."""
    try:
        return httpx.get(f"{base}/readyz", timeout=3).json()["checks"]["stream"]
    except (httpx.HTTPError, ValueError, KeyError):
        return {}


def expected_ids(event_ids: list[uuid.UUID]) -> set[str]:
    """The action ids of `records`' logs (three actions each)."""
    return {str(action_id_of(e, i)) for e in event_ids for i in range(3)}


def assert_exactly(base: str, expected: set[str], timeout: float = 180) -> None:
    """Waits until the query API at `base` has as many actions as expected, then: each of them once."""
    def stored() -> list[dict]:
        try:
            return all_actions(base, {})
        except AssertionError:  # 503 while ClickHouse is unavailable
            return []

    actions = wait_until(lambda: a if len(a := stored()) >= len(expected) else None,
                         timeout=timeout, what=f"{len(expected)} actions", interval=2)
    ids = [a["actionId"] for a in actions]
    assert len(ids) == len(set(ids)), "duplicates in ClickHouse"
    assert set(ids) == expected, f"{len(expected - set(ids))} lost, {len(set(ids) - expected)} unexpected"


def records(count: int, prefix: str = "user") -> tuple[list[uuid.UUID], list[tuple[bytes, bytes]]]:
    """`count` README-example logs as the producer writes them, with their eventIds."""
    event_ids = [uuid.uuid4() for _ in range(count)]
    return event_ids, [(b"%d" % (i % 50), orjson.dumps({**example(userId=f"{prefix}-{i % 50}"),
                                                          "eventId": str(e)}))
                       for i, e in enumerate(event_ids)]
