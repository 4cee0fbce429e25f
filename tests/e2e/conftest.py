"""Whole stacks as processes (`logstream up` and single services), over HTTP. Every test in this
folder is marked `e2e`: `pytest -m "not e2e"` leaves them out, `pytest -m e2e` runs them alone."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support import KEYED_STACK_KEY, Stack, start_stack, stop_stack

E2E = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (no browser download): a failure, never a skip,
    when it is missing."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: `apt-get install chromium` (.ci/run installs it)"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()
