"""Column-oriented inserts into one table, its column types looked up once.

clickhouse-connect's `insert` describes the table (one more request and query to the engine) on
every call unless it is given an insert context to reuse; the stream inserts into the same tables
batch after batch. After a failed insert the context is dropped and the next insert describes the
table again (a migration may have changed it meanwhile).

The first insert also imports pandas and numpy, if installed (clickhouse-connect checks whether the
data is a DataFrame): 0.5-2 s on the first batch's path, unless `warm_up` ran at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver import options
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext


class TableInsert:
    def __init__(self, client: Client, table: str, columns: Sequence[str], settings: dict[str, Any] | None = None):
        self._client, self._table, self._columns, self._settings = client, table, tuple(columns), settings
        self._context: InsertContext | None = None

    def __call__(self, data: Sequence[Sequence[Any]], settings: dict[str, Any] | None = None) -> None:
        """Insert `data`, one list per column in the order of `columns`; `settings`: this insert's own,
        over those given at construction."""
        context, self._context = self._context, None
        if context is None:
            context = self._client.create_insert_context(self._table, self._columns, column_oriented=True,
                                                         settings=self._settings)
        context.settings = {**(self._settings or {}), **(settings or {})}
        self._client.insert(data=data, context=context)  # empties the context, as it was, once done
        self._context = context


def warm_up() -> None:
    """Blocking: the imports clickhouse-connect makes lazily at the first insert."""
    _ = options.pd, options.np
