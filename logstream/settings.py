"""Settings shared by every service: one place, read from LOGSTREAM_* variables only.

Each service composes the groups it needs into its own frozen settings class
(`producer_api.settings`, `stream.settings`, `query_api.settings`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "LOGSTREAM_"
REPO_ROOT = Path(__file__).resolve().parents[1]

Port = Annotated[int, Field(ge=1, le=65535)]
# A comma-separated list in its variable: LOGSTREAM_WRITE_KEYS=key-one,key-two
CommaSeparated = Annotated[tuple[str, ...], NoDecode]
Keys = Annotated[tuple[SecretStr, ...], NoDecode]
MIN_KEY_LENGTH = 16


def split_commas(value: object) -> object:
    return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value


class BaseConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")


class LoggingSettings(BaseConfig):
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # json: one JSON object a line (time, level, logger, message, request_id), for a log pipeline
    log_format: Literal["text", "json"] = "text"


class MetricsSettings(BaseConfig):
    """Prometheus metrics (logstream.metrics): GET /metrics and the HTTP request families."""

    metrics_enabled: bool = True


class ContractSettings(BaseConfig):
    """What the producer and the stream must agree on: both check records against it."""

    # An action dated more than this past the server's clock when its log was received is refused
    # (time_in_future). Whole seconds: the check is exact to the millisecond on both paths.
    max_future_s: int = Field(24 * 3600, ge=0, le=100 * 365 * 24 * 3600)

    @property
    def max_future(self) -> timedelta:
        return timedelta(seconds=self.max_future_s)


class KeySettings(BaseConfig):
    """API keys (logstream.security). No keys: no key is asked for (the embedded default)."""

    write_keys: Keys = ()  # may ingest
    read_keys: Keys = ()  # may query
    erase_keys: Keys = ()  # may request and follow erasures (POST/GET /v1/erasures)
    # What the producer shows the query service's /internal/ routes (open if unset).
    internal_key: SecretStr | None = None

    @field_validator("write_keys", "read_keys", "erase_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("write_keys", "read_keys", "erase_keys")
    @classmethod
    def _long_enough(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(key.get_secret_value()) < MIN_KEY_LENGTH for key in keys):
            raise ValueError(f"every key needs at least {MIN_KEY_LENGTH} characters")
        return keys

    @field_validator("internal_key")
    @classmethod
    def _internal_long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"the key needs at least {MIN_KEY_LENGTH} characters")
        return key


class HotRoutesSettings(BaseConfig):
    """Whether a service answers its hot routes beneath FastAPI's routing (logstream.hot_routes)."""

    hot_routes: bool = True


class TopicSpecSettings(BaseConfig):
    # The topic spec; the topics' JSON Schemas (schemas/) and AsyncAPI document live beside it.
    topics_spec: Path = REPO_ROOT / "infra" / "kafka" / "topics.yaml"


class KafkaSettings(TopicSpecSettings):
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1)
    raw_topic: str = Field("logstream.logs.raw.v1", min_length=1)
    dlq_topic: str = Field("logstream.logs.dlq.v1", min_length=1)
    # One record per stored action, published by the stream (logstream.schemas, docs/topics.md).
    actions_topic: str = Field("logstream.actions.v1", min_length=1)
    # Erasure requests (POST /v1/erasures): part of the log, carried out by the stream (docs/privacy.md).
    erasures_topic: str = Field("logstream.erasures.v1", min_length=1)
    # Per raw-topic partition, the offset below which the stream has stored every record: published
    # by the stream after each batch, followed by the producer for read-your-writes (docs/architecture.md).
    watermarks_topic: str = Field("logstream.watermarks.v1", min_length=1)
    # Group joins on the embedded broker wait about session.timeout / 2 (EMBEDDED.md).
    kafka_session_timeout_ms: int = Field(6000, ge=1000, le=300_000)


class ClickHouseSettings(BaseConfig):
    # chdb:///abs/dir (embedded, one process owns it) or http(s)://user:pass@host:8123
    clickhouse_dsn: str = "chdb://./data/clickhouse"
    clickhouse_database: str = Field("logstream", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    migrations_dir: Path = REPO_ROOT / "infra" / "clickhouse"

    @model_validator(mode="after")
    def _known_scheme(self) -> Self:
        if not self.clickhouse_dsn.startswith(("chdb://", "http://", "https://")):
            raise ValueError("clickhouse_dsn must start with chdb://, http:// or https://")
        return self


def describe(error: ValidationError) -> str:
    """One line naming the bad variable, for refusing to boot."""
    first = error.errors()[0]
    name = ENV_PREFIX + "_".join(str(part) for part in first["loc"]).upper() if first["loc"] else ""
    message = first["msg"].removeprefix("Value error, ")
    if not name:  # model-level check: the message names the field
        field = message.split(" ", 1)[0]
        name = ENV_PREFIX + field.upper()
    return f"invalid setting {name}: {message}"
