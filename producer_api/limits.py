"""The producer's limits that are deployment choices (settings), checked before anything is published.
The limits of one log's shape are the contract's (logstream.contract)."""

from __future__ import annotations

from typing import Any

import orjson

from producer_api.errors import InvalidLogsError, LogTooLargeError, TooManyLogsError
from producer_api.settings import ProducerSettings


def check_log_count(document: Any, settings: ProducerSettings) -> None:
    """Before validation: an array of more than LOGSTREAM_MAX_LOGS_PER_REQUEST logs is refused whole."""
    limit = settings.max_logs_per_request
    if isinstance(document, list) and len(document) > limit:
        raise TooManyLogsError(f"{len(document)} logs in one request; the limit is {limit}: send several requests")


def record_value(document: dict[str, Any], index: int, max_bytes: int) -> bytes:
    """The record's bytes, or a 4xx: deeper than JSON encoders go (only unknown members can be, the
    contract bounds the properties), or larger than one record may be (LOGSTREAM_MAX_RECORD_BYTES)."""
    try:
        value = orjson.dumps(document)
    except orjson.JSONEncodeError as exc:
        problem = {"path": f"[{index}]", "code": "too_deep", "message": f"the log cannot be encoded: {exc}"}
        raise InvalidLogsError("1 problem(s) in the logs; nothing was accepted", errors=[problem]) from None
    if len(value) + len(document["userId"].encode()) > max_bytes:
        problem = {"path": f"[{index}]", "code": "log_too_large",
                   "message": f"this log is {len(value)} bytes as a record; the limit is {max_bytes}: "
                              "send its actions in several logs"}
        raise LogTooLargeError(f"a log is larger than one record may be ({max_bytes} bytes); nothing was accepted",
                               errors=[problem])
    return value
