"""Running read queries on ClickHouse: limits on every query, driver errors classified once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from query_api.errors import ClickHouseUnavailableError


class Store:
    def __init__(self, client: Client, *, max_execution_s: float, max_result_rows: int):
        self.client = client
        self._settings = {"max_execution_time": max_execution_s, "max_result_rows": max_result_rows,
                          "result_overflow_mode": "throw"}

    async def rows(self, sql: str, parameters: dict[str, Any], *,
                   max_rows: int | None = None) -> list[tuple[Any, ...]]:
        """`max_rows` raises the result bound for a query that brings its own LIMIT."""
        settings = self._settings if max_rows is None else {**self._settings, "max_result_rows": max_rows}
        return await asyncio.to_thread(self._rows, sql, parameters, settings)

    def _rows(self, sql: str, parameters: dict[str, Any], settings: dict[str, Any]) -> list[tuple[Any, ...]]:
        try:
            return self.client.query(sql, parameters=parameters, settings=settings).result_rows
        except ClickHouseError as exc:
            raise ClickHouseUnavailableError(f"the query could not run: {str(exc)[:200]}",
                                             headers={"Retry-After": "1"}) from exc

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
