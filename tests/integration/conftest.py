"""One service in-process (FastAPI's TestClient) on the real broker and the real chDB engine.

Each module gets its own topic and database. A module tunes the shared fixtures with constants:
`PRODUCER_SETTINGS` / `QUERY_SETTINGS` (keyword arguments for the settings class) and `QUERY_RECORDS`
(raw-topic payloads stored, through the real split and sink, before its first test).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from logstream.kafka import ensure_topics
from producer_api.app import create_app as create_producer_app
from producer_api.settings import ProducerSettings
from query_api.app import create_app as create_query_app
from query_api.settings import QuerySettings
from tests.support import store_records


def module_name(request: pytest.FixtureRequest) -> str:
    return request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


def module_setting(request: pytest.FixtureRequest, name: str, default: Any) -> Any:
    return getattr(request.module, name, default)


@pytest.fixture(scope="module")
def topic(request: pytest.FixtureRequest, broker: str) -> str:
    """A raw topic of this module's own, created with the spec's partitions."""
    name = f"raw-{module_name(request).replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    ensure_topics(ProducerSettings(kafka_bootstrap_servers=broker, raw_topic=name))
    return name


@pytest.fixture(scope="module")
def producer_settings(request: pytest.FixtureRequest, broker: str, topic: str) -> ProducerSettings:
    return ProducerSettings(kafka_bootstrap_servers=broker, raw_topic=topic,
                            **module_setting(request, "PRODUCER_SETTINGS", {}))


@pytest.fixture(scope="module")
def producer_client(producer_settings: ProducerSettings) -> Iterator[TestClient]:
    with TestClient(create_producer_app(producer_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def query_settings(request: pytest.FixtureRequest, chdb_dir: Path) -> QuerySettings:
    """A database of this module's own in the session's chDB directory."""
    return QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}",
                         clickhouse_database=f"{module_name(request)}_{uuid.uuid4().hex[:8]}",
                         **module_setting(request, "QUERY_SETTINGS", {}))


@pytest.fixture(scope="module")
def query_client(request: pytest.FixtureRequest, query_settings: QuerySettings) -> Iterator[TestClient]:
    with TestClient(create_query_app(query_settings), raise_server_exceptions=False) as client:
        records = module_setting(request, "QUERY_RECORDS", [])
        if records:
            store_records(query_settings, records)
        yield client
