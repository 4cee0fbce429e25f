"""Dense numbers for user and session ids, so the rollups count distinct ids as roaring bitmaps.

An id's number is the first row for it in `id_numbers` (infra/clickhouse/0015): the lowest
`_block_number`, which the engine gives each insert when it commits, in commit order. A writer that
meets ids it has no number for inserts a row for each, then reads back each id's first row. Of two
writers numbering one id at once, the one that commits first wins and the other reads the winner's
number back, since its own insert committed later: both use the same number, whichever reads
first. A number that lost is never used again.

Numbers come from blocks of ID_NUMBER_BLOCK that a writer claims in `number_claims` the same way (a
claim is won by the first row for its block), so two writers never hand out the same number. A
block a writer stops using (it restarts, it loses a claim) leaves a gap; the bitmaps do not mind.

This holds on one ClickHouse server (block numbers are local). On a replicated table, block numbers
come from Keeper at insert, not in commit order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from clickhouse_connect.driver.client import Client

from logstream.clickhouse import ID_NUMBER_BLOCK
from stream.table_insert import TableInsert

USER, SESSION = "user", "session"
CACHE_LIMIT = 100_000  # ids per kind kept in memory (~15 MB each when full); then it starts afresh

# {table}: the table's name, in full; the values travel as server-side parameters.
FIRST_NUMBERS = """
SELECT toString(kind), id, argMin(number, _block_number) FROM {table}
WHERE kind = {{kind:String}} AND id IN {{ids:Array(String)}} GROUP BY kind, id
"""
NEXT_BLOCK = "SELECT max(block) + 1, count() FROM {table}"
CLAIM_WINNER = "SELECT argMin(claimer, _block_number) FROM {table} WHERE block = {{block:UInt32}}"


class IdNumbers:
    """Numbers ids for one database's `actions`; safe with any number of writers at once."""

    def __init__(self, client: Client, database: str | None = None):
        """`database`: where `id_numbers` lives, if not the client's (a rebuild numbers its ids as
        the live database does, so its states equal the live ones and can be swapped in)."""
        self._client = client
        prefix = f"`{database}`." if database else ""
        self._numbers_table, self._claims_table = f"{prefix}id_numbers", f"{prefix}number_claims"
        self._insert_numbers = TableInsert(client, self._numbers_table, ("kind", "id", "number"))
        self._claimer = uuid.uuid4()
        self._next = self._end = 0
        self._known: dict[str, dict[str, int]] = {USER: {}, SESSION: {}}

    def numbers(self, kind: str, ids: Sequence[str]) -> list[int]:
        """The number of each id, in order; numbers the ids that have none yet."""
        known = self._known[kind]
        missing = {i for i in ids if i not in known}
        if missing and len(known) + len(missing) > CACHE_LIMIT:
            known.clear()
            missing = set(ids)
        if missing:
            for text in missing:
                text.encode()  # an id that is not UTF-8 raises UnicodeEncodeError: the sink's refusal, as in its insert
            found = self._first_numbers(kind, missing)
            new = sorted(missing - found.keys())
            if new:
                self._insert_numbers([[kind] * len(new), new, self._allocate(len(new))])
                found |= self._first_numbers(kind, new)
            known.update(found)
        return [known[i] for i in ids]

    def _first_numbers(self, kind: str, ids: Iterable[str]) -> dict[str, int]:
        rows = self._client.query(FIRST_NUMBERS.format(table=self._numbers_table),
                                  parameters={"kind": kind, "ids": list(ids)}).result_rows
        return {row[1]: row[2] for row in rows}

    def _allocate(self, count: int) -> list[int]:
        numbers: list[int] = []
        while len(numbers) < count:
            if self._next == self._end:
                self._claim_block()
            take = min(count - len(numbers), self._end - self._next)
            numbers.extend(range(self._next, self._next + take))
            self._next += take
        return numbers

    def _claim_block(self) -> None:
        while True:
            block, claims = self._client.query(NEXT_BLOCK.format(table=self._claims_table)).result_rows[0]
            block = block if claims else 0
            self._client.insert(self._claims_table, [[block, self._claimer]], column_names=["block", "claimer"])
            winner = self._client.query(CLAIM_WINNER.format(table=self._claims_table),
                                        parameters={"block": block}).result_rows[0][0]
            if winner == self._claimer:
                self._next, self._end = max(block * ID_NUMBER_BLOCK, 1), (block + 1) * ID_NUMBER_BLOCK  # 0: no number
                return
