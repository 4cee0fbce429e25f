"""`logstream replay --swap`: the rebuilt projections become the live ones while the stream writes,
without losing or doubling what arrives meanwhile.

The stream archives a batch's records beside the insert of their actions (so a record may be in
`actions` a moment before the archive holds it: rule 3 copies it), and once an insert into
`actions` succeeded it never inserts that record again, unless Kafka re-delivers it, and a
re-delivered batch is checked against what is stored. So a record the replay stores itself while
the stream may still insert it would be stored twice. Hence:

1. Catch up from the archive, in rounds, until a round finds fewer than a page of new records.
   A catch-up stores a record only once the live stream has stored its actions (its eventId is in
   the live `actions`; a record with no rows, a dead letter, always passes); each partition stops
   at the first record the stream has not stored yet, and the next round starts there.
2. EXCHANGE TABLES `actions` and every rollup with the rebuilt ones, in one statement (atomic; the
   views stay with their names, so the live views now fill the rebuilt rollups). From here the
   stream inserts into the rebuilt tables: records the replay has not stored, by rule 1.
3. What the stream inserted into the old `actions` after the replay began and the replay has not
   stored (an insert in flight across the exchange, records stored after the last round's check)
   is copied into the live `actions`, skipping action ids already there; repeated until a pass
   finds nothing, for at least `settle_s` after the exchange. Of those rows, the ones the stream had
   fed to the old rollups before the exchange (their logs are in the old `fed_events`) are fed to the
   live ones, numbered as the stream's feed numbered them; the stream feeds the others to the live
   rollups itself, its feeds trailing its inserts (stream/rollup_feed.py).

What is left: an insert into the old `actions` that began before the exchange and ends more than
`settle_s` after it (rule 3 has stopped looking) would be missing from the live tables; and a
batch Kafka re-delivers (a rebalance) during rule 3 could be checked by the sink just before a
copy of the same rows; and a feed in flight across the exchange may fill the old rollups after the
old `fed_events` was read. `logstream replay --verify` after a swap shows any of these. A record the stream
archived but never stored (the broker lost in between) is left out by rule 1; the next replay
stores it.
"""

from __future__ import annotations

import logging
import time
import uuid

from clickhouse_connect.driver.client import Client

from logstream.clickhouse import ROLLUP_FEED, ROLLUP_FEED_COLUMNS, WITHOUT_DEDUPLICATION, numbered_rows
from stream import batch as batches
from stream.archive import Record
from stream.projections import derived_tables
from stream.replay import ArchiveSource, Cursor, Rebuild
from stream.rollup_feed import fed_events
from stream.sink import STORED_COLUMNS

log = logging.getLogger(__name__)

STORED_EVENTS = "SELECT DISTINCT event_id FROM {db:Identifier}.actions WHERE event_id IN {ids:Array(UUID)}"
ENGINE_NOW = "SELECT now64(3)"
IDS_PER_QUERY = 200  # parameters travel in the URL: keep it well under a server's line limit
LATE_ROWS = """
FROM {old:Identifier}.actions
WHERE inserted_at >= {since:DateTime64(3)}
  AND action_id NOT IN (
      SELECT action_id FROM {live:Identifier}.actions
      WHERE event_id IN (SELECT event_id FROM {old:Identifier}.actions WHERE inserted_at >= {since:DateTime64(3)}))
"""
COLUMN_LIST = ", ".join(STORED_COLUMNS + ("inserted_at",))
COPY_ROWS = (f"INSERT INTO {{live:Identifier}}.actions ({COLUMN_LIST}) SELECT {COLUMN_LIST} "
             "FROM {old:Identifier}.actions WHERE action_id IN {ids:Array(UUID)}")
FEED_LIST = ", ".join(ROLLUP_FEED_COLUMNS)
FEED_ROWS = (f"INSERT INTO {{live:Identifier}}.{ROLLUP_FEED} ({FEED_LIST}) SELECT {FEED_LIST} FROM ("
             + numbered_rows("(SELECT * FROM {old:Identifier}.actions WHERE action_id IN {ids:Array(UUID)})",
                             "{live:Identifier}.id_numbers") + ")")


class SwapError(RuntimeError):
    pass


def engine_now(client: Client) -> object:
    return client.query(ENGINE_NOW).result_rows[0][0]


def settled(client: Client, live: str, records: list[Record],
            built: batches.Batch) -> tuple[list[Record], batches.Batch, bool]:
    """The page up to the first record whose actions the live stream has not stored yet; and
    whether it was cut there."""
    rows = built.rows
    event_of = dict(zip(zip(rows.data[10], rows.data[11], strict=True), rows.data[1], strict=True))
    if not event_of:
        return records, built, False
    ids = [str(uuid.UUID(int=e)) for e in set(event_of.values())]
    stored: set[int] = set()
    for start in range(0, len(ids), IDS_PER_QUERY):
        stored |= {row[0].int for row in client.query(STORED_EVENTS, parameters={
            "db": live, "ids": ids[start:start + IDS_PER_QUERY]}).result_rows}
    for index, record in enumerate(records):
        event = event_of.get((record.source.partition, record.source.offset))
        if event is not None and event not in stored:
            cut = record.source.offset
            built.rows = rows.rows_at([i for i, offset in enumerate(rows.data[11]) if offset < cut])
            return records[:index], built, True
    return records, built, False


def catch_up(client: Client, live: str, source: ArchiveSource, rebuild: Rebuild, cursor: Cursor, *,
             gap: int, rounds: int = 30) -> None:
    """Rule 1: rounds of what the live stream has stored since, until a round adds at most `gap`."""
    for _ in range(rounds):
        added = 0
        for part in source.partitions():
            while (after := cursor.after(part.life, part.partition)) < part.last:
                records = source.page(part, after)
                if not records:
                    break
                records, built, cut = settled(client, live, records, rebuild.build(records))
                if records:
                    if part.life not in cursor.lives:
                        cursor.lives.append(part.life)
                    rebuild.store(records, built)
                    cursor.read[(part.life, part.partition)] = records[-1].source.offset
                    added += len(records)
                if cut:
                    break
        log.info("catch-up round: %d records", added)
        if added <= gap:
            return
        time.sleep(0.2)


def exchange(client: Client, live: str, rebuilt: str) -> list[str]:
    """Rule 2: `actions` and every rollup, swapped in one statement."""
    tables = derived_tables(client, rebuilt, bookkeeping=True)
    missing = sorted(set(tables) - set(derived_tables(client, live, bookkeeping=True)))
    if missing:
        raise SwapError(f"the live database lacks {', '.join(missing)}: run `logstream migrate` first")
    client.command("EXCHANGE TABLES " + ", ".join(f"`{live}`.`{t}` AND `{rebuilt}`.`{t}`" for t in tables))
    return tables


def copy_late_rows(client: Client, live: str, old: str, since: object, *, settle_s: float) -> int:
    """Rule 3: rows the stream stored in the old `actions` that the live one lacks; `old` is the
    database that holds the previous tables now."""
    exchanged = time.monotonic()
    copied = 0
    parameters = {"old": old, "live": live, "since": since}
    while True:
        late = client.query("SELECT action_id, event_id " + LATE_ROWS, parameters=parameters).result_rows
        fed_before = fed_events(client, (event_id.int for _, event_id in late), old)
        ids = [row[0] for row in late]
        # fed to the old rollups before the exchange; the stream feeds the rest to the live ones itself
        to_feed = [action_id for action_id, event_id in late if event_id.int in fed_before]
        for copy, chosen in ((COPY_ROWS, ids), (FEED_ROWS, to_feed)):  # the rows first, as the stream does
            for start in range(0, len(chosen), IDS_PER_QUERY):
                client.command(copy, parameters={**parameters, "ids": chosen[start:start + IDS_PER_QUERY]},
                               settings=WITHOUT_DEDUPLICATION)
        copied += len(late)
        if not late and time.monotonic() - exchanged >= settle_s:
            return copied
        time.sleep(0.5)


def swap(client: Client, live: str, rebuilt: str, source: ArchiveSource, rebuild: Rebuild, cursor: Cursor,
         since: object, *, gap: int, settle_s: float = 5.0) -> int:
    """Rules 1-3; returns the rows copied by rule 3."""
    catch_up(client, live, source, rebuild, cursor, gap=gap)
    exchange(client, live, rebuilt)
    return copy_late_rows(client, live, rebuilt, since, settle_s=settle_s)
