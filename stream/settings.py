from __future__ import annotations

from pydantic import Field

from logstream.settings import ClickHouseSettings, ContractSettings, KafkaSettings, MetricsSettings, Port


class StreamSettings(KafkaSettings, ClickHouseSettings, ContractSettings, MetricsSettings):
    stream_group: str = Field("logstream-stream", min_length=1)
    stream_batch_size: int = Field(10_000, ge=1, le=200_000)
    # A batch is stored as soon as the consumer has nothing more buffered (stream/take.py), or at
    # stream_batch_size records; this bounds the wait of a partial batch while records keep trickling in.
    stream_batch_within_s: float = Field(0.2, gt=0, le=60)
    # How long stored rows wait for more before they are fed to the rollups that summaries read
    # (stream/rollup_feed.py): how far summaries may lag the rows, beyond the feed itself.
    stream_rollup_gather_s: float = Field(0.2, ge=0, le=10)
    # Longest wait of a fetch on a quiet topic (Faust's own 1.5 s delays records on the embedded broker,
    # which answers a fetch only when this wait is over): a lower bound of freshness there.
    stream_fetch_max_wait_ms: int = Field(10, ge=1, le=10_000)
    # Larger records (only other producers can write them) go to the DLQ as too_large.
    stream_max_record_bytes: int = Field(1 << 20, ge=1024)
    # How often Faust commits the offsets of batches already in ClickHouse.
    stream_commit_interval_s: float = Field(1.0, gt=0, le=3600)
    # On SIGTERM, keep consuming until the topic has been quiet this long (the embedded default
    # drains every accepted log into ClickHouse before its in-memory broker stops).
    stream_drain_on_stop: bool = False
    stream_drain_idle_s: float = Field(2.0, gt=0, le=60)
    stream_drain_timeout_s: float = Field(120.0, gt=0)
    # Keep every raw record (and dead letter) in ClickHouse before committing its offset: the
    # long-term event store `logstream replay` rebuilds from. Off only where Kafka keeps the raw
    # topic forever (then replay reads it with --source topic).
    archive_enabled: bool = True
    stream_retry_max_backoff_s: float = Field(5.0, gt=0, le=300)
    # Publish every stored action to LOGSTREAM_ACTIONS_TOPIC (at least once; docs/topics.md).
    stream_publish_actions: bool = True
    # Erasure (docs/privacy.md): how often each worker re-reads the erased users, and how long an
    # erasure keeps looking for their logs already in flight (at least a few refreshes).
    erasure_refresh_s: float = Field(1.0, gt=0, le=60)
    erasure_settle_s: float = Field(10.0, ge=0, le=3600)
    # Retention (docs/privacy.md), whole months: actions and rollups, and the archive; 0 keeps all.
    retention_days: int = Field(0, ge=0)
    archive_retention_days: int = Field(0, ge=0)
    retention_check_interval_s: float = Field(3600.0, gt=0)
    # Standalone `logstream stream` serves /healthz and /readyz here.
    stream_host: str = "127.0.0.1"
    stream_port: Port = 8002
