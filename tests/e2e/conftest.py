"""Whole stacks as processes (`logstream up` and single services), over HTTP. Every test in this
folder is marked `e2e`: `pytest -m "not e2e"` leaves them out, `pytest -m e2e` runs them alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import KEYED_STACK_KEY, Service, Stack, free_port, stack_env

E2E = Path(__file__).parent
INTERNAL_KEY = "test-internal-key-0123456789"


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def start_stack(workdir: Path, internal_key: str | None = INTERNAL_KEY, cluster: str | None = None,
                **env: str) -> Stack:
    """`logstream up` on free ports, ready (no `internal_key`: the one `up` makes); stop it with stop_stack.
    With `cluster` (bootstrap servers), the same command told by settings to use it instead of a broker."""
    port, query_port, bootstrap = free_port(), free_port(), cluster or f"127.0.0.1:{free_port()}"
    if cluster:
        env["LOGSTREAM_EMBEDDED_BROKER"] = "false"
    if internal_key:
        env["LOGSTREAM_INTERNAL_KEY"] = internal_key
    service = Service(["up"], stack_env(bootstrap, workdir / "data", LOGSTREAM_PORT=str(port),
                                        LOGSTREAM_QUERY_PORT=str(query_port), **env), workdir, "up").start()
    base = f"http://127.0.0.1:{port}"
    try:
        service.wait_ready(f"{base}/readyz", timeout=90)
    except AssertionError:
        service.stop(30)
        raise
    return Stack(base, bootstrap, service, f"http://127.0.0.1:{query_port}", internal_key or "")


def stop_stack(stack: Stack) -> None:
    assert stack.service.stop(120) == 0, stack.service.log_tail()


@pytest.fixture(scope="session")
def stack(broker_kind: str, request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`logstream up`, the whole embedded stack as a user starts it; shared by the session's tests. On
    Apache Kafka, the same command on the three-node cluster (tests marked also_on_apache_kafka)."""
    cluster = request.getfixturevalue("kafka_cluster").bootstrap if broker_kind == "apache" else None
    running = start_stack(tmp_path_factory.mktemp("stack"), cluster=cluster)
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def keyed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of the module's own with API keys on (KEYED_STACK_KEY reads and writes), no rate limit,
    and the internal key `up` makes: what a module's made-up logs do meets no other module's."""
    running = start_stack(tmp_path_factory.mktemp("keyed"), None, LOGSTREAM_WRITE_KEYS=KEYED_STACK_KEY,
                          LOGSTREAM_READ_KEYS=KEYED_STACK_KEY,
                          LOGSTREAM_RATE_LIMIT_PER_S="0", LOGSTREAM_VISIBLE_TIMEOUT_S="10")
    yield running
    stop_stack(running)
