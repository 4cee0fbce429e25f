"""`logstream retention [--dry-run]`: drop what LOGSTREAM_RETENTION_DAYS and
LOGSTREAM_ARCHIVE_RETENTION_DAYS no longer keep (whole months), or only list it. The stream worker
runs the same every LOGSTREAM_RETENTION_CHECK_INTERVAL_S; this is for an operator who wants to see
or do it now."""

from __future__ import annotations

import argparse

from logstream.clickhouse import connect
from stream.retention import Retention
from stream.settings import StreamSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="list what would be dropped; drop nothing")


def run(args: argparse.Namespace, settings: StreamSettings) -> int:
    if not (settings.retention_days or settings.archive_retention_days):
        print("logstream retention: LOGSTREAM_RETENTION_DAYS and LOGSTREAM_ARCHIVE_RETENTION_DAYS are 0: "  # noqa: T201
              "everything is kept")
        return 0
    retention = Retention(connect(settings), settings.clickhouse_database, settings.retention_days,
                          settings.archive_retention_days)
    for line in retention.plan() if args.dry_run else retention.apply():
        print(("would drop " if args.dry_run and line != "nothing has expired" else "") + line)  # noqa: T201
    return 0
