"""`LOGSTREAM_BROKER=apache logstream up`: one Apache Kafka node whose log outlives the stack."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.fixtures import example
from tests.support import Service, all_actions, consume_all, free_port, stack_env, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def test_the_broker_log_survives_a_sigkill_of_the_whole_stack(tmp_path: Path) -> None:
    port, bootstrap = free_port(), f"127.0.0.1:{free_port()}"
    env = stack_env(bootstrap, tmp_path / "data", LOGSTREAM_PORT=str(port), LOGSTREAM_QUERY_PORT=str(free_port()),
                    LOGSTREAM_BROKER="apache", LOGSTREAM_KAFKA_DATA_DIR=str(tmp_path / "data" / "kafka"))
    base, user = f"http://127.0.0.1:{port}", f"durable-{uuid.uuid4()}"

    started = time.monotonic()
    up = Service(["up"], env, tmp_path, "up").start().wait_ready(f"{base}/readyz", timeout=180)
    print(f"LOGSTREAM_BROKER=apache logstream up: ready in {time.monotonic() - started:.1f} s")
    try:
        response = httpx.post(f"{base}/v1/logs", content=orjson.dumps(example(userId=user)),
                              headers={"content-type": "application/json"}, timeout=30)
        assert response.status_code == 202, response.text
        wait_until(lambda: len(all_actions(base, {"userId": user})) == 3, timeout=30, what="3 actions")
    finally:
        up.kill()  # and with it every child: nothing drains, nothing is saved elsewhere
    assert (tmp_path / "data" / "kafka" / "node-1" / "data" / "meta.properties").exists()

    up = Service(["up"], env, tmp_path, "up").start().wait_ready(f"{base}/readyz", timeout=180)
    try:
        kept = [m for m in consume_all(bootstrap, "logstream.logs.raw.v1", expect=1, timeout=30)
                if user.encode() in m.value()]
        assert len(kept) == 1, "the accepted record is still in the broker's log"
        assert len(all_actions(base, {"userId": user})) == 3, "and stored once"
    finally:
        assert up.stop(120) == 0, up.log_tail()
