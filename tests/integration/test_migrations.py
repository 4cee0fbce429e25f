from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from logstream.clickhouse import MigrationError, connect, load_migrations, migrate, pending_migrations
from logstream.settings import ClickHouseSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def migration_settings(chdb_dir: Path, tmp_path: Path) -> ClickHouseSettings:
    migrations = tmp_path / "migrations"
    shutil.copytree(ROOT / "infra" / "clickhouse", migrations)
    return ClickHouseSettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"m_{uuid.uuid4().hex[:8]}",
                              migrations_dir=migrations)


def test_each_migration_runs_once_and_is_recorded(migration_settings: ClickHouseSettings) -> None:
    first = migrate(migration_settings)
    every = [(m.version, m.name) for m in load_migrations(migration_settings.migrations_dir)]
    assert [(m.version, m.name) for m in first] == every and every[0] == (1, "create_actions")
    assert migrate(migration_settings) == []
    client = connect(migration_settings)
    assert client.query("SELECT version, name FROM schema_migrations ORDER BY version").result_rows == every
    engine, partition_key, sorting_key = client.query(
        "SELECT engine, partition_key, sorting_key FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'actions'").result_rows[0]
    assert (engine, partition_key, sorting_key) == ("MergeTree", "toYYYYMM(time)", "type, time, action_id")
    columns = dict(client.query("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                                "AND table = 'actions'").result_rows)
    assert columns["type"] == "LowCardinality(String)"
    assert columns["time"] == "DateTime64(3, 'UTC')"
    assert {"action_id", "event_id", "user_id", "session_id", "time_offset", "properties", "received_at",
            "kafka_partition", "kafka_offset"} <= set(columns)
    users = dict(client.query("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                              "AND table = 'compat_users'").result_rows)
    assert users["user_id"] == "String"


def test_a_new_file_is_applied_next_time(migration_settings: ClickHouseSettings) -> None:
    migrate(migration_settings)
    (migration_settings.migrations_dir / "9999_add_probe.sql").write_text("CREATE TABLE IF NOT EXISTS probe (x UInt8) "
                                                                "ENGINE = MergeTree ORDER BY x;\n")
    assert [m.name for m in migrate(migration_settings)] == ["add_probe"]
    assert pending_migrations(connect(migration_settings), migration_settings) == []


def test_an_edited_applied_migration_is_refused(migration_settings: ClickHouseSettings) -> None:
    migrate(migration_settings)
    path = migration_settings.migrations_dir / "0001_create_actions.sql"
    path.write_text(path.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="edited after it ran"):
        migrate(migration_settings)
