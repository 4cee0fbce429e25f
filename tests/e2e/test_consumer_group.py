"""Two stream workers in one consumer group, one SIGKILLed mid-stream: the other takes over its
partitions, and every action is in ClickHouse exactly once. Meanwhile every stored watermark either
worker publishes is checked the moment it is read: every record below it is in ClickHouse already
(across the rebalances and the takeover); and in the end each partition's watermark reaches its end.

The two workers share one store as they would share a ClickHouse server: the query service owns
the chDB directory and serves the engine on ClickHouse's HTTP interface (embedded.clickhouse_http),
and both workers reach it through an http:// DSN, the production code path.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from logstream.clickhouse import connect, embedded_http_dsn
from logstream.settings import ClickHouseSettings
from logstream.watermarks import decode
from tests.e2e.workers import assert_exactly, expected_ids, records, stream_status
from tests.support import Service, free_port, produce_raw, stack_env, wait_until

INTERNAL_KEY = "consumer-group-test-key-0123456789"
LOGS = 60_000


STORED_RECORDS_BELOW = """
SELECT uniqExact(kafka_offset) FROM actions
WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:UInt32} AND kafka_offset < {next:UInt64}
"""

END_OFFSETS = """SELECT kafka_partition, max(kafka_offset) + 1 FROM actions WHERE kafka_topic = {topic:String}
GROUP BY kafka_partition"""


def status(port: int) -> dict:
    return stream_status(f"http://127.0.0.1:{port}")


class WatermarkAudit(threading.Thread):
    """Reads the watermarks topic as it is written and checks each watermark at once against the store."""

    def __init__(self, broker: str, topic: str, raw_topic: str, dsn: str):
        super().__init__(daemon=True)
        self.broker, self.topic, self.raw_topic, self.dsn = broker, topic, raw_topic, dsn
        self.highest: dict[int, int] = {}
        self.checked = 0
        self.early: list[tuple[int, int, int]] = []  # (partition, next, records found below it)
        self.lives: Counter[uuid.UUID] = Counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        store = connect(ClickHouseSettings(clickhouse_dsn=self.dsn))
        consumer = Consumer({"bootstrap.servers": self.broker, "group.id": f"audit-{uuid.uuid4()}",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        try:
            while not self.stopping.is_set():
                message = consumer.poll(0.2)
                if message is None or message.error() is not None:
                    continue
                watermark = decode(message.value())
                assert watermark is not None and watermark.topic == self.raw_topic
                self.lives[watermark.topic_id] += 1
                below = {"topic": self.raw_topic, "partition": watermark.partition, "next": watermark.next}
                found = store.query(STORED_RECORDS_BELOW, parameters=below).result_rows[0][0]
                self.checked += 1
                if found < watermark.next:
                    self.early.append((watermark.partition, watermark.next, found))
                self.highest[watermark.partition] = max(self.highest.get(watermark.partition, 0), watermark.next)
        finally:
            consumer.close()
            store.close()


def test_two_workers_in_one_group_one_killed_mid_stream(broker: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    topic, query_port = f"raw-{run}", free_port()
    common = {"LOGSTREAM_RAW_TOPIC": topic, "LOGSTREAM_DLQ_TOPIC": f"dlq-{run}", "LOGSTREAM_STREAM_GROUP": f"g-{run}",
              "LOGSTREAM_WATERMARKS_TOPIC": f"wm-{run}", "LOGSTREAM_INTERNAL_KEY": INTERNAL_KEY}
    store = Service(["query"], stack_env(broker, tmp_path / "data", LOGSTREAM_QUERY_PORT=str(query_port),
                                         LOGSTREAM_QUERY_SERVE_CLICKHOUSE="true", **common), tmp_path, "store")
    store.start().wait_ready(f"http://127.0.0.1:{query_port}/readyz", timeout=90)
    dsn = embedded_http_dsn(f"http://127.0.0.1:{query_port}", INTERNAL_KEY)
    ports = [free_port(), free_port()]
    # The doomed worker never commits: everything it inserted is re-delivered to the survivor.
    workers = [Service(["stream"], stack_env(broker, tmp_path, LOGSTREAM_CLICKHOUSE_DSN=dsn, **common,
                                             LOGSTREAM_STREAM_PORT=str(p), LOGSTREAM_STREAM_BATCH_SIZE="1000",
                                             LOGSTREAM_STREAM_COMMIT_INTERVAL_S="3600" if i == 0 else "0.5"),
                       tmp_path, f"worker-{i}") for i, p in enumerate(ports)]
    try:
        for worker, port in zip(workers, ports, strict=True):
            worker.start().wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=90)
        wait_until(lambda: all(status(p).get("assigned_partitions") for p in ports), timeout=60,
                   what="both workers assigned partitions", interval=0.2)
        audit = WatermarkAudit(broker, f"wm-{run}", topic, dsn)
        audit.start()
        event_ids, batch = records(LOGS)
        producing = threading.Thread(target=lambda: [produce_raw(broker, topic, batch[i:i + 5_000]) or time.sleep(0.3)
                                                     for i in range(0, len(batch), 5_000)])
        producing.start()
        wait_until(lambda: status(ports[0]).get("rows_written", 0) >= 9_000, timeout=60,
                   what="the doomed worker's first rows", interval=0.02)
        workers[0].signal(signal.SIGKILL)
        workers[0].process.wait(timeout=30)  # type: ignore[union-attr]
        producing.join(timeout=120)

        assert_exactly(f"http://127.0.0.1:{query_port}", expected_ids(event_ids))
        survivor = status(ports[1])
        assert len(survivor["assigned_partitions"]) == 6, "the survivor took over every partition"
        assert survivor["duplicates_skipped"] > 0, "the killed worker's uncommitted rows were re-delivered and skipped"
        engine = connect(ClickHouseSettings(clickhouse_dsn=dsn))
        ends = dict(engine.query(END_OFFSETS, parameters={"topic": topic}).result_rows)
        engine.close()
        assert sum(ends.values()) == LOGS
        wait_until(lambda: audit.highest == ends or None, timeout=30, what=f"watermarks at the ends {ends}")
        audit.stopping.set()
        audit.join(10)
        assert audit.checked >= 12 and not audit.early, f"watermarks ahead of the store: {audit.early[:5]}"
        assert len(audit.lives) == 1, "one broker life, one raw topic id"
    finally:
        for worker in workers:
            worker.stop()
        store.stop()
