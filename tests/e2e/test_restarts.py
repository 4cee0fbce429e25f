"""The stream worker stopped mid-stream (SIGTERM, then separately SIGKILL) and restarted:
every action ends up in ClickHouse exactly once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.e2e.workers import Worker, expected_ids, records
from tests.support import all_actions, produce_raw, wait_until

pytestmark = pytest.mark.also_on_apache_kafka

LOGS = 20_000


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_restart_mid_stream_loses_and_duplicates_nothing(broker: str, tmp_path: Path, signum: int) -> None:
    # After SIGKILL nothing was committed: all that was inserted comes back.
    worker = Worker(broker, tmp_path, {"LOGSTREAM_STREAM_BATCH_SIZE": "500",
                                       "LOGSTREAM_STREAM_COMMIT_INTERVAL_S": "3600" if signum == signal.SIGKILL
                                       else "0.5"}).start()
    event_ids, batch = records(LOGS)
    produce_raw(broker, worker.topic, batch)
    written = wait_until(lambda: (n := worker.status().get("rows_written", 0)) >= 9000 and n,
                         timeout=60, what="the first 9000 rows", interval=0.02)
    worker.service.signal(signum)  # type: ignore[union-attr]
    worker.service.process.wait(timeout=60)  # type: ignore[union-attr]
    assert written < LOGS * 3, "the worker finished before it could be stopped mid-stream"

    worker.start()
    try:
        expected = expected_ids(event_ids)
        actions = wait_until(lambda: a if len(a := all_actions(worker.base, {})) >= len(expected) else None,
                             timeout=120, what=f"{len(expected)} actions", interval=1)
        ids = [a["actionId"] for a in actions]
        assert len(ids) == len(expected), "duplicates or losses"
        assert set(ids) == expected
        if signum == signal.SIGKILL:
            # the re-delivered tail really was re-delivered, and the sink dropped what was stored
            assert worker.status()["duplicates_skipped"] > 0
    finally:
        worker.service.stop()  # type: ignore[union-attr]
