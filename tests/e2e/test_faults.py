"""Fault injection: each fault is followed by a comparison of the accepted set with ClickHouse's.
Bounded in time, loopback only."""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from pathlib import Path

import httpx
import orjson

from bench.loadgen import run_load
from tests.e2e.workers import Worker, assert_exactly, expected_ids, records
from tests.fixtures import example
from tests.support import Service, all_actions, free_port, produce_raw, stack_env, wait_until


def test_sigkill_at_random_points_during_a_100k_log_stream(broker: str, tmp_path: Path) -> None:
    rng = random.Random(20261124)
    worker = Worker(broker, tmp_path, {"LOGSTREAM_STREAM_BATCH_SIZE": "2000"}).start()
    event_ids, batch = records(100_000)
    producing = threading.Thread(target=lambda: [produce_raw(broker, worker.topic, batch[i:i + 10_000])
                                                 or time.sleep(1.0) for i in range(0, len(batch), 10_000)])
    producing.start()  # the stream arrives over ~10 s while the worker is killed again and again
    kills = 0
    try:
        while kills < 5:
            time.sleep(rng.uniform(0.5, 3.0))
            worker.service.signal(signal.SIGKILL)  # type: ignore[union-attr]
            worker.service.process.wait(timeout=30)  # type: ignore[union-attr]
            kills += 1
            worker.start()
        producing.join(timeout=120)
        assert_exactly(worker.base, expected_ids(event_ids))
    finally:
        producing.join(timeout=120)
        worker.service.stop()  # type: ignore[union-attr]


def test_clickhouse_unavailable_for_20_s_mid_stream(broker: str, tmp_path: Path) -> None:
    worker = Worker(broker, tmp_path, {"LOGSTREAM_QUERY_FAULT_INJECTION": "true",
                                       "LOGSTREAM_STREAM_BATCH_SIZE": "1000"}).start()
    event_ids, batch = records(30_000)
    try:
        produce_raw(broker, worker.topic, batch[:10_000])
        wait_until(lambda: worker.status().get("rows_written", 0) >= 30_000, timeout=60, what="the first part")

        def outage(seconds: int, then_produce: list[tuple[bytes, bytes]]) -> dict:
            assert httpx.post(f"{worker.base}/internal/faults/clickhouse-outage",
                              params={"seconds": seconds}).status_code == 200
            produce_raw(broker, worker.topic, then_produce)
            # the worker retries with backoff and says so in its readiness
            return wait_until(lambda: s if (s := worker.status()).get("detail", "consuming") != "consuming" else None,
                              timeout=15, what="the sink to report the outage")

        failing = outage(20, batch[10_000:20_000])
        assert failing["ok"] is False and failing["rows_written"] == 30_000
        assert_exactly(worker.base, expected_ids(event_ids[:20_000]), timeout=120)  # caught up after the outage
        assert worker.status()["ok"] is True

        outage(30, batch[20_000:])
        # killed during the outage: had it committed what it could not insert, that would be lost now
        worker.service.signal(signal.SIGKILL)  # type: ignore[union-attr]
        worker.service.process.wait(timeout=30)  # type: ignore[union-attr]
        worker.start()  # a detached table is attached again when the engine starts
        assert_exactly(worker.base, expected_ids(event_ids))
    finally:
        worker.service.stop()  # type: ignore[union-attr]


def test_a_log_the_broker_holds_twice_in_other_batches_and_across_a_restart_is_stored_once(
        broker: str, tmp_path: Path) -> None:
    """What a producer's retry across a partition leader's failover leaves in the raw topic: records
    appended again, without any header, thousands of offsets after their originals."""
    worker = Worker(broker, tmp_path, {"LOGSTREAM_STREAM_BATCH_SIZE": "500"}).start()
    event_ids, batch = records(6_000)
    try:
        produce_raw(broker, worker.topic, batch[:3_000] + batch[:20])  # 20 copies ~500 offsets on per partition
        wait_until(lambda: worker.status().get("duplicates_skipped", 0) >= 20 * 3, timeout=60,
                   what=lambda: f"the copies skipped: {worker.status()}")
        worker.service.stop()  # type: ignore[union-attr]
        worker.start()  # a fresh sink: it finds the originals in ClickHouse
        produce_raw(broker, worker.topic, batch[20:40] + batch[3_000:])
        wait_until(lambda: worker.status().get("duplicates_skipped", 0) >= 20 * 3, timeout=60,
                   what=lambda: f"the copies skipped after the restart: {worker.status()}")
        assert_exactly(worker.base, expected_ids(event_ids))
    finally:
        worker.service.stop()  # type: ignore[union-attr]


def test_producer_killed_with_requests_in_flight(broker: str, tmp_path: Path) -> None:
    """Every request answered 202 is in ClickHouse; the others were never answered 202."""
    worker = Worker(broker, tmp_path).start()
    port = free_port()
    env = stack_env(broker, tmp_path / "unused", LOGSTREAM_PORT=str(port), LOGSTREAM_RAW_TOPIC=worker.topic,
                    LOGSTREAM_QUERY_URL=worker.base)
    producer = Service(["producer"], env, tmp_path, "producer").start().wait_ready(f"http://127.0.0.1:{port}/healthz")
    accepted: dict[int, list[str]] = {}
    bodies: dict[int, bytes] = {}

    def body(i: int) -> bytes:
        bodies[i] = orjson.dumps([example(userId=f"kill-{i}-{j}") for j in range(10)])
        return bodies[i]

    def on_response(i: int, status: int, _at: float) -> None:
        if status == 202:
            accepted[i] = []

    def kill_soon() -> None:
        time.sleep(1.5)
        producer.kill()

    killer = threading.Thread(target=kill_soon)
    killer.start()
    result = asyncio.run(run_load(f"http://127.0.0.1:{port}/v1/logs", body, connections=16, duration_s=10,
                                  max_requests=100_000, on_response=on_response))
    killer.join()
    assert result.accepted() > 50 and result.sent > result.accepted() - 1
    try:
        accepted_users = {f"kill-{i}-{j}" for i in accepted for j in range(10)}

        def missing() -> set[str]:
            return accepted_users - {a["userId"] for a in all_actions(worker.base, {})}

        try:  # the stream may lag behind the broker's acks: wait for it, then say what is missing
            wait_until(lambda: not missing(), timeout=120, what="every accepted log in ClickHouse")
        except AssertionError:
            pass
        assert not missing(), f"{len(missing())} accepted logs lost"
        actions = all_actions(worker.base, {})
        assert len({a["actionId"] for a in actions}) == len(actions)
    finally:
        worker.service.stop()  # type: ignore[union-attr]


def test_overload_keeps_memory_bounded_and_loses_no_accepted_log(tmp_path: Path) -> None:
    """100-log requests as fast as 16 connections go (several times what the stream sustains): the
    producer and the stream stay within bounded memory, and every accepted log reaches ClickHouse."""
    from bench.procstats import children, cmdline, rss_mb
    from bench.stack import role_of

    port = free_port()
    env = stack_env(f"127.0.0.1:{free_port()}", tmp_path / "data", LOGSTREAM_PORT=str(port),
                    LOGSTREAM_QUERY_PORT=str(free_port()), LOGSTREAM_LOG_LEVEL="WARNING")
    base = f"http://127.0.0.1:{port}"
    up = Service(["up"], env, tmp_path, "up").start().wait_ready(f"{base}/readyz", timeout=90)
    try:
        pids = {role: p for p in children(up.process.pid)  # type: ignore[union-attr]
                if (role := role_of(cmdline(p))) in ("producer", "stream", "query")}
        peaks = dict.fromkeys(pids, 0.0)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                for name, pid in pids.items():
                    peaks[name] = max(peaks[name], rss_mb(pid))
                stop.wait(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        body = orjson.dumps([example(userId=f"flood-{i}") for i in range(100)])
        result = asyncio.run(run_load(f"{base}/v1/logs", lambda _: body, connections=16, duration_s=8,
                                      max_requests=1_000_000))
        accepted_rows = result.accepted() * 100 * 3
        assert set(result.by_status) <= {202, 503}, result.by_status
        backlog = accepted_rows - httpx.get(f"{base}/readyz").json()["checks"]["stream"]["rows_written"]
        wait_until(lambda: httpx.get(f"{base}/readyz").json()["checks"]["stream"]["rows_written"] >= accepted_rows,
                   timeout=300, what="the stream to catch up", interval=1)
        stop.set()
        sampler.join()
        print(f"overload: {result.accepted()} requests accepted, backlog {backlog} rows, peak RSS MB {peaks}")
        assert backlog > 0, "no overload: the stream kept up"
        assert httpx.get(f"{base}/readyz").json()["checks"]["stream"]["rows_written"] == accepted_rows
        assert peaks["producer"] < 300, peaks
        assert peaks["stream"] < 1000 and peaks["query"] < 1000, peaks
    finally:
        up.stop(180)
