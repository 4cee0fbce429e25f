"""`logstream replay` against a live stream worker, through the real broker and engine: after worker
kills, retries and dead letters, replays of the archive and of the topic verify equal to what the
stream stored (on the embedded broker and on three Apache Kafka nodes); the archive keeps the log
across a restart of the memory-only broker; a swap under live load keeps every action once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from confluent_kafka import Producer

from embedded.broker import start_broker
from embedded.process import stop
from logstream.clickhouse import embedded_http_dsn
from logstream.kafka import REPUBLISHED_HEADER, broker_reachable
from logstream.settings import KafkaSettings
from tests.e2e.workers import Worker, assert_exactly, expected_ids, records
from tests.support import free_port, produce_raw, wait_until

KEY = "replay-test-internal-key-0123456789"


class Broker:
    """A broker of the test's own, restarted on the same port (a new life: empty, offsets from 0)."""

    def __init__(self) -> None:
        self.bootstrap = f"127.0.0.1:{free_port()}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.process = start_broker(self.bootstrap)
        wait_until(lambda: broker_reachable(KafkaSettings(kafka_bootstrap_servers=self.bootstrap)), timeout=30,
                   what="the broker")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, 5.0)


@pytest.fixture
def own_broker() -> Iterator[Broker]:
    broker = Broker()
    yield broker
    broker.stop()


# The worker serves its engine to `logstream replay` (the chDB directory is the worker's alone).
REPLAYABLE = {"LOGSTREAM_QUERY_SERVE_CLICKHOUSE": "true", "LOGSTREAM_INTERNAL_KEY": KEY}


def logstream_replay(worker: Worker, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`logstream replay` as an operator runs it beside a live embedded stack: through the engine the
    query process serves (the chDB directory is that process's alone)."""
    env = {**os.environ, "LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS": worker.broker, "LOGSTREAM_RAW_TOPIC": worker.topic,
           "LOGSTREAM_CLICKHOUSE_DSN": embedded_http_dsn(worker.base, KEY), "LOGSTREAM_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "cli.main", "replay", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def summary_total(base: str) -> int:
    """The actions the summaries count (fed after the rows), over the examples' days."""
    response = httpx.get(f"{base}/v1/stats/summary", params={"from": "2018-10-18T00:00:00Z",
                                                            "to": "2018-10-21T00:00:00Z"}, timeout=10)
    return response.json()["total"] if response.status_code == 200 else -1


@pytest.mark.also_on_apache_kafka
def test_replays_of_the_archive_and_of_the_topic_verify_equal_after_duplicates_retries_dead_letters_and_kills(
        broker: str, tmp_path: Path) -> None:
    worker = Worker(broker, tmp_path, {**REPLAYABLE, "LOGSTREAM_STREAM_BATCH_SIZE": "500",
                                       "LOGSTREAM_STREAM_COMMIT_INTERVAL_S": "3600"})  # a kill re-delivers everything
    worker.start()
    first_ids, first = records(3000, "before")
    junk = [(b"j", b"{not json"), (b"j", orjson.dumps({"userId": "x"}))]
    try:
        produce_raw(broker, worker.topic, first[:1500] + junk)
        # killed between batches and between feeds: a kill inside an insert or a feed can leave the rollups
        # short (docs/RELIABILITY.md), and the summaries are fed beside the next batch
        wait_until(lambda: worker.status().get("records", 0) >= 1502, timeout=60, what="a first part")
        wait_until(lambda: summary_total(worker.base) == 1500 * 3, timeout=60, what="the first part's summaries")
        worker.service.signal(signal.SIGKILL)  # type: ignore[union-attr]
        worker.service.process.wait(timeout=30)  # type: ignore[union-attr]
        worker.start()  # nothing was committed: every record comes again, the archive and sink skip them
        produce_raw(broker, worker.topic, first[1500:])
        assert_exactly(worker.base, expected_ids(first_ids))
        # idempotent retries: the producer publishes a request's records again, flagged
        producer = Producer({"bootstrap.servers": broker, "enable.idempotence": True})
        for key, value in first[100:200]:
            producer.produce(worker.topic, value, key, headers=[(REPUBLISHED_HEADER, b"1")])
        assert producer.flush(30) == 0
        total = len(first) + len(junk) + 100
        wait_until(lambda: worker.status().get("records", 0) >= total, timeout=60,
                   what=f"the worker to have processed all {total} records again, the retries with them")

        replayed = logstream_replay(worker, "--verify")
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert f"replayed {total:,} records of 1 broker life(s)" in replayed.stderr, replayed.stderr
        assert "verify: 0 difference(s)" in replayed.stderr, replayed.stderr
        # the topic itself, read by a consumer of replay's own, rebuilds the same projections
        from_topic = logstream_replay(worker, "--source", "topic", "--into", "from_topic", "--verify")
        assert from_topic.returncode == 0, from_topic.stdout + from_topic.stderr
        assert f"replayed {total:,} records of 1 broker life(s)" in from_topic.stderr, from_topic.stderr
        assert "verify: 0 difference(s)" in from_topic.stderr, from_topic.stderr
    finally:
        worker.service.stop()  # type: ignore[union-attr]


def test_the_archive_keeps_every_life_of_the_memory_only_broker(own_broker: Broker, tmp_path: Path) -> None:
    """The embedded broker's own fault: a restart empties its topics (offsets from 0 again, a new topic id).
    The archive replays both lives; the topic holds the second one only."""
    worker = Worker(own_broker.bootstrap, tmp_path, REPLAYABLE)
    own_broker.start()
    worker.start()
    first_ids, first = records(1000, "before")
    second_ids, second = records(500, "after")
    try:
        produce_raw(own_broker.bootstrap, worker.topic, first)
        assert_exactly(worker.base, expected_ids(first_ids))
        worker.service.stop()  # type: ignore[union-attr]
        own_broker.stop()
        own_broker.start()
        worker.start()
        produce_raw(own_broker.bootstrap, worker.topic, second)
        assert_exactly(worker.base, expected_ids(first_ids + second_ids))

        replayed = logstream_replay(worker, "--verify")
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert "replayed 1,500 records of 2 broker life(s)" in replayed.stderr, replayed.stderr
        assert "verify: 0 difference(s)" in replayed.stderr, replayed.stderr
        from_topic = logstream_replay(worker, "--source", "topic", "--into", "from_topic")
        assert from_topic.returncode == 0, from_topic.stdout + from_topic.stderr
        assert "replayed 500 records of 1 broker life(s)" in from_topic.stderr, from_topic.stderr
    finally:
        worker.service.stop()  # type: ignore[union-attr]


def test_swap_under_live_load_keeps_every_action_once(own_broker: Broker, tmp_path: Path) -> None:
    worker = Worker(own_broker.bootstrap, tmp_path, {**REPLAYABLE, "LOGSTREAM_STREAM_BATCH_SIZE": "1000"})
    own_broker.start()
    worker.start()
    event_ids, batch = records(40_000, "swap")
    try:
        produce_raw(own_broker.bootstrap, worker.topic, batch[:20_000])
        assert_exactly(worker.base, expected_ids(event_ids[:20_000]))

        def load() -> None:  # the rest arrives while the replay rebuilds, catches up and swaps
            for start in range(20_000, 40_000, 1000):
                produce_raw(own_broker.bootstrap, worker.topic, batch[start:start + 1000])
                time.sleep(0.15)

        producing = threading.Thread(target=load)
        producing.start()
        swapped = logstream_replay(worker, "--swap", "--page", "2000")
        producing.join(timeout=120)
        assert swapped.returncode == 0, swapped.stdout + swapped.stderr
        assert "swapped:" in swapped.stderr, swapped.stderr
        assert_exactly(worker.base, expected_ids(event_ids))
        # the live tables are the rebuilt ones, and the stream writes on into them
        more_ids, more = records(500, "later")
        produce_raw(own_broker.bootstrap, worker.topic, more)
        assert_exactly(worker.base, expected_ids(event_ids + more_ids))
        verified = logstream_replay(worker, "--verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        worker.service.stop()  # type: ignore[union-attr]
