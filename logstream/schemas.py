"""The topics' published contract: JSON Schema documents, the AsyncAPI document, record headers.

The documents live beside the topic spec, in infra/kafka/ (schemas/<topic>.json, asyncapi.yaml);
the query API serves them and tests hold them to `logstream.contract`. Every record logstream
writes carries `headers(...)`: its media type, its schema id with the major version, what wrote it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson

from logstream import __version__
from logstream.settings import REPO_ROOT

# Beside the topic spec (LOGSTREAM_TOPICS_SPEC); the query API passes the directory it is given.
KAFKA_DIR = REPO_ROOT / "infra" / "kafka"

CONTENT_TYPE_HEADER = "content-type"
SCHEMA_HEADER = "logstream.schema"
PRODUCER_HEADER = "logstream.producer"
ROUTE_HEADER = "logstream.route"

RAW_SCHEMA = "logstream.logs.raw/1"
ACTIONS_SCHEMA = "logstream.actions/1"
DLQ_SCHEMA = "logstream.logs.dlq/1"
ERASURES_SCHEMA = "logstream.erasures/1"
PRODUCER = f"logstream/{__version__}"
STREAM_PRODUCER = f"{PRODUCER} stream"


def headers(schema: str, producer: str = PRODUCER, content_type: str = "application/json",
            extra: dict[str, str] | None = None) -> list[tuple[str, bytes]]:
    """The headers of a record logstream writes (values UTF-8), `extra` ones last."""
    pairs = [(CONTENT_TYPE_HEADER, content_type), (SCHEMA_HEADER, schema), (PRODUCER_HEADER, producer),
             *(extra or {}).items()]
    return [(name, value.encode()) for name, value in pairs]


def schema_of(record_headers: list[tuple[str, bytes]] | dict[str, bytes] | None, default: str = RAW_SCHEMA) -> str:
    """The schema a record declares; a record without the header (another producer's) is `default`."""
    pairs = record_headers.items() if isinstance(record_headers, dict) else (record_headers or ())
    for name, value in pairs:
        if name == SCHEMA_HEADER and value is not None:
            return value.decode(errors="replace")
    return default


def schema_names(kafka_dir: Path = KAFKA_DIR) -> list[str]:
    """The published schemas, named after their topic: logstream.logs.raw.v1, ..."""
    return sorted(path.stem for path in (kafka_dir / "schemas").glob("*.json"))


@functools.cache
def schema(name: str, kafka_dir: Path = KAFKA_DIR) -> dict[str, Any]:
    """One schema document; KeyError for a name that is not published."""
    if name not in schema_names(kafka_dir):
        raise KeyError(name)
    return orjson.loads((kafka_dir / "schemas" / f"{name}.json").read_bytes())


def asyncapi_text(kafka_dir: Path = KAFKA_DIR) -> str:
    return (kafka_dir / "asyncapi.yaml").read_text()
