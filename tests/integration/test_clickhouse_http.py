"""The embedded engine on ClickHouse's HTTP interface, driven by clickhouse-connect's HTTP client
(the production code path) and by plain HTTP as curl users would."""

from __future__ import annotations

import gzip
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from starlette.applications import Starlette
from starlette.routing import Mount

from embedded.clickhouse_http import create_app
from logstream.clickhouse import connect, embedded_http_dsn, migrate
from logstream.security import CLICKHOUSE_PATH
from logstream.settings import ClickHouseSettings
from stream import batch
from stream.id_numbers import SESSION, IdNumbers
from stream.sink import ClickHouseSink
from stream.split import Source
from tests.fixtures import example
from tests.support import free_port

KEY = "adapter-test-key-0123456789"


@pytest.fixture(scope="module")
def server_url(chdb_dir: Path) -> Iterator[str]:
    """A server with the adapter mounted where the query service mounts it."""
    adapter = create_app(str(chdb_dir), KEY)
    app = Starlette(routes=[Mount(CLICKHOUSE_PATH.rstrip("/"), adapter)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    adapter.state.engine.close()


@pytest.fixture(scope="module")
def adapter_url(server_url: str) -> str:
    return server_url + CLICKHOUSE_PATH


@pytest.fixture(scope="module")
def adapter_settings(server_url: str) -> ClickHouseSettings:
    database = f"http_{uuid.uuid4().hex[:8]}"
    dsn = embedded_http_dsn(server_url, KEY)
    adapter_settings = ClickHouseSettings(clickhouse_dsn=dsn, clickhouse_database=database)
    migrate(adapter_settings)  # every migration, over HTTP, as against a server
    return adapter_settings


@pytest.fixture
def adapter_client(adapter_settings: ClickHouseSettings) -> Iterator[Client]:
    adapter_client = connect(adapter_settings)
    yield adapter_client
    adapter_client.close()


def rows_of(logs: int, offset: int = 0) -> batch.Columns:
    payloads = [example(userId=f"u{i}", eventId=str(uuid.uuid4())) for i in range(logs)]
    return batch.build((None, orjson.dumps(p), Source("raw", 0, offset + i)) for i, p in enumerate(payloads)).rows


def test_the_sink_writes_through_it_and_skips_a_redelivered_tail(adapter_client: Client) -> None:
    rows = rows_of(200, offset=1_000)
    ClickHouseSink(adapter_client, max_backoff_s=1).write_now(rows)
    again = ClickHouseSink(adapter_client, max_backoff_s=1)  # a worker that was assigned the partition afresh
    again.write_now(rows)
    assert again.duplicates_skipped == 600 and again.rows_written == 0
    stored = adapter_client.query("SELECT count(), uniqExact(action_id) FROM actions WHERE kafka_offset >= 1000")
    assert stored.result_rows == [(600, 600)]


def test_one_sink_stores_batch_after_batch_a_refused_one_between(adapter_client: Client) -> None:
    """The sink describes `actions` once and reuses that insert context; a refused insert drops it."""
    sink = ClickHouseSink(adapter_client, max_backoff_s=1)
    refused = rows_of(2, offset=5_002)
    refused.data[1][0] = 1 << 140  # an event id of over 128 bits: refused by the driver
    assert sink.write_now(rows_of(20, offset=5_000)) == []
    assert [r.source.offset for r in sink.write_now(refused)] == [5_002]
    assert sink.write_now(rows_of(20, offset=5_100)) == []
    stored = adapter_client.query("SELECT count() FROM actions WHERE kafka_offset >= 5000 AND kafka_offset < 6000")
    assert stored.result_rows == [(20 * 3 + 3 + 20 * 3,)] and sink.rows_written == 123


def test_a_statements_settings_do_not_reach_the_next_one(adapter_client: Client) -> None:
    setting = "SELECT value FROM system.settings WHERE name = 'max_execution_time'"
    assert adapter_client.query(setting, settings={"max_execution_time": 7}).result_rows == [("7",)]
    assert adapter_client.query(setting).result_rows == [("0",)]


def test_parameters_are_bound_by_the_engine(adapter_client: Client) -> None:
    assert adapter_client.query("SELECT {s:String}, {n:UInt8} + 1", parameters={"s": "it's", "n": 41}).result_rows \
        == [("it's", 42)]


def test_errors_carry_the_engines_code(adapter_client: Client) -> None:
    with pytest.raises(DatabaseError, match="UNKNOWN_TABLE") as raised:
        adapter_client.query("SELECT * FROM no_such_table")
    assert "code: 60" in str(raised.value)


def test_a_wrong_key_is_refused(adapter_settings: ClickHouseSettings) -> None:
    dsn = adapter_settings.clickhouse_dsn.replace(KEY, "not-the-key")
    wrong = adapter_settings.model_copy(update={"clickhouse_dsn": dsn})
    with pytest.raises(DatabaseError, match="516"):
        connect(wrong)


def test_plain_http_as_curl_sends_it(adapter_url: str, adapter_settings: ClickHouseSettings) -> None:
    auth = ("default", KEY)
    database = {"database": adapter_settings.clickhouse_database}
    assert httpx.get(f"{adapter_url}ping").text == "Ok.\n"
    httpx.post(adapter_url, params=database, auth=auth,
               content=b"CREATE TABLE curl (n UInt32, s String) ENGINE = MergeTree ORDER BY n").raise_for_status()
    inserted = httpx.post(adapter_url, params={**database, "query": "INSERT INTO curl FORMAT JSONEachRow"}, auth=auth,
                          content=b'{"n": 1, "s": "a"}\n{"n": 2, "s": "b\\tc"}\n')
    assert inserted.status_code == 200, inserted.text
    assert '"written_rows":"2"' in inserted.headers["x-clickhouse-summary"]
    answer = httpx.post(adapter_url, params={**database, "default_format": "CSV"}, auth=auth,
                        content=b"SELECT n, s FROM curl ORDER BY n")
    assert answer.text == '1,"a"\n2,"b\tc"\n'
    refused = httpx.post(adapter_url, params=database, auth=auth, content=b"SELEC 1")
    assert refused.status_code == 400 and refused.headers["x-clickhouse-exception-code"] == "62"


def test_a_compressed_body_is_refused_clearly(adapter_url: str) -> None:
    refused = httpx.post(adapter_url, auth=("default", KEY), content=gzip.compress(b"SELECT 1"),
                         headers={"Content-Encoding": "gzip"})
    assert refused.status_code == 500 and "compress=false" in refused.text


def test_a_refused_setting_leaves_every_connection_usable(adapter_url: str) -> None:
    auth, setting = ("default", KEY), b"SELECT value FROM system.settings WHERE name = 'max_threads'"
    refused = httpx.post(adapter_url, params={"max_threads": "3", "no_such_setting": "1"}, auth=auth,
                         content=b"SELECT 1")
    assert refused.status_code == 500 and refused.headers["x-clickhouse-exception-code"] == "115"  # UNKNOWN_SETTING
    for _ in range(8):  # twice round the pool of four: no connection kept max_threads = 3
        assert httpx.post(adapter_url, auth=auth, content=setting).text.startswith("auto")


def test_only_an_insert_reports_written_rows(adapter_url: str) -> None:
    answer = httpx.post(adapter_url, auth=("default", KEY), content=b"SELECT number FROM numbers(5)")
    assert '"written_rows":"0"' in answer.headers["x-clickhouse-summary"]


def test_array_parameters_are_bound_by_the_engine(adapter_client: Client) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    assert adapter_client.query("SELECT length({ids:Array(UUID)}), has({ids:Array(UUID)}, {one:UUID})",
                                parameters={"ids": [str(i) for i in ids], "one": str(ids[1])}).result_rows == [(3, 1)]


def test_the_sink_rechecks_republished_events_through_it(adapter_client: Client) -> None:
    rows = rows_of(300, offset=5_000)
    ClickHouseSink(adapter_client, max_backoff_s=1).write_now(rows)
    again = ClickHouseSink(adapter_client, max_backoff_s=1)
    again.write_now(rows, recheck_events=set(rows.data[1]))
    assert again.duplicates_skipped == 900 and again.rows_written == 0


def test_a_batch_of_thousands_of_new_ids_is_numbered_through_it(adapter_client: Client) -> None:
    """The ids travel as parameters in the request's URL: a batch of thousands must not outgrow it."""
    sessions = [f"{uuid.uuid4()}" for _ in range(5_000)]
    numbers = IdNumbers(adapter_client).numbers(SESSION, sessions)
    assert len(set(numbers)) == 5_000 and 0 not in numbers
    assert IdNumbers(adapter_client).numbers(SESSION, sessions[::-1]) == numbers[::-1]  # read back by another
