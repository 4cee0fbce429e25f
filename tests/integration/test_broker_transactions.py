"""Why logstream.actions.v1 is at least once, not exactly once: the embedded broker takes every
transactional call (InitProducerId, AddOffsetsToTxn, TxnOffsetCommit, EndTxn) without an error but
does not isolate transactions: a read_committed consumer receives an aborted transaction's records.
Consume-transform-produce with the offsets in the transaction (Faust's exactly_once) would then
publish an aborted attempt's records too. If this test fails, the broker has learned transactions:
revisit stream/actions_topic.py."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def test_the_embedded_broker_shows_aborted_transactions_to_read_committed(broker: str) -> None:
    topic = f"txn-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(10)
    producer = Producer({"bootstrap.servers": broker, "transactional.id": f"probe-{topic}"})
    producer.init_transactions(10)
    producer.begin_transaction()
    producer.produce(topic, b"aborted")
    producer.flush(10)
    producer.abort_transaction(10)
    producer.begin_transaction()
    producer.produce(topic, b"committed")
    producer.commit_transaction(10)

    consumer = Consumer({"bootstrap.servers": broker, "group.id": topic, "isolation.level": "read_committed",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen: list[bytes] = []
    deadline = time.monotonic() + 15
    while len(seen) < 2 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            seen.append(message.value())
    consumer.close()
    assert seen == [b"aborted", b"committed"]
