"""Fixtures of every tier: the REAL embedded broker and the REAL ClickHouse engine. Never skipped: if the
broker cannot start, the tests fail and say why.

Tiers (markers and folders): tests/unit and tests/property (pure functions, no I/O); tests/integration
(one service in-process on the real broker and engine; its fixtures in tests/integration/conftest.py);
tests/e2e (whole stacks as processes, marked `e2e` by tests/e2e/conftest.py). `pytest -m "not e2e"`
runs all but the last.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from embedded.broker import BrokerError, start_broker
from embedded.process import stop
from logstream.kafka import ensure_topics
from logstream.settings import KafkaSettings
from tests.support import free_port

# Generating inputs slowly is the machine's load, not a failure: CI shares two cores with other work.
settings.register_profile("logstream", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("logstream")


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
