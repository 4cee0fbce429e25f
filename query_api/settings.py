from __future__ import annotations

from pydantic import Field

from logstream.settings import (
    ClickHouseSettings,
    HotRoutesSettings,
    KeySettings,
    MetricsSettings,
    Port,
    TopicSpecSettings,
)


class QuerySettings(TopicSpecSettings, ClickHouseSettings, KeySettings, HotRoutesSettings, MetricsSettings):
    """The query API's settings. A process that hosts more than the query API (the embedded
    default's chDB owner) composes its own class above this one (embedded/chdb_owner.py)."""

    query_host: str = "127.0.0.1"
    query_port: Port = 8001
    query_max_execution_s: float = Field(10.0, gt=0, le=600)
    query_max_limit: int = Field(10_000, ge=1, le=1_000_000)
    # Engine connections the reads share: as many statements run side by side.
    query_connections: int = Field(4, ge=1, le=64)
    # Tests only: /internal/faults/* (e.g. ClickHouse made unavailable for a while).
    query_fault_injection: bool = False
    # The compatibility routes have no pagination: a read matching more actions is refused (400).
    compat_max_actions: int = Field(100_000, ge=1, le=10_000_000)
    # Every read query's result is capped (ClickHouse max_result_bytes); over it, a 400.
    query_max_result_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    # Largest number of time-series buckets one request may ask for.
    query_max_buckets: int = Field(10_000, ge=1, le=1_000_000)
    # Exports stream in windows of time, each its own query with these limits.
    query_export_max_rows: int = Field(100_000_000, ge=1)
    query_export_max_execution_s: float = Field(3600.0, gt=0)
    # GET /v1/actions/live: how often each client's stream looks for new actions, and the most
    # actions one event carries (what a client's stream holds in memory at once).
    live_poll_s: float = Field(0.25, ge=0.01, le=10)
    live_batch: int = Field(500, ge=1, le=10_000)
    # How far back each poll reads, for inserts that overlapped (longer than any one insert takes).
    live_lookback_s: float = Field(5.0, ge=0, le=300)
