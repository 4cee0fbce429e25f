"""Retention drops whole expired months and leaves every projection as if they had never been stored:
each rollup equals, table by table, that of a database whose stream never stored an action older than
the horizon; the dry run lists exactly what a run drops; a second run drops nothing; the archive
keeps its own months."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

from logstream.clickhouse import connect, migrate
from logstream.contract import epoch_millis
from query_api.settings import QuerySettings
from stream import batch
from stream.projections import derived_tables, merged_totals
from stream.retention import Retention, horizon
from stream.sink import ClickHouseSink
from stream.split import Source
from tests.integration.test_exactness import SEED, deliver, generate

NOW = datetime(2019, 4, 20, 12, 0, tzinfo=UTC)
DAYS = 120  # 2018-12-21 -> the horizon is 2018-12-01: October and November 2018 expire


def test_a_run_leaves_every_projection_as_if_the_expired_months_were_never_stored(chdb_dir: Path) -> None:
    rng = random.Random(SEED)
    live = QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"r_{uuid.uuid4().hex[:8]}")
    never = QuerySettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"n_{uuid.uuid4().hex[:8]}")
    migrate(live)
    migrate(never)
    logs = generate(rng)
    deliver(live, logs, rng)
    start = horizon(DAYS, NOW)
    assert start == datetime(2018, 12, 1, tzinfo=UTC)
    rows = batch.build((None, log, Source("raw", i % 3, i // 3)) for i, log in enumerate(logs)).rows
    ClickHouseSink(connect(never), max_backoff_s=1).write_now(rows.since(epoch_millis(start)))  # as the stream would
    client = connect(live)
    client.insert("raw_events", [[uuid.uuid4(), "raw", 0, n, None, None, b"{}", [], None, at] for n, at in
                                 enumerate([datetime(2018, 9, 3, tzinfo=UTC), datetime(2019, 4, 1, tzinfo=UTC)])],
                  column_names=["topic_id", "topic", "partition", "offset", "timestamp_ms", "key", "value",
                                "headers", "event_id", "archived_at"])
    expired = {(str(d), n) for d, n in client.query(
        "SELECT toYYYYMM(time), count() FROM actions WHERE time < {h:DateTime64(3)} GROUP BY 1",
        parameters={"h": start}).result_rows}
    assert len(expired) == 2, "the generated actions span the expired months"
    retention = Retention(client, live.clickhouse_database, DAYS, 200, clock=lambda: NOW)

    plan = retention.plan()
    assert plan == [f"actions: {m[:4]}-{m[4:]}, {n:,} rows" for m, n in sorted(expired)] + \
        ["raw_events: 2018-09, 1 rows"], plan
    retention.apply()

    for table in derived_tables(client, live.clickhouse_database):
        assert merged_totals(client, live.clickhouse_database, table) == \
            merged_totals(client, never.clickhouse_database, table), (SEED, table)
    assert client.query("SELECT count() FROM raw_events").result_rows == [(1,)]
    fed = "SELECT event_id FROM {db:Identifier}.fed_events ORDER BY event_id"  # a log over both: kept
    assert client.query(fed, parameters={"db": live.clickhouse_database}).result_rows == \
        client.query(fed, parameters={"db": never.clickhouse_database}).result_rows
    assert retention.plan() == ["nothing has expired"]
    assert retention.apply() == ["nothing had expired"]
