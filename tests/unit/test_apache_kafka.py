"""The Apache Kafka helper's checks that need neither Java nor the jars."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from embedded import apache_kafka
from embedded.apache_kafka import Node, node_properties


def test_without_the_jars_the_error_names_the_command_that_fetches_them(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apache_kafka, "java_binary", lambda: "/usr/bin/java")
    monkeypatch.setattr(apache_kafka, "java_major", lambda _java: 17)
    problem = apache_kafka.missing(tmp_path)
    assert problem is not None and "make kafka-jars" in problem and str(tmp_path) in problem


def test_an_old_java_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apache_kafka, "java_binary", lambda: "/opt/java8/bin/java")
    monkeypatch.setattr(apache_kafka, "java_major", lambda _java: 8)
    assert apache_kafka.missing() == "Apache Kafka needs Java 17 or newer: /opt/java8/bin/java is Java 8"


@pytest.mark.parametrize("command", ["up", "broker"])
def test_up_without_java_refuses_with_one_error_line(command: str, tmp_path: Path) -> None:
    env = {**os.environ, "LOGSTREAM_BROKER": "apache", "PATH": str(Path(sys.executable).parent)}
    env.pop("JAVA_HOME", None)
    result = subprocess.run([sys.executable, "-m", "cli.main", command], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].endswith("LOGSTREAM_BROKER=apache: Apache Kafka needs Java 17 or newer: "
                              "no java on PATH (nor in JAVA_HOME)")
    assert not (tmp_path / "data").exists()


def test_three_nodes_replicate_internal_topics_three_ways(tmp_path: Path) -> None:
    nodes = [Node(i, 9000 + i, 9100 + i, tmp_path / str(i)) for i in (1, 2, 3)]
    properties = node_properties(nodes[1], nodes)
    assert properties["controller.quorum.voters"] == "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    assert properties["process.roles"] == "broker,controller"
    assert properties["offsets.topic.replication.factor"] == "3"
    assert properties["transaction.state.log.min.isr"] == "2"
    assert properties["auto.create.topics.enable"] == "false"
    assert node_properties(nodes[0], nodes[:1])["offsets.topic.replication.factor"] == "1"


def test_the_pom_pins_apache_kafka_4_1_or_newer() -> None:
    major, minor = (int(part) for part in apache_kafka.pinned_version().split(".")[:2])
    assert (major, minor) >= (4, 1)


def test_a_new_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka-storage reads `-t -xyz` as a missing value and an option: Kafka's own ids never start so."""
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=bytes(16))])
    monkeypatch.setattr(apache_kafka.uuid, "uuid4", lambda: next(drawn))
    assert apache_kafka.new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA", "the id that began with '-' was drawn again"
