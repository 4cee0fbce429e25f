"""Apache Kafka's own broker, run from the jars Maven Central serves (no Docker, no other download).

`infra/kafka/apache/pom.xml` pins `org.apache.kafka:kafka_2.13`; `make kafka-jars` copies it and its
dependencies into `infra/kafka/apache/lib/` (gitignored; Maven's own cache keeps later copies quick).
Each node is one JVM in KRaft mode, controller and broker at once, started with
`java -cp 'lib/*' kafka.Kafka server.properties` after `kafka.tools.StorageTool format`.

Two uses: `LOGSTREAM_BROKER=apache logstream up` (one node, its log under ./data/kafka, durable across
restarts) and the Apache Kafka test tier (three nodes on distinct loopback ports, brokers killed and
restarted mid-stream). Heaps are small: three nodes must fit beside the rest on 2 cores.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from embedded.ports import free_port
from embedded.process import child_popen
from logstream.settings import REPO_ROOT

KAFKA_DIR = REPO_ROOT / "infra" / "kafka" / "apache"
LIB_DIR = KAFKA_DIR / "lib"
FETCH_COMMAND = "make kafka-jars"
JAVA_MIN = 17
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


class ApacheKafkaError(RuntimeError):
    """Apache Kafka cannot run here (no Java, no jars) or a node did not come up."""


def pinned_version(pom: Path = KAFKA_DIR / "pom.xml") -> str:
    """The Kafka version the pom pins (docker-compose.yml's image must match it)."""
    root = ET.parse(pom).getroot()  # noqa: S314 (the repository's own file)
    text = root.findtext("m:properties/m:kafka.version", namespaces=POM_NS)
    if not text:
        raise ApacheKafkaError(f"{pom} pins no kafka.version")
    return text.strip()


def java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@functools.cache
def java_major(java: str) -> int:
    output = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    found = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if not found:
        return 0
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def missing(lib: Path = LIB_DIR) -> str | None:
    """What stops Apache Kafka from running here, in one line naming the fix; None when nothing does."""
    java = java_binary()
    if java is None:
        return f"Apache Kafka needs Java {JAVA_MIN} or newer: no java on PATH (nor in JAVA_HOME)"
    if (major := java_major(java)) < JAVA_MIN:
        return f"Apache Kafka needs Java {JAVA_MIN} or newer: {java} is Java {major}"
    if not list(lib.glob("kafka_2.13-*.jar")):
        return f"Apache Kafka's jars are not in {lib}: run `{FETCH_COMMAND}` (needs Maven)"
    return None


def new_cluster_id() -> str:
    """What `kafka-storage.sh random-uuid` prints: 16 random bytes, URL-safe base64, no padding, and
    never a leading "-" (Kafka's Uuid.randomUuid draws again: the tools would read it as an option)."""
    while (text := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return text


@dataclass(frozen=True)
class Node:
    node_id: int
    port: int  # clients (PLAINTEXT)
    controller_port: int  # the KRaft quorum (CONTROLLER)
    data_dir: Path
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def voter(self) -> str:
        return f"{self.node_id}@{self.host}:{self.controller_port}"


# Defaults chosen for one machine: few threads, a small offsets topic, a killed node fenced (and its
# partitions' leadership moved) within ~3 s instead of 9, and no 3 s wait before a new group's first
# rebalance. Any of them can be overridden per cluster.
LOCAL_DEFAULTS = {
    "num.network.threads": "2",
    "num.io.threads": "4",
    "background.threads": "4",
    "num.replica.fetchers": "1",
    "log.cleaner.threads": "1",
    "offsets.topic.num.partitions": "10",
    "group.initial.rebalance.delay.ms": "0",
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    "auto.create.topics.enable": "false",  # logstream creates its topics from infra/kafka/topics.yaml
    "unclean.leader.election.enable": "false",
}


def node_properties(node: Node, voters: list[Node], overrides: dict[str, str] | None = None) -> dict[str, str]:
    replicas = str(min(3, len(voters)))
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": ",".join(v.voter for v in voters),
        "listeners": f"PLAINTEXT://{node.host}:{node.port},CONTROLLER://{node.host}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{node.address}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node.data_dir),
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": str(min(2, len(voters))),
        "default.replication.factor": replicas,
        **LOCAL_DEFAULTS,
        **(overrides or {}),
    }


def write_properties(path: Path, properties: dict[str, str]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))


@dataclass
class Cluster:
    """KRaft nodes, each controller and broker at once, on this machine. Node ids start at 1."""

    workdir: Path
    nodes: list[Node]
    heap_mb: int = 256
    overrides: dict[str, str] = field(default_factory=dict)
    lib: Path = LIB_DIR
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def on_ports(cls, workdir: Path, ports: list[tuple[int, int]], host: str = "127.0.0.1",
                 **kwargs: object) -> Cluster:
        """One node per (client port, controller port), data under workdir/node-N."""
        nodes = [Node(i, port, controller, workdir / f"node-{i}" / "data", host)
                 for i, (port, controller) in enumerate(ports, start=1)]
        return cls(workdir, nodes, **kwargs)  # type: ignore[arg-type]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    def config_path(self, node: Node) -> Path:
        return self.workdir / f"node-{node.node_id}" / "server.properties"

    def log_path(self, node: Node) -> Path:
        return self.workdir / f"node-{node.node_id}" / "kafka.log"

    def java_command(self, main: str, *args: str, heap_mb: int, jvm: tuple[str, ...] = ()) -> list[str]:
        java = java_binary()
        if (problem := missing(self.lib)) is not None or java is None:
            raise ApacheKafkaError(problem or "no java")
        return [java, f"-Xmx{heap_mb}m", f"-Xms{min(64, heap_mb)}m", *jvm, "-XX:+UseSerialGC",
                "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
                "-cp", str(self.lib / "*"), main, *args]

    def format(self) -> None:
        """Write each node's config; format the storage of those never formatted (their data is kept)."""
        cluster_id = self._existing_cluster_id() or new_cluster_id()
        formatting: list[tuple[Node, subprocess.Popen[bytes]]] = []
        for node in self.nodes:
            self.config_path(node).parent.mkdir(parents=True, exist_ok=True)
            write_properties(self.config_path(node), node_properties(node, self.nodes, self.overrides))
            if (node.data_dir / "meta.properties").exists():
                continue
            command = self.java_command("kafka.tools.StorageTool", "format", "-t", cluster_id,
                                        "-c", str(self.config_path(node)), "--ignore-formatted", heap_mb=128,
                                        jvm=("-XX:TieredStopAtLevel=1",))  # a short-lived JVM: C1 only
            formatting.append((node, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
        for node, process in formatting:  # in parallel: each is a JVM start
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                tail = output.decode(errors="replace")[-500:]
                raise ApacheKafkaError(f"formatting node {node.node_id} failed: {tail}")

    def _existing_cluster_id(self) -> str | None:
        for node in self.nodes:
            meta = node.data_dir / "meta.properties"
            if meta.exists() and (found := re.search(r"^cluster\.id=(.+)$", meta.read_text(), re.MULTILINE)):
                return found.group(1).strip()
        return None

    def start(self, node_id: int | None = None) -> None:
        """Start one node (or every node not running); `wait_ready` waits for them."""
        for node in [self.node(node_id)] if node_id else self.nodes:
            if node.node_id in self.processes and self.processes[node.node_id].poll() is None:
                continue
            log = self.log_path(node).open("ab")
            command = self.java_command("kafka.Kafka", str(self.config_path(node)), heap_mb=self.heap_mb)
            self.processes[node.node_id] = child_popen(command, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90.0, brokers: int | None = None) -> None:
        """Until `brokers` (default: every running node) are registered, unfenced, and answer metadata."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        running = [n for n in self.nodes if self.running(n.node_id)]
        wanted = brokers if brokers is not None else len(running)
        deadline = time.monotonic() + timeout
        # quiet: librdkafka logs every refused connection while the JVMs start
        admin = AdminClient({"bootstrap.servers": ",".join(n.address for n in running) or self.bootstrap,
                             "log_level": 0})
        seen = 0
        while time.monotonic() < deadline:
            for node_id, process in self.processes.items():
                if process.poll() is not None and self.node(node_id) in running:
                    raise ApacheKafkaError(f"Apache Kafka node {node_id} exited with {process.returncode}: "
                                           f"{self.log_tail(node_id)}")
            if any(port_open(n.host, n.port) for n in running):
                try:
                    seen = len(admin.list_topics(timeout=2).brokers)
                except KafkaException:  # while the nodes elect a controller
                    seen = 0
                if seen >= wanted:
                    return
            time.sleep(0.2)
        raise ApacheKafkaError(f"{seen} of {wanted} Apache Kafka brokers registered after {timeout:.0f} s")

    def running(self, node_id: int) -> bool:
        process = self.processes.get(node_id)
        return process is not None and process.poll() is None

    def kill(self, node_id: int) -> None:
        """SIGKILL: no controlled shutdown, nothing flushed."""
        process = self.processes[node_id]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self, node_id: int | None = None, timeout: float = 60.0) -> None:
        """SIGTERM (a controlled shutdown: leadership moves first), SIGKILL after `timeout`. Every node
        at once when none is named: one by one, the last ones would wait for a quorum already gone."""
        stopping = [p for nid in ([node_id] if node_id else list(self.processes))
                    if (p := self.processes[nid]).poll() is None]
        for process in stopping:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in stopping:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def pid(self, node_id: int) -> int:
        return self.processes[node_id].pid

    def log_tail(self, node_id: int, chars: int = 1500) -> str:
        path = self.log_path(self.node(node_id))
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def single_node(bootstrap: str, data_dir: Path, heap_mb: int, timeout: float = 120.0) -> Cluster:
    """One node serving `bootstrap` (host:port), its config and log under `data_dir` (formatted on
    first use, kept after). The quorum listens on a free port, chosen anew at each start."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    host = host or "127.0.0.1"
    cluster = Cluster.on_ports(data_dir.resolve(), [(int(port), free_port(host))], host, heap_mb=heap_mb)
    cluster.format()
    cluster.start()
    try:
        cluster.wait_ready(timeout=timeout)
    except ApacheKafkaError:
        cluster.stop(timeout=10)
        raise
    return cluster


def port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0
