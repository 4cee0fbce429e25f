"""Running read queries on ClickHouse: limits on every query, driver errors classified once.

Reads run side by side on a pool of clients (a clickhouse-connect client runs one statement at a
time: chDB's handle and an HTTP session both serialize), each borrowed for one statement."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from query_api import metrics
from query_api.errors import ClickHouseUnavailableError, QueryError, QueryTimeoutError, ResultTooLargeError

log = logging.getLogger(__name__)

# ClickHouse error codes: TOO_MANY_ROWS, TOO_MANY_BYTES, TOO_MANY_ROWS_OR_BYTES; TIMEOUT_EXCEEDED.
RESULT_TOO_LARGE_CODES = frozenset({158, 307, 396})
TIMEOUT_CODE = 159
CORES = os.cpu_count() or 1


def classify(exc: ClickHouseError) -> QueryError:
    """The one mapping of driver errors to API errors."""
    code = getattr(exc, "code", None)
    metrics.count_error(code)
    if code in RESULT_TOO_LARGE_CODES:
        return ResultTooLargeError("the answer is larger than the configured limits: narrow the range or add filters")
    if code == TIMEOUT_CODE:
        return QueryTimeoutError("the query ran longer than LOGSTREAM_QUERY_MAX_EXECUTION_S allows: "
                                 "narrow the range or add filters")
    return ClickHouseUnavailableError(f"the query could not run: {str(exc)[:200]}", headers={"Retry-After": "1"})


class Store:
    """`client` serves pings, inserts and the readiness checks; reads borrow one of `connections`
    clients (`client` and connections - 1 opened with `open_client`)."""

    def __init__(self, client: Client, *, max_execution_s: float, max_result_rows: int,
                 max_result_bytes: int = 256 * 1024 * 1024, open_client: Callable[[], Client] | None = None,
                 connections: int = 1):
        self.client = client
        self.settings = {"max_execution_time": max_execution_s, "max_result_rows": max_result_rows,
                         "max_result_bytes": max_result_bytes, "result_overflow_mode": "throw",
                         "use_uncompressed_cache": 1}  # where the engine has one (CHDB_OPTIONS)
        self._open_client = open_client
        if connections > 1 and open_client is None:
            raise ValueError("a pool of more than one connection needs open_client")
        self._pool = [client] + [open_client() for _ in range(connections - 1)] if open_client else [client]
        self._idle: queue.SimpleQueue[Client] = queue.SimpleQueue()
        for pooled in self._pool:
            self._idle.put(pooled)
        self._reading = 0  # reads running now
        self._reading_lock = threading.Lock()

    @contextmanager
    def _borrowed(self) -> Iterator[Client]:
        client = self._idle.get()
        try:
            yield client
        finally:
            self._idle.put(client)

    def close(self) -> None:
        for client in self._pool:
            client.close()

    async def rows(self, sql: str, parameters: dict[str, Any], *, max_rows: int | None = None) -> list[tuple[Any, ...]]:
        settings = self.settings if max_rows is None else {**self.settings, "max_result_rows": max_rows}
        return await asyncio.to_thread(self._rows, sql, parameters, settings)

    @contextmanager
    def _threads_shared(self, settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The settings of a read, with the engine's threads shared among the reads running beside it: a
        read alone takes every core, and reads side by side split them instead of each starting a thread
        per core to contend for the same cores."""
        with self._reading_lock:
            self._reading += 1
            reading = self._reading
        try:
            yield settings if reading == 1 else {**settings, "max_threads": max(1, CORES // reading)}
        finally:
            with self._reading_lock:
                self._reading -= 1

    def _rows(self, sql: str, parameters: dict[str, Any], settings: dict[str, Any]) -> list[tuple[Any, ...]]:
        try:
            with self._borrowed() as client, self._threads_shared(settings) as shared:
                result = client.query(sql, parameters=parameters, settings=shared)
        except ClickHouseError as exc:
            raise classify(exc) from exc
        metrics.count_result(result)
        return result.result_rows

    def stream(self, statements: Iterable[tuple[str, dict[str, Any]]], settings: dict[str, Any]) -> Iterator[bytes]:
        """The first column (bytes, one line per row) of each statement in turn, a block at a time, on a
        client of its own: an open stream holds its client until it is consumed."""
        if self._open_client is None:
            raise RuntimeError("this store cannot open streaming clients")
        client = self._open_client()
        try:
            for sql, parameters in statements:
                with client.query_column_block_stream(sql, parameters=parameters, settings=settings,
                                                      query_formats={"String": "bytes"}) as blocks:
                    for block in blocks:
                        yield b"".join(block[0])
        except ClickHouseError as exc:
            metrics.count_error(getattr(exc, "code", None))
            log.exception("an export stopped mid-stream; the response ends without its last chunk")
            raise
        finally:
            client.close()

    async def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]) -> None:
        await asyncio.to_thread(self._insert, table, rows, column_names)

    def _insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]) -> None:
        try:
            self.client.insert(table, rows, column_names=column_names)
        except ClickHouseError as exc:
            raise ClickHouseUnavailableError(f"the insert could not run: {str(exc)[:200]}",
                                             headers={"Retry-After": "1"}) from exc

    def ping(self) -> bool:
        try:
            return self.client.query("SELECT 1").result_rows == [(1,)]
        except ClickHouseError:
            return False
