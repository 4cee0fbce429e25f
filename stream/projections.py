"""The projections of the log in a database: `actions` and every table a materialized view fills
from it (directly or through another view): the rollups of 0002 and any a later migration adds.
Everything else is not derived from the log and is neither rebuilt, compared nor swapped: the
archive itself (raw_events, dead_letters), schema_migrations, seed 000's user registry
(compat_users: registrations are requests, not logs) and the producer's idempotency keys
(idempotency_keys: answers to requests, kept 48 h).
"""

from __future__ import annotations

import re

from clickhouse_connect.driver.client import Client

from logstream.clickhouse import FED_EVENTS, ROLLUP_FEED

SOURCE = "actions"
FEED = ROLLUP_FEED  # carries the rows of `actions` to most rollups (stream/rollup_feed.py)
BOOKKEEPING = frozenset({FED_EVENTS})  # filled through the feed, but says what was fed, not what the log holds
VIEWS_OF = """
SELECT name, create_table_query FROM system.tables WHERE database = {db:String} AND engine = 'MaterializedView'
"""
COLUMNS_OF = """
SELECT name, type FROM system.columns
WHERE database = {db:String} AND table = {table:String} AND default_kind NOT IN ('MATERIALIZED', 'ALIAS')
ORDER BY position
"""
VIEW_TARGET = re.compile(r"\bTO\s+`?(?P<db>[A-Za-z0-9_]+)`?\.`?(?P<table>[A-Za-z0-9_]+)`?")
VIEW_SOURCE = re.compile(r"\bFROM\s+`?(?P<db>[A-Za-z0-9_]+)`?\.`?(?P<table>[A-Za-z0-9_]+)`?")
AGGREGATE = re.compile(r"^(?:Simple)?AggregateFunction\((?P<function>\w+)")


def derived_tables(client: Client, database: str, *, bookkeeping: bool = False) -> list[str]:
    """`actions` and the targets of the views fed from it, transitively, in a stable order; with
    `bookkeeping`, the tables that say what was fed too (they travel with the rollups in a swap)."""
    edges: list[tuple[str, str]] = []
    for _, query in client.query(VIEWS_OF, parameters={"db": database}).result_rows:
        source, target = VIEW_SOURCE.search(query), VIEW_TARGET.search(query)
        if source and target and source["db"] == database == target["db"]:
            edges.append((SOURCE if source["table"] == FEED else source["table"], target["table"]))
    found = [SOURCE]
    for table in found:
        found += sorted(t for s, t in edges if s == table and t not in found)
    return found if bookkeeping else [table for table in found if table not in BOOKKEEPING]


def merged_totals(client: Client, database: str, table: str) -> dict[str, object]:
    """Its groups (rows once merged by its non-aggregate columns), an order-independent checksum of
    them, and each aggregate column's total (sum, min, max; uniqExact: the sum over groups)."""
    columns = client.query(COLUMNS_OF, parameters={"db": database, "table": table}).result_rows
    keys = [name for name, kind in columns if not AGGREGATE.match(kind)]
    merged, totals = [], []
    for name, kind in columns:
        match = AGGREGATE.match(kind)
        if not match:
            continue
        function = match["function"]
        if kind.startswith("Simple"):
            merged.append(f"{function}(`{name}`) AS `{name}`")
            totals.append(f"{function}(`{name}`) AS `{name}`")
        else:
            merged.append(f"{function}Merge(`{name}`) AS `{name}`")
            totals.append(f"sum(`{name}`) AS `{name}`")
    group = f"GROUP BY {', '.join(f'`{k}`' for k in keys)}" if keys else ""
    inner = f"SELECT {', '.join([f'`{k}`' for k in keys] + merged)} FROM `{database}`.`{table}` {group}"
    sql = f"SELECT count() AS groups, sum(cityHash64(*)) AS checksum, {', '.join(totals) or '0 AS none'} FROM ({inner})"
    if table == SOURCE:  # raw rows: each action once, whatever the order
        sql = (f"SELECT count() AS rows, sum(cityHash64(action_id)) AS action_id_checksum, "
               f"uniqExact(action_id) AS distinct_action_ids FROM `{database}`.`{table}`")
    result = client.query(sql)
    return dict(zip(result.column_names, result.result_rows[0], strict=True))


COUNTS_PER_DAY_AND_TYPE = "SELECT toDate(time) AS day, type, count() FROM {db:Identifier}.actions GROUP BY day, type"


def differences(client: Client, live: str, rebuilt: str) -> list[str]:
    """Every difference between the projections of two databases, one line each."""
    lines = []
    counts = {db: {(str(day), kind): n for day, kind, n in client.query(
        COUNTS_PER_DAY_AND_TYPE, parameters={"db": db}).result_rows} for db in (live, rebuilt)}
    for key in sorted(counts[live].keys() | counts[rebuilt].keys()):
        a, b = counts[live].get(key, 0), counts[rebuilt].get(key, 0)
        if a != b:
            lines.append(f"actions on {key[0]} of type {key[1]}: live {a:,}, rebuilt {b:,}")
    live_tables = derived_tables(client, live)
    for table in derived_tables(client, rebuilt):
        if table not in live_tables:
            lines.append(f"{table}: in the rebuilt database only (a migration the live one lacks)")
            continue
        a, b = merged_totals(client, live, table), merged_totals(client, rebuilt, table)
        lines += [f"{table}.{name}: live {a.get(name)!r}, rebuilt {b.get(name)!r}"
                  for name in a.keys() | b.keys() if a.get(name) != b.get(name)]
    return lines

