"""Columnar inserts with reused insert contexts.

Given only column names, clickhouse-connect asks the engine for the table's column types (a
`DESCRIBE TABLE` round trip) before every insert: on the path of each batch, twice (archive and
actions), a few milliseconds each over HTTP. A context per table is built once and reused; it is
dropped after a failed insert, so the next attempt describes the table again.

The first insert also imports pandas and numpy, if installed (clickhouse-connect checks whether the
data is a DataFrame): 0.5-2 s on the first batch's path, unless `warm_up` ran at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver import options
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext


class Inserts:
    def __init__(self, client: Client):
        self._client = client
        self._contexts: dict[tuple[str, tuple[str, ...]], InsertContext] = {}

    def columns(self, table: str, names: Sequence[str], data: Sequence[Sequence[Any]],
                settings: dict[str, Any] | None = None) -> None:
        """Insert column-oriented `data` into `names` of `table` (with these settings, fixed per table)."""
        key = (table, tuple(names))
        context = self._contexts.get(key)
        if context is None:
            context = self._client.create_insert_context(table, column_names=list(names), column_oriented=True,
                                                         settings=settings)
            self._contexts[key] = context
        try:
            self._client.insert(data=data, context=context)
        except BaseException:
            del self._contexts[key]
            raise


def warm_up() -> None:
    """Blocking: the imports clickhouse-connect makes lazily at the first insert."""
    _ = options.pd, options.np
