"""Keep actions, rollups and the archive only as long as configured: whole months at a time.

A month goes once all of it is older than the retention (`horizon`: the first day of the month that
holds the moment `days` ago). Actions and the rollups partitioned by month lose the month's
partition; rollups keyed by day lose its days; the others (all-time totals, per-session summaries)
have the month's actions subtracted and their other aggregates recomputed, exactly as an erasure
does (stream/erasure.py), so every answer stays what the remaining rows give. Each month is a job
recorded in `erasures` (user_id `retention:YYYYMM`), so one interrupted resumes where it stopped.
The stream and replay leave out actions older than the horizon, so expired data never comes back.
The record of the logs fed to the rollups (`fed_events`) forgets the month's logs with their rows.
The archive (raw_events by month of receipt, dead_letters by month of failure) has its own setting.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from logstream.clickhouse import FED_EVENTS
from stream.erasure import Eraser, Progress, rollups_of

log = logging.getLogger(__name__)

JOBS = uuid.UUID("0b0e6f4e-8d1c-4f0e-9a57-3c2d7e9b1a10")
MONTHS_OF = """
SELECT partition_id, sum(rows) FROM system.parts
WHERE database = {db:String} AND table = {t:String} AND active AND partition_id < {before:String}
GROUP BY partition_id ORDER BY partition_id
"""
ARCHIVE = {"raw_events": "archived_at", "dead_letters": "failed_at"}
# The month's logs leave the record of logs fed (infra/clickhouse/0019) with their rows, unless the
# log has actions in a month kept.
FORGET_FED = """
ALTER TABLE {fed} DELETE WHERE event_id IN (SELECT event_id FROM {captured})
AND event_id NOT IN (SELECT event_id FROM {actions}
                     WHERE toYYYYMM(time) != {{m:UInt32}} AND event_id IN (SELECT event_id FROM {captured}))
"""


def horizon(days: int, now: datetime) -> datetime | None:
    """The earliest time kept: the first day (UTC) of the month of `now - days`; None keeps all."""
    if days <= 0:
        return None
    moment = now.astimezone(UTC) - timedelta(days=days)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def month_id(moment: datetime) -> str:
    return f"{moment.year:04d}{moment.month:02d}"


class Retention:
    def __init__(self, client: Client, database: str, days: int, archive_days: int,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.client, self.database, self.days, self.archive_days = client, database, days, archive_days
        self._clock = clock
        self.eraser = Eraser(client, database, settle_s=0, clock=clock)

    def expired(self) -> dict[str, list[tuple[str, int]]]:
        """table -> [(month, rows)] of what a run would drop now."""
        found: dict[str, list[tuple[str, int]]] = {}
        now = self._clock()
        for tables, days in ((["actions"], self.days), (list(ARCHIVE), self.archive_days)):
            start = horizon(days, now)
            if start is None:
                continue
            for table in tables:
                months = self.client.query(MONTHS_OF, parameters={"db": self.database, "t": table,
                                                                  "before": month_id(start)}).result_rows
                if months:
                    found[table] = [(month, rows) for month, rows in months]
        return found

    def plan(self) -> list[str]:
        """What a run would drop, one line per table and month (the dry run)."""
        lines = [f"{table}: {month[:4]}-{month[4:]}, {rows:,} rows" for table, months in self.expired().items()
                 for month, rows in months]
        return lines or ["nothing has expired"]

    def apply(self) -> list[str]:
        expired = self.expired()
        for month, rows in expired.get("actions", []):
            self._drop_month(month)
            log.info("retention: dropped %s-%s (%d actions) and its rollups", month[:4], month[4:], rows)
        for table in ARCHIVE:
            for month, rows in expired.get(table, []):
                self.client.command(f"ALTER TABLE `{self.database}`.`{table}` DROP PARTITION ID {{m:String}}",
                                    parameters={"m": month})
                log.info("retention: dropped %s-%s of %s (%d rows)", month[:4], month[4:], table, rows)
        return [f"{table}: {month[:4]}-{month[4:]}, {rows:,} rows dropped" for table, months in expired.items()
                for month, rows in months] or ["nothing had expired"]

    def _drop_month(self, month: str) -> None:
        job = uuid.uuid5(JOBS, f"{self.database}/{month}")
        progress = self.eraser.progress(job) or Progress(job, f"retention:{month}", self._clock())
        if progress.state == "done":
            return
        rollups = rollups_of(self.client, self.database)
        corrected = [r for r in rollups if not r.per_day]

        def drop(captured: str) -> None:  # the rollups first: a retry finds the month's actions still there
            for rollup in rollups:
                table = f"`{self.database}`.`{rollup.table}`"
                if rollup.monthly:
                    self.client.command(f"ALTER TABLE {table} DROP PARTITION ID {{m:String}}", parameters={"m": month})
                elif rollup.per_day:
                    self.client.command(f"ALTER TABLE {table} DELETE WHERE toYYYYMM(`{rollup.time_keys[0]}`) = "
                                        f"{{m:UInt32}}", parameters={"m": int(month)},
                                        settings={"mutations_sync": 2})
            self.client.command(FORGET_FED.format(fed=f"`{self.database}`.`{FED_EVENTS}`", captured=captured,
                                                  actions=f"`{self.database}`.`actions`"),
                                parameters={"m": int(month)}, settings={"mutations_sync": 2})
            self.client.command(f"ALTER TABLE `{self.database}`.`actions` DROP PARTITION ID {{m:String}}",
                                parameters={"m": month})

        progress.state = "erasing"
        self.eraser.run_pass(progress, corrected,
                          lambda captured: self.eraser.capture_rows(captured, "toYYYYMM(time) = {m:UInt32}",
                                                                    {"m": int(month)}),
                          drop)
        progress.state, progress.completed_at = "done", self._clock()
        self.eraser.record(progress)
