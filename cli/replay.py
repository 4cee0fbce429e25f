"""`logstream replay [--source archive|topic] [--into DB] [--verify] [--swap]`.

Rebuilds every projection of the log into a fresh database beside the live one (blue/green):
`<database>_replay` by default, dropped and created again by its migrations first. `--verify`
compares it with the live database and prints each difference (exit 1 on any). `--swap` makes it
the live one while the stream keeps going; the previous projections stay in the other database.

How `--swap` stays exact while the live stream writes: stream/swap.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from logstream.clickhouse import connect
from logstream.contract import epoch_millis
from logstream.progress import Progress
from stream.projections import derived_tables, differences
from stream.replay import ArchiveSource, Cursor, Rebuild, TopicSource, TopicStalledError, fresh_database, replay
from stream.retention import horizon
from stream.settings import StreamSettings
from stream.suppression import Suppression
from stream.swap import SwapError, engine_now, swap


def say(text: str) -> None:
    print(text, file=sys.stderr)  # noqa: T201


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--source", choices=["archive", "topic"], default="archive",
                        help="the archive in ClickHouse (default), or the raw topic from its beginning")
    parser.add_argument("--into", help="the database to rebuild into (default: <database>_replay)")
    parser.add_argument("--verify", action="store_true",
                        help="compare with the live projections; exit 1 on any difference")
    parser.add_argument("--swap", action="store_true", help="make the rebuilt projections the live ones")
    parser.add_argument("--page", type=int, default=20_000, help="records per read and insert")


def run(args: argparse.Namespace, settings: StreamSettings) -> int:
    live = settings.clickhouse_database
    into = args.into or f"{live}_replay"
    if into == live:
        raise SystemExit("logstream replay: --into must name a database other than the live one")
    if args.swap and args.source != "archive":
        raise SystemExit("logstream replay: --swap catches up from the archive: use --source archive")
    try:
        client = connect(settings)
    except Exception as exc:
        if "Cannot lock file" not in str(exc):
            raise
        raise SystemExit("logstream replay: the chDB directory is open in another process (a running `logstream up`):"
                         " set LOGSTREAM_CLICKHOUSE_DSN to the engine it serves (README, \"The archive and replay\")"
                         ) from None
    rebuilt = fresh_database(settings, into)
    erased = Suppression(client)  # the live database's erased users: never brought back
    erased.refresh_if_due()
    start = horizon(settings.retention_days, datetime.now(UTC))
    rebuild = Rebuild(connect(rebuilt), live_database=live, max_record_bytes=settings.stream_max_record_bytes,
                      max_future=settings.max_future, suppression=erased,
                      earliest_ms=epoch_millis(start) if start is not None else None)
    source = (ArchiveSource(client, settings.raw_topic, database=live, page=args.page) if args.source == "archive"
              else TopicSource(settings, page=args.page))
    cursor = Cursor()
    since = engine_now(client)  # a swap copies what the stream stores in the old tables from here on
    total = sum(p.records for p in source.partitions())
    progress = Progress().counter(total, "replay, records")
    started = time.perf_counter()
    try:
        replay(source, rebuild, cursor, lambda: progress(rebuild.records, f"{rebuild.rows:,} rows"))
    except TopicStalledError as exc:
        raise SystemExit(f"logstream replay: {exc}; {into} holds a partial rebuild") from None
    progress(max(rebuild.records, total), f"{rebuild.rows:,} rows")
    elapsed = time.perf_counter() - started
    say(f"replayed {rebuild.records:,} records of {len(cursor.lives)} broker life(s) into {into} in {elapsed:.1f} s "
        f"({rebuild.records / max(elapsed, 1e-9):,.0f} records/s): {rebuild.rows:,} actions, "
        f"{rebuild.dead_letters:,} dead letters, {rebuild.duplicates + rebuild.sink.duplicates_skipped:,} "
        "duplicate rows skipped")
    code = 0
    if args.verify:
        found = differences(client, live, into)
        for line in found:
            print(line)  # noqa: T201
        say(f"verify: {len(found)} difference(s) between {live} and {into}")
        code = 1 if found else 0
    if args.swap:
        missing = sorted(set(derived_tables(client, into)) - set(derived_tables(client, live)))
        if missing:
            raise SystemExit(f"logstream replay: the live database lacks {', '.join(missing)}: "
                             "run `logstream migrate` first")
        before = rebuild.records
        try:
            copied = swap(client, live, into, source, rebuild, cursor, since, gap=args.page)
        except SwapError as exc:
            raise SystemExit(f"logstream replay: {exc}") from None
        say(f"swapped: {live} now holds the rebuilt projections (caught up {rebuild.records - before:,} records, "
            f"then copied {copied:,} rows the stream stored meanwhile); the previous ones are in {into}")
    return code
