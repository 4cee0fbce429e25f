from __future__ import annotations

from pydantic import Field, field_validator

from logstream.settings import (
    CommaSeparated,
    ContractSettings,
    HotRoutesSettings,
    KafkaSettings,
    KeySettings,
    MetricsSettings,
    Port,
    split_commas,
)


class ProducerSettings(KafkaSettings, ContractSettings, KeySettings, HotRoutesSettings, MetricsSettings):
    host: str = "127.0.0.1"
    port: Port = 8000
    # Bytes on the wire (413 payload_too_large), and what a gzip body may inflate to (413 decompressed_too_large).
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_decompressed_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_logs_per_request: int = Field(10_000, ge=1)  # 413 too_many_logs
    # One log is one Kafka record: at most this many bytes (413 log_too_large); Kafka's default
    # max.message.bytes is 1 MiB, and the topic's must be at least this.
    max_record_bytes: int = Field(1_000_000, ge=10_000, le=64 * 1024 * 1024)
    # A POST waits at most this long for the broker's acks, then answers 503.
    publish_timeout_ms: int = Field(5000, ge=100, le=120_000)
    kafka_linger_ms: int = Field(5, ge=0, le=1000)
    kafka_compression: str = Field("lz4", pattern="^(none|gzip|snappy|lz4|zstd)$")
    kafka_queue_max_messages: int = Field(200_000, ge=100)
    # Logs of erased users (docs/privacy.md): `refuse` answers 422 user_erased; `drop` accepts them
    # and the stream drops them (it always does). The list is re-read every erased_users_refresh_s.
    erased_users: str = Field("refuse", pattern="^(refuse|drop)$")
    erased_users_refresh_s: float = Field(5.0, gt=0, le=3600)
    # The query API (and stream, when separate) whose routes this front door forwards.
    query_url: str | None = None
    stream_url: str | None = None
    retry_after_s: int = Field(1, ge=1)
    # The embedded broker's process (set by `logstream up`) and the resident memory it may reach before
    # ingest is refused (503 broker_memory_full): it keeps every record in memory, forever.
    broker_pid: int | None = None
    broker_max_rss_mb: int = Field(2048, ge=16)
    # Read-your-writes (compatibility routes, POST /v1/logs?wait=visible): how long a write waits,
    # after the broker's acks, for its actions to be queryable before it answers 504.
    visible_timeout_s: float = Field(5.0, gt=0, le=60)
    # Longest wait of a fetch of the stream's stored watermarks (LOGSTREAM_WATERMARKS_TOPIC) that
    # read-your-writes follows: the embedded broker answers a fetch only when this wait is over.
    visible_fetch_wait_ms: int = Field(10, ge=1, le=1000)
    # Per API key, a token bucket (when keys are on): this many requests a second, bursts of up to
    # rate_limit_burst; 0 turns it off. Over it: 429 rate_limited with Retry-After.
    rate_limit_per_s: float = Field(1000.0, ge=0)
    rate_limit_burst: int = Field(2000, ge=1)
    # Browser origins allowed to call the API (CORS), e.g. https://app.example.com; "*" for any.
    cors_origins: CommaSeparated = ()

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return split_commas(value)
