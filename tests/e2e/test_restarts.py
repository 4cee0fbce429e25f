"""The stream worker stopped mid-stream (SIGTERM, then separately SIGKILL) and restarted:
every action ends up in ClickHouse exactly once."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from stream.split import action_id_of
from tests.conftest import stack_env
from tests.fixtures import example
from tests.support import Service, all_actions, free_port, produce_raw, wait_until

LOGS = 20_000


def stream_status(base: str) -> dict:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).json()["checks"]["stream"]
    except (httpx.HTTPError, ValueError, KeyError):
        return {}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_restart_mid_stream_loses_and_duplicates_nothing(broker: str, tmp_path: Path, signum: int) -> None:
    run = uuid.uuid4().hex[:8]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = stack_env(broker, tmp_path / "data", LOGSTREAM_QUERY_PORT=str(port),
                    LOGSTREAM_RAW_TOPIC=f"raw-{run}", LOGSTREAM_DLQ_TOPIC=f"dlq-{run}",
                    LOGSTREAM_STREAM_GROUP=f"group-{run}", LOGSTREAM_STREAM_BATCH_SIZE="500",
                    # After SIGKILL nothing was committed: all that was inserted comes back.
                    LOGSTREAM_STREAM_COMMIT_INTERVAL_S="3600" if signum == signal.SIGKILL else "0.5")
    worker = Service(["query", "--with-stream"], env, tmp_path, "worker").start().wait_ready(f"{base}/readyz")

    event_ids = [uuid.uuid4() for _ in range(LOGS)]
    records = [(b"user", orjson.dumps({**example(userId=f"user-{i % 50}"), "eventId": str(event_id)}))
               for i, event_id in enumerate(event_ids)]
    produce_raw(broker, f"raw-{run}", records)
    written = wait_until(lambda: (n := stream_status(base).get("rows_written", 0)) >= 9000 and n,
                         timeout=60, what="the first 9000 rows", interval=0.02)
    worker.signal(signum)
    worker.process.wait(timeout=60)  # type: ignore[union-attr]
    assert written < LOGS * 3, "the worker finished before it could be stopped mid-stream"

    worker = Service(["query", "--with-stream"], env, tmp_path, "worker").start().wait_ready(f"{base}/readyz")
    try:
        wait_until(lambda: stream_status(base).get("records", 0) >= 1 and
                   stream_status(base)["rows_written"] + stream_status(base)["duplicates_skipped"] > 0,
                   timeout=60, what="the restarted worker to make progress")
        expected = {str(action_id_of(e, i)) for e in event_ids for i in range(3)}
        actions = wait_until(lambda: a if len(a := all_actions(base, {})) >= len(expected) else None,
                             timeout=120, what=f"{len(expected)} actions", interval=1)
        ids = [a["actionId"] for a in actions]
        assert len(ids) == len(expected), "duplicates or losses"
        assert set(ids) == expected
        if signum == signal.SIGKILL:
            # the re-delivered tail really was re-delivered, and the sink dropped what was stored
            assert stream_status(base)["duplicates_skipped"] > 0
    finally:
        worker.stop()
