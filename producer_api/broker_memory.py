"""The embedded broker keeps every record in memory and implements no retention (EMBEDDED.md), so it
grows with all that was ever ingested. Past a bound its process may not cross, ingest is refused
(503 broker_memory_full) before the machine runs out of memory: never a crash, never a lost 202.
A restart of `logstream up` starts a fresh broker; what was stored stays in ClickHouse and what was
not yet drained is spooled and published again (embedded/spool.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from producer_api.errors import BrokerMemoryFullError

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def resident_bytes(pid: int) -> int | None:
    """The process's resident memory, or None if it is gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


class BrokerMemory:
    def __init__(self, pid: int | None, limit_mb: int, *, every_s: float = 1.0):
        self._pid, self._limit, self._every_s = pid, limit_mb * MIB, every_s
        self._checked_at = float("-inf")
        self._resident: int | None = None

    def check(self) -> None:
        """Raises BrokerMemoryFullError once the broker's resident memory is past the limit (read at
        most once per `every_s`: a request costs no system call)."""
        if self._pid is None:
            return
        now = time.monotonic()
        if now - self._checked_at >= self._every_s:
            self._resident, self._checked_at = resident_bytes(self._pid), now
        if self._resident is not None and self._resident > self._limit:
            raise BrokerMemoryFullError(
                f"the embedded broker holds {self._resident // MIB} MiB of records in memory, past its limit of "
                f"{self._limit // MIB} MiB (LOGSTREAM_BROKER_MAX_RSS_MB); it keeps every record and cannot free "
                "them. Restart `logstream up` to start a fresh broker (nothing accepted is lost), or run with "
                "Apache Kafka.", headers={"Retry-After": "60"})
