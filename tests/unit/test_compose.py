"""docker-compose.yml cannot run here (no Docker engine): check what can be checked of it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import yaml
from pydantic_settings import BaseSettings

from embedded.apache_kafka import Node, node_properties, pinned_version
from logstream.clickhouse import CHDB_OPTIONS
from logstream.kafka import fit_to_cluster, load_topic_specs
from logstream.settings import ENV_PREFIX, ClickHouseSettings, KafkaSettings
from producer_api.settings import ProducerSettings
from query_api.settings import QuerySettings
from stream.settings import StreamSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
CLUSTER = yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())
SETTINGS: dict[str, type[BaseSettings]] = {"producer": ProducerSettings, "stream": StreamSettings,
                                           "query": QuerySettings, "migrate": ClickHouseSettings}


def env_names(settings_class: type[BaseSettings]) -> set[str]:
    return {ENV_PREFIX + name.upper() for name in settings_class.model_fields}


def env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[service]["environment"].items()}


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_variable_is_a_real_setting_of_that_service(service: str) -> None:
    unknown = {name for name in env(service) if name.startswith(ENV_PREFIX)} - env_names(SETTINGS[service])
    assert not unknown, f"{service} sets variables its settings do not read: {unknown}"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_the_settings_validate_and_the_command_is_the_service(service: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env(service).items():
        monkeypatch.setenv(name, value)
    SETTINGS[service]()
    assert SERVICES[service]["command"] == [service]
    assert SERVICES[service]["build"] == "."


def test_kafka_is_kraft_and_advertises_what_the_services_bootstrap_from() -> None:
    kafka = {k: str(v) for k, v in SERVICES["kafka"]["environment"].items()}
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "broker" in kafka["KAFKA_PROCESS_ROLES"]
    advertised = kafka["KAFKA_ADVERTISED_LISTENERS"].split("//", 1)[1]
    for service in ("producer", "stream"):  # the query service reads ClickHouse alone
        assert env(service)["LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS"] == advertised
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_clickhouse_credentials_and_database_match_the_dsn() -> None:
    server = SERVICES["clickhouse"]["environment"]
    for service in ("stream", "query", "migrate"):
        dsn = urlsplit(env(service)["LOGSTREAM_CLICKHOUSE_DSN"])
        assert (dsn.hostname, dsn.port) == ("clickhouse", 8123)
        assert (dsn.username, dsn.password) == (server["CLICKHOUSE_USER"], server["CLICKHOUSE_PASSWORD"])
        assert env(service)["LOGSTREAM_CLICKHOUSE_DATABASE"] == server["CLICKHOUSE_DB"]


def test_the_front_door_reaches_the_query_and_stream_ports() -> None:
    producer = env("producer")
    assert producer["LOGSTREAM_QUERY_URL"] == f"http://query:{env('query')['LOGSTREAM_QUERY_PORT']}"
    assert producer["LOGSTREAM_STREAM_URL"] == f"http://stream:{env('stream')['LOGSTREAM_STREAM_PORT']}"
    assert SERVICES["producer"]["ports"] == [f"{producer['LOGSTREAM_PORT']}:{producer['LOGSTREAM_PORT']}"]


def test_healthchecks_and_named_volumes() -> None:
    for name in ("kafka", "clickhouse", "stream", "query", "producer"):
        assert "healthcheck" in SERVICES[name], name
    assert set(COMPOSE["volumes"]) == {"kafka-data", "clickhouse-data"}
    assert "kafka-data:/var/lib/kafka/data" in SERVICES["kafka"]["volumes"]
    assert "clickhouse-data:/var/lib/clickhouse" in SERVICES["clickhouse"]["volumes"]


def test_the_server_caches_decompressed_blocks_as_the_embedded_engine_does() -> None:
    mounted = [v.split(":")[0] for v in SERVICES["clickhouse"]["volumes"] if v.startswith("./")]
    assert mounted, "the server's config.d files are mounted from the repo"
    for path in mounted:
        config = ElementTree.parse(ROOT / path).getroot()
        assert config.findtext("uncompressed_cache_size") == CHDB_OPTIONS["uncompressed_cache_size"], path


def test_the_image_finds_the_specs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "LOGSTREAM_TOPICS_SPEC=/app/infra/kafka/topics.yaml" in dockerfile
    assert "LOGSTREAM_MIGRATIONS_DIR=/app/infra/clickhouse" in dockerfile
    assert "COPY infra ./infra" in dockerfile


def test_the_image_holds_every_package_but_the_benchmarks() -> None:
    """pyproject's packages are what the image copies, bench/ excepted (and ignored)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert {p for p in packages if f"COPY {p} ./{p}" in dockerfile} == packages - {"bench"}
    assert "bench" in (ROOT / ".dockerignore").read_text().split()


def test_keys_are_on_and_must_be_given() -> None:
    for service in ("producer", "query"):
        for name in ("LOGSTREAM_WRITE_KEYS", "LOGSTREAM_READ_KEYS", "LOGSTREAM_INTERNAL_KEY"):
            assert env(service)[name] == f"${{{name}:?" + env(service)[name].split(":?", 1)[1], (service, name)
    assert "LOGSTREAM_WRITE_KEYS" not in env("stream")  # the stream serves no API


def test_the_kafka_image_is_the_version_the_tests_run() -> None:
    image, _, tag = SERVICES["kafka"]["image"].partition(":")
    assert (image, tag) == ("apache/kafka", pinned_version())


def test_kafka_is_configured_as_the_tests_configure_their_nodes() -> None:
    """Each KAFKA_* variable of the image is a server property; those the tests' nodes also set agree
    (listeners and paths aside), and the topics' replication fits the compose file's one broker."""
    kafka = {k.removeprefix("KAFKA_").lower().replace("_", "."): str(v)
             for k, v in SERVICES["kafka"]["environment"].items()}
    brokers = sum(1 for name in SERVICES if name.startswith("kafka"))
    ours = node_properties(Node(1, 9092, 9093, Path("/var/lib/kafka/data")), [Node(1, 9092, 9093, Path("/"))])
    for name in ("process.roles", "controller.listener.names", "offsets.topic.replication.factor",
                 "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
                 "auto.create.topics.enable"):
        assert kafka[name] == ours[name], name
    for spec in load_topic_specs(KafkaSettings().topics_spec):
        fitted = fit_to_cluster(spec, brokers)
        assert fitted.replication_factor == min(3, brokers)
        assert int(fitted.config.get("min.insync.replicas", "1")) <= fitted.replication_factor


def overlaid(base: dict, override: dict) -> dict:
    """Compose's merge of an override file: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = overlaid(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def test_the_three_broker_file_replicates_as_the_tests_do() -> None:
    services = overlaid(COMPOSE, CLUSTER)["services"]
    brokers = {name: {k: str(v) for k, v in s["environment"].items()} for name, s in services.items()
               if name.startswith("kafka")}
    assert sorted(brokers) == ["kafka", "kafka-2", "kafka-3"]
    assert {services[name]["image"] for name in brokers} == {f"apache/kafka:{pinned_version()}"}
    nodes = [Node(int(env["KAFKA_NODE_ID"]), 9092, 9093, Path("/"), name) for name, env in brokers.items()]
    advertised = []
    for node, env in zip(nodes, brokers.values(), strict=True):
        ours = node_properties(node, nodes)
        kafka = {k.removeprefix("KAFKA_").lower().replace("_", "."): v for k, v in env.items()}
        for name in ("process.roles", "controller.quorum.voters", "offsets.topic.replication.factor",
                     "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
                     "auto.create.topics.enable", "advertised.listeners"):
            assert kafka[name] == ours[name], (node.host, name)
        advertised.append(kafka["advertised.listeners"].split("//", 1)[1])
    for service in ("producer", "stream", "query"):
        assert services[service]["environment"]["LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS"] == ",".join(advertised)
    for spec in load_topic_specs(KafkaSettings().topics_spec):
        fitted = fit_to_cluster(spec, len(brokers))
        assert fitted.replication_factor == 3
        assert fitted.config.get("min.insync.replicas") == ("2" if spec.role in ("raw", "dlq", "erasures") else None)
    assert set(CLUSTER["volumes"]) == {"kafka-2-data", "kafka-3-data"}
