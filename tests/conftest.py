"""Fixtures: the REAL embedded broker and the REAL ClickHouse engine. Never skipped: if the broker
cannot start, the tests fail and say why."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from embedded.broker import BrokerError, start_broker
from embedded.process import stop
from logstream.kafka import ensure_topics
from logstream.settings import KafkaSettings
from tests.support import Service, free_port


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """A Tansu broker on a free port, with logstream's topics created; yields bootstrap servers."""
    bootstrap = f"127.0.0.1:{free_port()}"
    try:
        process: subprocess.Popen[bytes] = start_broker(bootstrap)
    except BrokerError as exc:
        pytest.fail(f"the embedded broker could not start: {exc}")
    ensure_topics(KafkaSettings(kafka_bootstrap_servers=bootstrap))
    yield bootstrap
    stop(process, 5.0)


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB directory this test process may open (chDB allows one engine path per process);
    tests keep apart by database name."""
    return tmp_path_factory.mktemp("chdb")


def stack_env(bootstrap: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LOGSTREAM_CLICKHOUSE_DSN": f"chdb://{data_dir}/clickhouse",
        "LOGSTREAM_LOG_LEVEL": "INFO",
        "LOGSTREAM_STREAM_PORT": str(free_port()),  # `up`'s stream worker
        **extra,
    }


@dataclass(frozen=True)
class Stack:
    base_url: str
    bootstrap: str
    service: Service
    query_url: str  # the query process behind the front door (its /internal routes)
    internal_key: str  # what the producer shows those routes


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`logstream up`, the whole embedded stack as a user starts it."""
    workdir = tmp_path_factory.mktemp("stack")
    port, query_port, bootstrap = free_port(), free_port(), f"127.0.0.1:{free_port()}"
    internal_key = "test-internal-key-0123456789"
    env = stack_env(bootstrap, workdir / "data", LOGSTREAM_PORT=str(port), LOGSTREAM_QUERY_PORT=str(query_port),
                    LOGSTREAM_INTERNAL_KEY=internal_key)
    service = Service(["up"], env, workdir, "up").start()
    base = f"http://127.0.0.1:{port}"
    try:
        service.wait_ready(f"{base}/readyz", timeout=90)
    except AssertionError:
        service.stop(30)
        raise
    yield Stack(base, bootstrap, service, f"http://127.0.0.1:{query_port}", internal_key)
    assert service.stop(120) == 0, service.log_tail()
