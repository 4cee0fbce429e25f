"""The stored watermark, on the real broker and the real engine: the stream's batch processor publishes
it once a batch is stored, whether its records were inserted, dead-lettered or found stored already;
the producer's watch wakes a waiting request when it passes the request's offsets, in the broker life
the records were acked in, and never for another life."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from logstream.clickhouse import connect, migrate
from logstream.kafka import ensure_topics, topic_id
from logstream.watermarks import Watermark
from producer_api.settings import ProducerSettings
from producer_api.watermarks import StoredWatch
from stream.agents import BatchProcessor
from stream.dlq import DeadLetters
from stream.settings import StreamSettings
from stream.sink import ClickHouseSink
from stream.watermarks import StoredWatermarks
from tests.fixtures import example


@dataclass
class Message:  # what BatchProcessor reads of a Faust event's message
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes = b"k"
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp: float = 1_700_000_000.0


@dataclass
class Event:
    message: Message


@pytest.fixture(scope="module")
def settings(broker: str, chdb_dir: Path) -> StreamSettings:
    run = uuid.uuid4().hex[:8]
    configured = StreamSettings(kafka_bootstrap_servers=broker, raw_topic=f"raw-wm-{run}", dlq_topic=f"dlq-wm-{run}",
                                watermarks_topic=f"wm-{run}", clickhouse_dsn=f"chdb://{chdb_dir}",
                                clickhouse_database=f"wm_{run}")
    ensure_topics(configured)
    migrate(configured)
    return configured


def processor(settings: StreamSettings) -> BatchProcessor:
    watermarks = StoredWatermarks(settings, lambda: topic_id(settings, settings.raw_topic))
    return BatchProcessor(ClickHouseSink(connect(settings), max_backoff_s=1), DeadLetters(settings), 1,
                          watermarks=watermarks)


def log_at(settings: StreamSettings, partition: int, offset: int, value: bytes | None = None) -> Event:
    value = value or orjson.dumps({**example(userId=f"wm-{offset}"), "eventId": str(uuid.uuid4())})
    return Event(Message(settings.raw_topic, partition, offset, value))


def watch_of(settings: StreamSettings) -> StoredWatch:
    return StoredWatch(ProducerSettings(kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
                                        raw_topic=settings.raw_topic, watermarks_topic=settings.watermarks_topic))


async def following(watch: StoredWatch) -> None:
    """Started, and its consumer assigned (records published before that are not its business)."""
    await watch.start()
    for _ in range(200):
        if watch.following:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the watch never followed the watermarks topic")


def test_dead_letters_and_duplicates_advance_the_watermark(settings: StreamSettings) -> None:
    async def scenario() -> dict[str, Any]:
        watch = watch_of(settings)
        await following(watch)
        life = await watch.confirm_life(0.0)
        assert life is not None and life == watch.life
        work = processor(settings)
        try:
            # offsets 0..2 of partition 1: a log, a record that is not JSON, a log
            batch = [log_at(settings, 1, 0), log_at(settings, 1, 1, b"not json"), log_at(settings, 1, 2)]
            waiting = asyncio.ensure_future(watch.wait(life, [(1, 0), (1, 1), (1, 2)], 10))
            await asyncio.sleep(0.2)
            assert not waiting.done(), "answered before anything was stored"
            await work.process(batch)
            first = await waiting
            dead = work.dead_letters.sent
            # the same records again (a re-delivery): every row found stored, the watermark still moves
            work.recheck_stored()
            again = [log_at(settings, 1, 3, b"also not json")]
            waiting = asyncio.ensure_future(watch.wait(life, [(1, 3)], 10))
            await work.process(batch + again)
            second = await waiting
            # past the watermark, and in another life: not stored
            beyond = await watch.wait(life, [(1, 4)], 0.3)
            other_life = await watch.wait(uuid.uuid4(), [(1, 0)], 0.3)
            return {"first": first, "second": second, "dead": dead, "duplicates": work.sink.duplicates_skipped,
                    "beyond": beyond, "other_life": other_life}
        finally:
            work.watermarks.close()
            work.dead_letters.close()
            watch.close()

    outcome = asyncio.run(scenario())
    assert outcome["first"] and outcome["dead"] == 1
    assert outcome["second"] and outcome["duplicates"] == 6  # two logs of three actions, found stored
    assert outcome["beyond"] is False and outcome["other_life"] is False


def test_the_highest_watermark_wins_whatever_the_order(settings: StreamSettings) -> None:
    """Two workers around a rebalance, or a restarted one repeating itself, publish overlapping
    watermarks in any order: each is true, so the highest holds, and a lower one moves nothing back."""
    async def scenario() -> list[bool]:
        watch = watch_of(settings)
        life = uuid.uuid4()
        try:
            watch.advance([Watermark(settings.raw_topic, life, 0, 10)])
            watch.advance([Watermark(settings.raw_topic, life, 0, 4)])  # the old owner, late
            below = await watch.wait(life, [(0, 9)], 0.1)
            at = await watch.wait(life, [(0, 10)], 0.1)
            other_partition = await watch.wait(life, [(2, 0)], 0.1)
            waiting = asyncio.ensure_future(watch.wait(life, [(0, 10), (0, 11), (3, 0)], 5))
            watch.advance([Watermark(settings.raw_topic, life, 0, 12)])
            await asyncio.sleep(0.05)
            partly = waiting.done()
            watch.advance([Watermark(settings.raw_topic, life, 3, 1)])
            return [below, at, other_partition, partly, await waiting]
        finally:
            watch.close()

    assert asyncio.run(scenario()) == [True, False, False, False, True]
