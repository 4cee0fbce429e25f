"""The users whose logs the stream drops: those erased (`erased_users`, written by stream/erasure.py).

Re-read at most every `refresh_s`, so an erasure reaches every worker within that time; the eraser's
passes go on for longer than that (LOGSTREAM_ERASURE_SETTLE_S), which erases what slipped through.
"""

from __future__ import annotations

import time

import orjson
from clickhouse_connect.driver.client import Client

ERASED_USERS = "SELECT DISTINCT user_id FROM erased_users"


class Suppression:
    def __init__(self, client: Client, refresh_s: float = 1.0):
        self._client, self._refresh_s = client, refresh_s
        self.users: frozenset[str] = frozenset()
        self._read_at = float("-inf")

    def refresh_if_due(self) -> None:
        if time.monotonic() - self._read_at >= self._refresh_s:
            self.users = frozenset(row[0] for row in self._client.query(ERASED_USERS).result_rows)
            self._read_at = time.monotonic()

    def keeps(self, value: bytes | None) -> bool:
        """False for a log of an erased user; anything else (including what is not a log) is kept,
        for the stream to store or dead-letter."""
        if not self.users or not value:
            return True
        try:
            log = orjson.loads(value)
        except orjson.JSONDecodeError:
            return True
        return not (isinstance(log, dict) and log.get("userId") in self.users)
