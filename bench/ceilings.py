"""The engines' own limits, measured in the same run as the pipeline: raw produce rate, an empty
Faust agent, our stream worker on the same records, the HTTP floor, the columnar insert rate."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.loadgen import run_load
from bench.procstats import cpu_seconds
from embedded.ports import free_port
from embedded.process import child_popen, stop
from embedded.supervisor import wait_ready


def log_record(i: int, sample: dict) -> bytes:
    return orjson.dumps({**sample, "userId": f"user-{i % 100_000}", "eventId": str(uuid.uuid4()),
                         "receivedAt": "2024-01-01T00:00:00.000Z"})


def raw_produce(bootstrap: str, topic: str, records: list[bytes]) -> float:
    """Records/s of a bare confluent-kafka producer (lz4, acks=all), as the producer is configured."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "compression.type": "lz4", "queue.buffering.max.messages": 2_000_000})
    started = time.perf_counter()
    for i, value in enumerate(records):
        producer.produce(topic, value, b"user-%d" % (i % 100_000))
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
    return len(records) / (time.perf_counter() - started)


@dataclass(frozen=True)
class Consumed:
    """A consumer's rate over the same records, and the CPU its process spent per record meanwhile
    (first batch to last): the CPU figure holds up better than the rate on a busy machine."""

    per_s: float
    cpu_us_per_record: float


def empty_agent(bootstrap: str, topic: str, count: int) -> Consumed:
    out = subprocess.run([sys.executable, "-m", "bench.empty_agent", bootstrap, topic,
                          f"empty-{uuid.uuid4().hex[:6]}", str(count)], capture_output=True, text=True,
                         timeout=900, check=True).stdout
    seen = orjson.loads(out.strip().splitlines()[-1])
    return Consumed(seen["records"] / max(seen["last"] - seen["first"], 1e-6),
                    (seen["last_cpu"] - seen["first_cpu"]) / seen["records"] * 1e6)


def stream_worker(bootstrap: str, topic: str, count: int, workdir: Path, progress: Callable[[str], None],
                  dsn: str | None = None, database: str | None = None, timeout_s: float = 900) -> Consumed:
    """Records/s of the real stream worker (`logstream stream`) over the same records, into a database of
    its own (`database`, or a new name): on the engine at `dsn` (the stack's, as `up` runs the worker),
    else in-process chDB."""
    port, run = free_port(), uuid.uuid4().hex[:6]
    env = {**os.environ, "LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "LOGSTREAM_RAW_TOPIC": topic,
           "LOGSTREAM_DLQ_TOPIC": f"{topic}.dlq", "LOGSTREAM_STREAM_GROUP": f"worker-{run}",
           "LOGSTREAM_STREAM_PORT": str(port), "LOGSTREAM_LOG_LEVEL": "WARNING",
           "LOGSTREAM_CLICKHOUSE_DSN": dsn or f"chdb://{workdir}/ceiling-clickhouse-{run}",
           "LOGSTREAM_CLICKHOUSE_DATABASE": database or f"ceiling_{run}"}
    process = child_popen([sys.executable, "-m", "cli.main", "stream"], env=env,
                          stdout=(workdir / "ceiling-stream.log").open("ab"), stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process, "the stream worker", threading.Event(), timeout=120)
        deadline = time.monotonic() + timeout_s
        started_cpu = cpu_seconds(process.pid)
        first: tuple[int, float] | None = None  # records and CPU seconds once the first batch is in
        while time.monotonic() < deadline:
            status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()["checks"]["stream"]
            progress(f"stream worker ceiling run: {status['records']:,}/{count:,} records")
            if status["records"] and first is None:
                first = (status["records"], cpu_seconds(process.pid))
            if status["records"] >= count:
                first = first or (0, started_cpu)
                cpu_us = (cpu_seconds(process.pid) - first[1]) / max(status["records"] - first[0], 1) * 1e6
                return Consumed(status["records"] / max(status["last_batch_at"] - status["first_batch_at"], 1e-6),
                                cpu_us)
            time.sleep(0.2)
        raise TimeoutError("the stream worker did not consume the ceiling topic")
    finally:
        stop(process, 60)


def http_floor(body: bytes, *, connections: int, duration_s: float) -> float:
    port = free_port()
    process = child_popen([sys.executable, "-m", "bench.floor", str(port)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/docs", process, "the HTTP floor", threading.Event(), timeout=30)
        result = asyncio.run(run_load(f"http://127.0.0.1:{port}/v1/logs", lambda _: body, connections=connections,
                                      duration_s=duration_s, max_requests=10_000_000))
        return result.accepted() / result.elapsed_s
    finally:
        stop(process, 10)


def clickhouse_insert(records: list[bytes], workdir: Path) -> float:
    """Rows/s of the sink's columnar inserts of the same rows (into `actions`, then the rollups'
    feed: stream/rollup_feed.py), straight into chDB (in this process)."""
    from logstream.clickhouse import ROLLUP_FEED, ROLLUP_FEED_COLUMNS, connect, migrate
    from logstream.settings import ClickHouseSettings
    from stream import batch
    from stream.split import COLUMNS, Source

    settings = ClickHouseSettings(clickhouse_dsn=f"chdb://{workdir}/insert-ceiling")
    migrate(settings)
    client = connect(settings)
    built = batch.build((None, value, Source("raw", 0, i)) for i, value in enumerate(records)).rows
    started = time.perf_counter()
    step = 100_000
    for start in range(0, len(built), step):
        chunk = [column[start:start + step] for column in built.data]
        client.insert("actions", chunk, column_names=COLUMNS, column_oriented=True)
        by_name = dict(zip(COLUMNS, chunk, strict=True)) | {"user_number": [0] * len(chunk[0]),
                                                             "session_number": [0] * len(chunk[0])}
        client.insert(ROLLUP_FEED, [by_name[c] for c in ROLLUP_FEED_COLUMNS], column_names=ROLLUP_FEED_COLUMNS,
                      column_oriented=True)
    return len(built) / (time.perf_counter() - started)
