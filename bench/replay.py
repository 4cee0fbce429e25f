"""`logstream bench replay`: the archive's size per log and `logstream replay`'s rate, next to the
stream worker's own ceiling measured in the same run on the same records.

It starts the embedded stack, produces N logs to a topic of their own, lets the real stream worker
(`logstream stream`, archive on) consume them into a database of its own on the stack's engine (the
stream-worker ceiling, as `bench ingest` measures it), then replays that database's archive into a
fresh one through the same engine, as an operator would beside a running `logstream up`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench import ceilings
from bench.ingest import SAMPLE
from bench.stack import Stack
from logstream.progress import Progress

DESCRIPTION = "replay: logs/s rebuilt from the archive vs the stream worker's ceiling; archive bytes per log"
TARGET_RATIO = 3.0
ARCHIVE_SIZE = """
SELECT sum(data_compressed_bytes), sum(data_uncompressed_bytes), sum(rows) FROM system.parts
WHERE database = {db:String} AND table = 'raw_events' AND active
"""
# on disk: the archive, and actions with its projection and every rollup
DISK_BYTES = """
SELECT sumIf(bytes_on_disk, table = 'raw_events'), sumIf(bytes_on_disk, table != 'raw_events') FROM system.parts
WHERE database = {db:String} AND active
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--logs", type=int, default=1_000_000, help="logs to produce and replay (default 1,000,000)")
    parser.add_argument("--page", type=int, default=20_000, help="replay's records per read and insert")
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temporary one)")


def produce(bootstrap: str, topic: str, logs: int, progress: Progress) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "compression.type": "lz4", "queue.buffering.max.messages": 1_000_000})
    for i in range(logs):
        producer.produce(topic, ceilings.log_record(i, SAMPLE), b"user-%d" % (i % 100_000))
        if i % 10_000 == 0:
            producer.poll(0)
            progress(f"produced {i:,}/{logs:,} logs")
    producer.flush(300)


def replay_rate(dsn: str, database: str, topic: str, page: int, progress: Progress) -> tuple[float, int, int]:
    """logs/s of a replay of `database`'s archive into a fresh database; records and rows replayed."""
    from logstream.clickhouse import connect
    from stream.replay import ArchiveSource, Cursor, Rebuild, fresh_database, replay
    from stream.settings import StreamSettings

    settings = StreamSettings(clickhouse_dsn=dsn, clickhouse_database=database, raw_topic=topic)
    rebuilt = fresh_database(settings, f"{database}_replay")
    rebuild = Rebuild(connect(rebuilt), live_database=database, max_record_bytes=settings.stream_max_record_bytes,
                      max_future=settings.max_future)
    source = ArchiveSource(connect(settings), topic, database=database, page=page)
    started = time.perf_counter()
    replay(source, rebuild, Cursor(), lambda: progress(f"replay: {rebuild.records:,} records, {rebuild.rows:,} rows"))
    return rebuild.records / (time.perf_counter() - started), rebuild.records, rebuild.rows


def run(args: argparse.Namespace) -> int:
    from logstream.clickhouse import connect
    from logstream.settings import ClickHouseSettings

    progress = Progress(enabled=True)
    figures: dict[str, float] = {"logs": args.logs}
    with tempfile.TemporaryDirectory(prefix="logstream-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        with Stack(workdir) as stack:
            assert stack.engine_dsn is not None, "the replay bench needs the stream worker in its own process"
            topic, database = f"bench.replay.{uuid.uuid4().hex[:8]}", f"replay_bench_{uuid.uuid4().hex[:6]}"
            produce(stack.bootstrap, topic, args.logs, progress)
            progress.done(f"produced {args.logs:,} logs to {topic}")
            figures["stream_worker_per_s"] = ceilings.stream_worker(stack.bootstrap, topic, args.logs, workdir,
                                                                    progress, stack.engine_dsn, database=database,
                                                                    timeout_s=7200).per_s
            progress.done(f"stream worker (archive on): {figures['stream_worker_per_s']:,.0f} logs/s")
            client = connect(ClickHouseSettings(clickhouse_dsn=stack.engine_dsn, clickhouse_database=database))
            compressed, uncompressed, rows = client.query(ARCHIVE_SIZE, parameters={"db": database}).result_rows[0]
            figures["archive_records"] = rows
            figures["archive_bytes_per_log"] = compressed / max(rows, 1)
            figures["archive_uncompressed_bytes_per_log"] = uncompressed / max(rows, 1)
            archive_disk, projections_disk = client.query(DISK_BYTES, parameters={"db": database}).result_rows[0]
            figures["archive_disk_mb_per_million_logs"] = archive_disk / max(rows, 1)
            figures["projections_disk_mb_per_million_logs"] = projections_disk / max(rows, 1)
            progress.done(f"archive: {rows:,} records, {figures['archive_bytes_per_log']:,.1f} bytes per log "
                          f"compressed ({figures['archive_uncompressed_bytes_per_log']:,.1f} uncompressed)")
            rate, records, actions = replay_rate(stack.engine_dsn, database, topic, args.page, progress)
            figures.update(replay_logs_per_s=rate, replay_records=records, replay_actions=actions,
                           replay_vs_stream_worker=rate / figures["stream_worker_per_s"])
            progress.done(f"replay: {rate:,.0f} logs/s ({figures['replay_vs_stream_worker']:.2f}x the stream worker)")
    report = {"figures": figures, "target": {"replay_vs_stream_worker": TARGET_RATIO,
                                             "met": figures["replay_vs_stream_worker"] >= TARGET_RATIO}}
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())  # noqa: T201
    else:
        for name, value in figures.items():
            print(f"{name:<36} {value:>16,.2f}")  # noqa: T201
        print(f"replay >= {TARGET_RATIO}x the stream worker: {'MET' if report['target']['met'] else 'NOT MET'}")  # noqa: T201
    return 0
