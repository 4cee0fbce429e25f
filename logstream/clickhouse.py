"""ClickHouse access shared by the services: one way to connect, one migration runner.

`chdb:///dir` runs the ClickHouse engine in-process (one process may open a directory);
`http(s)://user:password@host:8123` reaches a ClickHouse server. Same SQL, same client API.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from logstream.security import CLICKHOUSE_PATH
from logstream.settings import ClickHouseSettings

log = logging.getLogger(__name__)

# User and session ids are numbered from claimed blocks of this many (infra/clickhouse/0015;
# stream/id_numbers.py numbers live ids, logstream/seed.py seeded ones).
ID_NUMBER_BLOCK = 4096
NEXT_CLAIM_BLOCK = "SELECT if(count() = 0, 0, max(block) + 1) FROM {table}"  # {table}: number_claims, in full
# infra/clickhouse/0016: what most rollups are fed from, after the rows are in `actions` (stream/rollup_feed.py)
ROLLUP_FEED = "actions_rollup_feed"
FED_EVENTS = "fed_events"  # the eventId of each log fed, filled by the feed's own view (infra/clickhouse/0019)
ROLLUP_FEED_COLUMNS = ("event_id", "user_id", "session_id", "user_number", "session_number", "type", "time",
                       "properties", "kafka_topic", "kafka_partition", "kafka_offset")
# The rollups fed from ROLLUP_FEED drop a block whose token (or, without one, whose rows) equals one of
# their last blocks' (infra/clickhouse/0018): the feed's retries share a token, so they count once. Any
# other insert into the feed or a rollup must not be taken for a repeat of an earlier one.
WITHOUT_DEDUPLICATION = {"insert_deduplicate": 0, "deduplicate_blocks_in_dependent_materialized_views": 0}


def deduplicated_by(token: str) -> dict[str, object]:
    """The settings of an insert into ROLLUP_FEED that its retries share: each rollup writes it once."""
    return {"insert_deduplicate": 1, "deduplicate_blocks_in_dependent_materialized_views": 1,
            "insert_deduplication_token": token}

# A row of `actions` holds the numbers its writer knew when it stored it, and 0 for an id it had not
# numbered yet (the stream numbers new ids as it feeds the rollups, off the answer's path): reads
# and recomputes take those from `id_numbers` ({numbers}, named in full where needed).
NUMBERED_ROWS = """
SELECT a.* REPLACE (if(a.user_number != 0, a.user_number, u.number) AS user_number,
                    if(a.session_number != 0, a.session_number, s.number) AS session_number)
FROM {source} AS a
LEFT JOIN (SELECT id, argMin(number, _block_number) AS number FROM {numbers}
           WHERE kind = 'user' AND id IN (SELECT user_id FROM {source} WHERE user_number = 0) GROUP BY id) AS u
       ON u.id = a.user_id
LEFT JOIN (SELECT id, argMin(number, _block_number) AS number FROM {numbers}
           WHERE kind = 'session' AND id IN (SELECT session_id FROM {source} WHERE session_number = 0) GROUP BY id) AS s
       ON s.id = a.session_id"""
# The embedded engine's cache of decompressed blocks (ClickHouse's is off unless configured): reads
# that come back to the same granules (a dashboard's first pages, the newest rows) skip decompressing
# them. Reads ask for it (query_api/store.py); large reads bypass it by themselves.
CHDB_OPTIONS = {"uncompressed_cache_size": str(256 << 20)}
DATABASE_PARAMETER = "{database:String}"  # the migrated database's name, where a migration needs it
MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version
"""
APPLIED_VERSIONS = "SELECT version, checksum FROM schema_migrations ORDER BY version"


def resolved_dsn(dsn: str) -> str:
    """chdb DSNs may be relative (chdb://./data/clickhouse); the engine wants an absolute path."""
    if not dsn.startswith("chdb://") or dsn == "chdb://memory":
        return dsn
    path = Path(dsn.removeprefix("chdb://")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"chdb://{path}"


def connect(settings: ClickHouseSettings, *, database: bool = True) -> Client:
    dsn = resolved_dsn(settings.clickhouse_dsn)
    kwargs = {"database": settings.clickhouse_database} if database else {}
    if dsn.startswith("chdb://"):
        return clickhouse_connect.get_client(dsn=dsn, chdb_options=CHDB_OPTIONS, **kwargs)
    return clickhouse_connect.get_client(dsn=dsn, connect_timeout=5, send_receive_timeout=60,
                                         autogenerate_session_id=False, **kwargs)


def numbered_rows(source: str, numbers: str = "id_numbers") -> str:
    """A query over `source` (a table, or a parenthesized query with the id and number columns) whose
    rows carry every id's number (NUMBERED_ROWS)."""
    return NUMBERED_ROWS.format(source=source, numbers=numbers)


def first_number_of_block(block: int) -> int:
    """The first number a claimed block hands out (0 is no number)."""
    return max(block * ID_NUMBER_BLOCK, 1)


def chdb_connection(path: str) -> str:
    """What chdb.connect takes for a data directory: the path, with the engine's options."""
    return f"{path}?{urlencode(CHDB_OPTIONS)}"


def embedded_http_dsn(query_url: str, internal_key: str) -> str:
    """The DSN of the engine a query service serves (`query_serve_clickhouse`) for other processes."""
    host = query_url.split("://", 1)[-1].rstrip("/")
    return f"http://logstream:{quote(internal_key, safe='')}@{host}/?proxy_path={CLICKHOUSE_PATH}&compress=false"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", self.sql) if s.strip()]


def load_migrations(directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.iterdir()):
        match = MIGRATION_FILE.match(path.name)
        if match:
            found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version in {directory}")
    return found


class MigrationError(RuntimeError):
    pass


def pending_migrations(client: Client, settings: ClickHouseSettings) -> list[Migration]:
    applied = dict(client.query(APPLIED_VERSIONS).result_rows)
    pending = []
    for migration in load_migrations(settings.migrations_dir):
        checksum = applied.get(migration.version)
        if checksum is None:
            pending.append(migration)
        elif checksum != migration.checksum:
            raise MigrationError(f"migration {migration.version:04d}_{migration.name} was edited after it ran")
    return pending


def migrate(settings: ClickHouseSettings) -> list[Migration]:
    """Apply, in order, each migration not yet recorded; each runs once."""
    admin = connect(settings, database=False)
    admin.command(f"CREATE DATABASE IF NOT EXISTS `{settings.clickhouse_database}`")
    admin.close()
    client = connect(settings)
    try:
        client.command(CREATE_MIGRATIONS_TABLE)
        pending = pending_migrations(client, settings)
        for migration in pending:
            for statement in migration.statements():
                # a statement run later in the background (a mutation) must name its database itself
                bound = {"database": settings.clickhouse_database} if DATABASE_PARAMETER in statement else None
                client.command(statement, parameters=bound)
            client.insert("schema_migrations", [[migration.version, migration.name, migration.checksum]],
                          column_names=["version", "name", "checksum"])
            log.info("applied migration %04d_%s", migration.version, migration.name)
        return pending
    finally:
        client.close()
