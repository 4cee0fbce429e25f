"""Fixtures of every tier: the REAL embedded broker and the REAL ClickHouse engine. Never skipped: if the
broker cannot start, the tests fail and say why.

Tiers (markers and folders): tests/unit and tests/property (pure functions, no I/O); tests/integration
(one service in-process on the real broker and engine; its fixtures in tests/integration/conftest.py);
tests/e2e (whole stacks as processes, marked `e2e` by tests/e2e/conftest.py). `pytest -m "not e2e"`
runs all but the last.

Broker-using tests run against the embedded Tansu broker; a module or test marked
`@pytest.mark.also_on_apache_kafka` runs a second time against a three-node Apache Kafka cluster
(KRaft, RF 3, min.insync.replicas 2). Those runs, and every test that needs Apache Kafka itself, carry
the `kafka` marker: `make test` deselects them (Python only), `make test-kafka` runs them (Java 17).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from embedded import apache_kafka
from embedded.broker import BrokerError, start_broker
from embedded.process import stop
from logstream.clickhouse import connect
from logstream.kafka import ensure_topics
from logstream.settings import ClickHouseSettings, KafkaSettings
from tests.support import free_port

# Generating inputs slowly is the machine's load, not a failure: CI shares two cores with other work.
settings.register_profile("logstream", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("logstream")


BROKERS = ["tansu", pytest.param("apache", marks=pytest.mark.kafka)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test on a broker gets the `broker_kind` parameter: tansu, and apache where it opts in."""
    if "broker_kind" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("also_on_apache_kafka") is not None
        metafunc.parametrize("broker_kind", BROKERS if both else ["tansu"], indirect=True, scope="session")


@pytest.fixture(scope="session")
def broker_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def tansu_broker() -> Iterator[str]:
    """A Tansu broker on a free port; yields bootstrap servers."""
    bootstrap = f"127.0.0.1:{free_port()}"
    try:
        process: subprocess.Popen[bytes] = start_broker(bootstrap)
    except BrokerError as exc:
        pytest.fail(f"the embedded broker could not start: {exc}")
    yield bootstrap
    stop(process, 5.0)


def start_cluster(workdir: Path, nodes: int = 3) -> apache_kafka.Cluster:
    """Apache Kafka nodes (combined controller+broker) on free loopback ports, every one registered."""
    if (problem := apache_kafka.missing()) is not None:
        pytest.fail(f"the Apache Kafka tier needs Java 17 and the jars: {problem}")
    cluster = apache_kafka.Cluster.on_ports(workdir, [(free_port(), free_port()) for _ in range(nodes)])
    cluster.format()
    cluster.start()
    try:
        cluster.wait_ready(timeout=180)
    except apache_kafka.ApacheKafkaError as exc:
        cluster.stop(timeout=10)
        pytest.fail(f"the Apache Kafka cluster did not start: {exc}")
    return cluster


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[apache_kafka.Cluster]:
    """Three Apache Kafka nodes shared by the tests that run on both brokers (never killed: the fault
    tests start clusters of their own)."""
    cluster = start_cluster(tmp_path_factory.mktemp("kafka"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def broker(broker_kind: str, request: pytest.FixtureRequest) -> str:
    """Bootstrap servers of the broker this run is on, with logstream's topics created."""
    if broker_kind == "apache":
        bootstrap = request.getfixturevalue("kafka_cluster").bootstrap
    else:
        bootstrap = request.getfixturevalue("tansu_broker")
    ensure_topics(KafkaSettings(kafka_bootstrap_servers=bootstrap))
    return bootstrap


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB directory this test process may open (chDB allows one engine path per process);
    tests keep apart by database name, and each module's are dropped after it."""
    path = tmp_path_factory.mktemp("chdb")
    OPENED_CHDB_DIRS.append(path)
    return path


OPENED_CHDB_DIRS: list[Path] = []
ENGINE_DATABASES = ("system", "default", "INFORMATION_SCHEMA", "information_schema")


@pytest.fixture(scope="module", autouse=True)
def drop_the_modules_databases() -> Iterator[None]:
    """After each module, the databases its tests made in this process's chDB engine: the engine
    slows down with every database it holds (a migration took 1 s on a fresh engine, 16 s late in
    the suite). No session-wide fixture makes one, so all are the module's."""
    yield
    for path in OPENED_CHDB_DIRS:
        client = connect(ClickHouseSettings(clickhouse_dsn=f"chdb://{path}", clickhouse_database="default"))
        made = client.query("SELECT name FROM system.databases WHERE name NOT IN {kept:Array(String)}",
                            parameters={"kept": list(ENGINE_DATABASES)}).result_rows
        for (name,) in made:
            client.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")
