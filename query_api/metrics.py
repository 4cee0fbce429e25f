"""The query API's metrics (logstream.metrics has the HTTP families, latency by route among them).
Registered by the app when it is built (logstream.metrics.register)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge

ROWS_READ = Counter("logstream_query_rows_read", "Rows ClickHouse read to answer queries (its query summary)",
                    registry=None)
ROWS_RETURNED = Counter("logstream_query_rows_returned", "Rows the read queries returned", registry=None)
CLICKHOUSE_ERRORS = Counter("logstream_query_clickhouse_errors",
                            "Read queries ClickHouse failed, by its error code (0: no code, e.g. unreachable)",
                            ["code"], registry=None)
EXPORTS_IN_PROGRESS = Gauge("logstream_query_exports_in_progress", "Exports streaming now", registry=None)
FAMILIES = (ROWS_READ, ROWS_RETURNED, CLICKHOUSE_ERRORS, EXPORTS_IN_PROGRESS)


def count_result(result: Any) -> None:
    """A clickhouse-connect QueryResult: its rows, and what the engine says it read."""
    ROWS_RETURNED.inc(result.row_count)
    summary = getattr(result, "summary", None) or {}
    read = summary.get("read_rows")
    if read:
        ROWS_READ.inc(int(read))


def count_error(code: int | None) -> None:
    CLICKHOUSE_ERRORS.labels(str(code or 0)).inc()
