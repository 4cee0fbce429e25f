"""Dense numbers for user and session ids, so the rollups count distinct ids as roaring bitmaps.

An id's number is the first row for it in `id_numbers` (infra/clickhouse/0015): the lowest
`_block_number`, which the engine gives each insert when it commits, in commit order (checked on
chDB 26.9: of two inserts, the one begun later but committed first got the lower number). A writer that
meets ids it has no number for inserts a row for each, then reads back each id's first row. Of two
writers numbering one id at once, the one that commits first wins and the other reads the winner's
number back, since its own insert committed later: both use the same number, whichever reads
first. A number that lost is never used again.

The stream numbers ids as it feeds the rollups (stream/rollup_feed.py), after the rows are stored:
its sink stores a row with the numbers this writer already `known`, 0 for the others.

Numbers come from blocks of ID_NUMBER_BLOCK that a writer claims in `number_claims` the same way (a
claim is won by the first row for its block), so two writers never hand out the same number. A
block a writer stops using (it restarts, it loses a claim) leaves a gap; the bitmaps do not mind.

This holds on one ClickHouse server (block numbers are local). On a replicated table, block numbers
come from Keeper at insert, not in commit order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence

from clickhouse_connect.driver.client import Client

from logstream.clickhouse import ID_NUMBER_BLOCK, NEXT_CLAIM_BLOCK, first_number_of_block
from stream.table_insert import TableInsert

USER, SESSION = "user", "session"
CACHE_LIMIT = 100_000  # ids per kind kept in memory (~15 MB each when full); then it starts afresh

# {table}: the table's name, in full; the values travel as server-side parameters. Both kinds at
# once: a batch's new users and sessions cost three statements together (look up, insert, read back).
FIRST_NUMBERS = """
SELECT toString(kind), id, argMin(number, _block_number) FROM {table}
WHERE (kind = 'user' AND id IN {{users:Array(String)}}) OR (kind = 'session' AND id IN {{sessions:Array(String)}})
GROUP BY kind, id
"""
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

    def known(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
        """The numbers this writer already knows, 0 for the others: no statement, safe beside
        `numbers_of` in another thread (the sink stores rows with these; the feed numbers the rest)."""
        return {kind: [self._known[kind].get(i, 0) for i in ids] for kind, ids in wanted.items()}

    def numbers(self, kind: str, ids: Sequence[str]) -> list[int]:
        """The number of each id, in order; numbers the ids that have none yet."""
        return self.numbers_of({kind: ids})[kind]

    def numbers_of(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
        """`numbers` of several kinds at once, in the same statements."""
        missing: dict[str, set[str]] = {}
        for kind, ids in wanted.items():
            known = self._known[kind]
            absent = {i for i in ids if i not in known}
            if absent and len(known) + len(absent) > CACHE_LIMIT:  # a new dict: `known` may be read meanwhile
                known = self._known[kind] = {}
                absent = set(ids)
            if absent:
                missing[kind] = absent
        if missing:
            for absent in missing.values():  # an id that is not UTF-8 raises UnicodeEncodeError here:
                for text in absent:          # the sink's refusal, as in its insert
                    text.encode()
            found = self._first_numbers(missing)
            new = {kind: sorted(fresh) for kind, absent in missing.items() if (fresh := absent - found[kind].keys())}
            if new:
                kinds = [kind for kind, ids in new.items() for _ in ids]
                ids = [i for kind_ids in new.values() for i in kind_ids]
                self._insert_numbers([kinds, ids, self._allocate(len(ids))])
                for kind, numbered in self._first_numbers(new).items():
                    found[kind] |= numbered
            for kind, numbered in found.items():
                self._known[kind].update(numbered)
        return {kind: [self._known[kind][i] for i in ids] for kind, ids in wanted.items()}

    def _first_numbers(self, ids: Mapping[str, Iterable[str]]) -> dict[str, dict[str, int]]:
        rows = self._client.query(FIRST_NUMBERS.format(table=self._numbers_table),
                                  parameters={"users": list(ids.get(USER, ())),
                                              "sessions": list(ids.get(SESSION, ()))}).result_rows
        found: dict[str, dict[str, int]] = {kind: {} for kind in ids}
        for kind, text, number in rows:
            found[kind][text] = number
        return found

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
            block = self._client.query(NEXT_CLAIM_BLOCK.format(table=self._claims_table)).result_rows[0][0]
            self._client.insert(self._claims_table, [[block, self._claimer]], column_names=["block", "claimer"])
            winner = self._client.query(CLAIM_WINNER.format(table=self._claims_table),
                                        parameters={"block": block}).result_rows[0][0]
            if winner == self._claimer:
                self._next, self._end = first_number_of_block(block), (block + 1) * ID_NUMBER_BLOCK
                return
