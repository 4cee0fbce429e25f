from __future__ import annotations

import os
import subprocess
import sys

import pytest

from logstream.kafka import MIN_INSYNC, fit_to_cluster, load_topic_specs
from logstream.settings import KafkaSettings


def test_topic_defaults_match_the_spec() -> None:
    settings = KafkaSettings()
    specs = {spec.role: spec for spec in load_topic_specs(settings.topics_spec)}
    assert specs["raw"].name == settings.raw_topic == "logstream.logs.raw.v1"
    assert specs["dlq"].name == settings.dlq_topic == "logstream.logs.dlq.v1"
    assert specs["actions"].name == settings.actions_topic == "logstream.actions.v1"
    assert specs["watermarks"].name == settings.watermarks_topic == "logstream.watermarks.v1"
    assert specs["watermarks"].internal and specs["watermarks"].config["cleanup.policy"] == "compact"
    assert specs["raw"].partitions >= 2


@pytest.mark.parametrize(("command", "variable", "value"), [
    ("producer", "LOGSTREAM_PORT", "eighty"),
    ("producer", "LOGSTREAM_MAX_BODY_BYTES", "-1"),
    ("query", "LOGSTREAM_QUERY_PORT", "70000"),
    ("stream", "LOGSTREAM_STREAM_BATCH_SIZE", "0"),
    ("migrate", "LOGSTREAM_CLICKHOUSE_DSN", "mysql://db"),
    ("up", "LOGSTREAM_KAFKA_COMPRESSION", "brotli"),
    ("query", "LOGSTREAM_QUERY_SERVE_CLICKHOUSE", "true"),  # without an internal key to ask for
])
def test_a_bad_variable_refuses_to_boot_with_one_line_naming_it(command: str, variable: str, value: str) -> None:
    result = subprocess.run([sys.executable, "-m", "cli.main", command], env={**os.environ, variable: value},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"logstream: invalid setting {variable}:")


@pytest.mark.parametrize(("brokers", "replicas", "min_insync"), [(1, 1, "1"), (2, 2, "2"), (3, 3, "2"), (5, 3, "2")])
def test_topics_get_the_spec_replication_or_as_many_replicas_as_brokers(brokers: int, replicas: int,
                                                                         min_insync: str) -> None:
    for spec in load_topic_specs(KafkaSettings().topics_spec):
        if spec.role not in ("raw", "dlq"):  # the derived actions topic: 3 replicas, one must ack
            continue
        assert (spec.replication_factor, spec.config[MIN_INSYNC]) == (3, "2")  # what a durable cluster gets
        fitted = fit_to_cluster(spec, brokers)
        assert (fitted.replication_factor, fitted.config[MIN_INSYNC]) == (replicas, min_insync)
        assert fitted.config["retention.ms"] == spec.config["retention.ms"]
