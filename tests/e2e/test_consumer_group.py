"""Two stream workers in one consumer group, one SIGKILLed mid-stream: the other takes over its
partitions, and every action is in ClickHouse exactly once.

The two workers share one store as they would share a ClickHouse server: the query service owns
the chDB directory and serves the engine on ClickHouse's HTTP interface (embedded.clickhouse_http),
and both workers reach it through an http:// DSN, the production code path.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

from logstream.clickhouse import embedded_http_dsn
from tests.e2e.workers import assert_exactly, expected_ids, records, stream_status
from tests.support import Service, free_port, produce_raw, stack_env, wait_until

INTERNAL_KEY = "consumer-group-test-key-0123456789"
LOGS = 60_000


def status(port: int) -> dict:
    return stream_status(f"http://127.0.0.1:{port}")


def test_two_workers_in_one_group_one_killed_mid_stream(broker: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    topic, query_port = f"raw-{run}", free_port()
    common = {"LOGSTREAM_RAW_TOPIC": topic, "LOGSTREAM_DLQ_TOPIC": f"dlq-{run}", "LOGSTREAM_STREAM_GROUP": f"g-{run}",
              "LOGSTREAM_INTERNAL_KEY": INTERNAL_KEY}
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
    finally:
        for worker in workers:
            worker.stop()
        store.stop()
