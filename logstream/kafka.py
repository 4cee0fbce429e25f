"""Kafka plumbing shared by the services: the topic spec, client config, topic creation."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

from logstream.settings import KafkaSettings

log = logging.getLogger(__name__)

# Set by a producer on records it publishes again (an Idempotency-Key retry, a DLQ redrive): their
# actions may be stored already, so the stream inserts only the missing ones.
REPUBLISHED_HEADER = "logstream-republished"
MIN_INSYNC = "min.insync.replicas"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    role: str
    partitions: int
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)
    # Plumbing between logstream's own processes: no published schema, not in the AsyncAPI document.
    internal: bool = False


def load_topic_specs(path: Path) -> list[TopicSpec]:
    document = yaml.safe_load(path.read_text())
    return [TopicSpec(**entry) for entry in document["topics"]]


def producer_config(settings: KafkaSettings) -> dict[str, str | int | bool]:
    """Durable publishing: every in-sync replica acks, and retries cannot duplicate or reorder."""
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all", "enable.idempotence": True,
            "log.connection.close": False}


def admin_client(settings: KafkaSettings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})


def topics_for(settings: KafkaSettings) -> list[TopicSpec]:
    """The spec's topics under the names the settings use (they may be renamed per deployment)."""
    names = {"raw": settings.raw_topic, "dlq": settings.dlq_topic, "actions": settings.actions_topic,
             "erasures": settings.erasures_topic,
             "watermarks": settings.watermarks_topic}
    specs = load_topic_specs(settings.topics_spec)
    return [TopicSpec(names.get(s.role, s.name), s.role, s.partitions, s.replication_factor, s.config, s.internal)
            for s in specs]


def fit_to_cluster(spec: TopicSpec, brokers: int) -> TopicSpec:
    """The spec on a cluster of `brokers`: at most one replica per broker, and min.insync.replicas at
    most the replicas (else nothing could be written). The embedded broker and a one-node Apache Kafka
    get one replica; a cluster of three or more gets what the spec asks."""
    replicas = max(1, min(spec.replication_factor, brokers))
    config = dict(spec.config)
    if MIN_INSYNC in config:
        config[MIN_INSYNC] = str(min(int(config[MIN_INSYNC]), replicas))
    if replicas < spec.replication_factor:
        log.info("topic %s: %d replica(s), not %d: the cluster has %d broker(s)", spec.name, replicas,
                    spec.replication_factor, brokers)
    return TopicSpec(spec.name, spec.role, spec.partitions, replicas, config, spec.internal)


def ensure_topics(settings: KafkaSettings, timeout: float = 15.0) -> None:
    """Create the topics up front with their partition counts; existing ones are left alone."""
    admin = admin_client(settings)
    metadata = admin.list_topics(timeout=timeout)
    existing, brokers = metadata.topics, len(metadata.brokers)
    wanted = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor, config=s.config)
        for s in (fit_to_cluster(spec, brokers) for spec in topics_for(settings))
        if s.name not in existing
    ]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
            log.info("created topic %s", name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def broker_reachable(settings: KafkaSettings, timeout: float = 2.0) -> bool:
    try:
        admin_client(settings).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def topic_id(settings: KafkaSettings, topic: str, timeout: float = 10.0) -> uuid.UUID:
    """The id the broker gave `topic` when it created it. A memory-only broker starts its topics
    again at offset 0 after a restart, under a new id: (id, partition, offset) names one record
    across the broker's lives, where (topic, partition, offset) does not."""
    admin = admin_client(settings)  # held until the answer is in: a collected client cancels it
    found = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)[topic].result(timeout)
    return id_of(found)


def id_of(description: Any) -> uuid.UUID:
    """The topic id of an AdminClient.describe_topics answer, as a UUID."""
    return uuid.UUID(int=(description.topic_id.get_most_significant_bits() % (1 << 64)) << 64
                     | description.topic_id.get_least_significant_bits() % (1 << 64))
