"""Dense id numbers on the real engine: writers racing for the same ids agree, claims never
overlap, and the migration numbers what was stored before it."""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path

import pytest

from logstream.clickhouse import ID_NUMBER_BLOCK, connect, migrate
from logstream.settings import ClickHouseSettings
from stream.id_numbers import SESSION, USER, IdNumbers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(chdb_dir: Path) -> ClickHouseSettings:
    settings = ClickHouseSettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"n_{uuid.uuid4().hex[:8]}")
    migrate(settings)
    return settings


def race(settings: ClickHouseSettings, writers: int, work) -> list:
    """`work(numbers)` in `writers` threads at once, each with its own client and IdNumbers."""
    numbering = [IdNumbers(connect(settings)) for _ in range(writers)]
    start, results = threading.Barrier(writers), [None] * writers

    def run(index: int) -> None:
        start.wait()
        results[index] = work(numbering[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_writers_numbering_the_same_new_ids_at_once_agree(settings: ClickHouseSettings) -> None:
    ids = [f"user-{i}" for i in range(300)]
    for round_ in range(5):
        batch = [f"{i}-{round_}" for i in ids]
        answers = race(settings, 4, lambda numbers, batch=batch: numbers.numbers(USER, batch))
        assert all(answer == answers[0] for answer in answers), f"round {round_}: writers disagree"
        assert len(set(answers[0])) == len(batch) and 0 not in answers[0]
    first = connect(settings).query(
        "SELECT count(), uniqExact(n) FROM (SELECT argMin(number, _block_number) AS n FROM id_numbers GROUP BY id)")
    assert first.result_rows[0] == (1500, 1500)


def test_an_id_keeps_its_number_for_every_writer_and_kind_apart(settings: ClickHouseSettings) -> None:
    one, two = IdNumbers(connect(settings)), IdNumbers(connect(settings))
    users = one.numbers(USER, ["a", "b", "a"])
    assert users[0] == users[2] != users[1]
    assert two.numbers(USER, ["b", "a"]) == [users[1], users[0]]  # a fresh writer reads them back
    sessions = two.numbers(SESSION, ["a"])
    assert sessions[0] not in users  # the same text as a session is another id, with its own number


def test_a_full_cache_starts_afresh_and_keeps_every_number(settings: ClickHouseSettings,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stream.id_numbers.CACHE_LIMIT", 3)
    numbers = IdNumbers(connect(settings))
    first = numbers.numbers(SESSION, ["a", "b"])
    again = numbers.numbers(SESSION, ["a", "c", "d", "b"])  # over the limit: the cache starts afresh
    assert again[0] == first[0] and again[3] == first[1] and len(set(again)) == 4


def test_claims_never_overlap_when_writers_claim_at_once(settings: ClickHouseSettings) -> None:
    per_writer = ID_NUMBER_BLOCK + 10  # each writer needs a second block
    answers = race(settings, 4, lambda numbers: numbers.numbers(
        SESSION, [f"{uuid.uuid4()}" for _ in range(per_writer)]))
    every = [n for answer in answers for n in answer]
    assert len(set(every)) == len(every) == 4 * per_writer
    owners = connect(settings).query(
        "SELECT block, argMin(claimer, _block_number) FROM number_claims GROUP BY block").result_rows
    assert len({block for block, _ in owners}) == len(owners) >= 8


def test_the_migration_numbers_what_was_stored_before_it(chdb_dir: Path, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(ROOT / "infra" / "clickhouse", migrations)
    later = [path for path in migrations.iterdir() if path.name >= "0015"]
    kept = {path: path.read_text() for path in later}
    for path in later:
        path.unlink()
    settings = ClickHouseSettings(clickhouse_dsn=f"chdb://{chdb_dir}", clickhouse_database=f"m_{uuid.uuid4().hex[:8]}",
                                  migrations_dir=migrations)
    migrate(settings)
    client = connect(settings)
    client.command(
        "INSERT INTO actions (action_id, event_id, user_id, session_id, type, time, time_offset, properties, "
        "received_at, kafka_topic, kafka_partition, kafka_offset) "
        "SELECT generateUUIDv4(), generateUUIDv4(), concat('u', toString(number % 7)), "
        "concat('s', toString(number % 13)), 'CLICK', toDateTime64('2026-01-01', 3, 'UTC') + number, 'Z', '{}', "
        "now64(3), 'raw', 0, number FROM numbers(100)")
    for path, text in kept.items():
        path.write_text(text)
    migrate(settings)

    numbered = client.query("SELECT uniqExact(user_number), uniqExact(session_number), countIf(user_number = 0) "
                            "FROM actions").result_rows[0]
    assert numbered == (7, 13, 0)
    summary = client.query("SELECT groupBitmapMerge(users), groupBitmapMerge(sessions), sum(actions) "
                           "FROM totals_per_day WHERE type = ''").result_rows[0]
    assert summary == (7, 13, 100)
    quarters = client.query("SELECT groupBitmapMerge(users) FROM uniques_per_quarter_hour WHERE type = ''")
    assert quarters.result_rows[0][0] == 7
    # the stream then numbers new ids from a block no backfilled number is in, and old ids as they were
    numbers = IdNumbers(client)
    old = dict(client.query("SELECT user_id, any(user_number) FROM actions GROUP BY user_id").result_rows)
    assert numbers.numbers(USER, ["u3", "new"])[0] == old["u3"]
    assert numbers.numbers(USER, ["new"])[0] >= ID_NUMBER_BLOCK > max(old.values())


def test_users_and_sessions_are_numbered_together_as_each_kind_alone(settings: ClickHouseSettings) -> None:
    together = IdNumbers(connect(settings)).numbers_of({USER: ["x", "y", "x"], SESSION: ["x", "s"]})
    assert together[USER][0] == together[USER][2] != together[USER][1]
    assert len({*together[USER], *together[SESSION]}) == 4, "an id of both kinds gets a number per kind"
    alone = IdNumbers(connect(settings))  # a fresh writer reads them back, a kind at a time
    assert alone.numbers(USER, ["x", "y"]) == together[USER][:2]
    assert alone.numbers(SESSION, ["s", "x"]) == together[SESSION][::-1]
    again = IdNumbers(connect(settings)).numbers_of({USER: ["y", "new"], SESSION: []})
    assert again[USER][0] == together[USER][1] and again[USER][1] not in {*together[USER], *together[SESSION]}
    assert again[SESSION] == []
