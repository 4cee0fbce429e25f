"""The contract's fast path: the same rules as `logstream.contract`, checked on plain parsed JSON
with no model objects, for the hot paths (the producer's 202 and the stream's split).

It may refuse what the contract accepts (rare shapes, e.g. an eventId not in canonical form); the
callers then ask the contract itself, which also lists every problem. It never accepts what the
contract refuses: tests/property/test_quick_validate.py holds the two to that.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from hashlib import sha1
from typing import Any

from pydantic_core import PydanticCustomError

from logstream.contract import (
    ID_MAX_LENGTH,
    epoch_millis,
    offset_text,
    parse_time,
    validate_logs,
)
from logstream.limits import MAX_ACTIONS_PER_LOG, properties_problem


def _number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float


def _string(value: Any) -> bool:
    return type(value) is str


REQUIRED: dict[str, tuple[tuple[str, Any], ...]] = {
    "CLICK": (("locationX", _number), ("locationY", _number)),
    "VIEW": (("viewedId", _string),),
    "NAVIGATE": (("pageFrom", _string), ("pageTo", _string)),
}

# (type, utc milliseconds, offset as sent, properties as sent)
FastAction = tuple[str, int, str, dict[str, Any]]


@lru_cache(maxsize=1 << 16)
def sent_time(text: str) -> tuple[int, str] | None:
    """(UTC epoch milliseconds, offset as sent), or None if the contract refuses the time."""
    try:
        parsed = parse_time(text)
    except PydanticCustomError:
        return None
    return epoch_millis(parsed), offset_text(parsed)


def _identifier(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= ID_MAX_LENGTH


def log_actions(document: Any, latest_ms: int | None = None,
                properties_as_sent: bool = False) -> list[FastAction] | None:
    """The actions of a valid log, or None if the fast path cannot vouch for it. With `latest_ms`
    (epoch milliseconds of the contract's `future_bound`), actions dated after it are not vouched for.
    With `properties_as_sent`, under the contract's as-sent property rules (no property required)."""
    if type(document) is not dict:
        return None
    actions = document.get("actions")
    if not (_identifier(document.get("userId")) and _identifier(document.get("sessionId"))
            and type(actions) is list and 0 < len(actions) <= MAX_ACTIONS_PER_LOG):
        return None
    out: list[FastAction] = []
    for action in actions:
        if type(action) is not dict:
            return None
        kind, properties, time = action.get("type"), action.get("properties"), action.get("time")
        if type(kind) is not str or type(properties) is not dict or type(time) is not str:
            return None
        kind = kind.upper()
        required = REQUIRED.get(kind)
        if required is None:
            return None
        for key, check in () if properties_as_sent else required:
            if not check(properties.get(key)):
                return None
        if properties_problem(properties) is not None:
            return None
        sent = sent_time(time)
        if sent is None or (latest_ms is not None and sent[0] > latest_ms):
            return None
        out.append((kind, sent[0], sent[1], properties))
    return out


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_uuid(value: Any) -> int | None:
    """The UUID's integer for a lower-case hyphenated UUID string; None for anything else (the
    contract then decides: it accepts other spellings of a UUID and refuses what is none)."""
    if type(value) is not str or CANONICAL_UUID.fullmatch(value) is None:
        return None
    return int(value.replace("-", ""), 16)


def uuid5_ints(namespace: bytes, prefix: str, count: int) -> list[int]:
    """uuid.uuid5(namespace, f"{prefix}{i}").int for i in range(count), without UUID objects."""
    base = sha1(namespace + prefix.encode(), usedforsecurity=False)
    ids = []
    for index in range(count):
        digest = base.copy()
        digest.update(b"%d" % index)
        value = int.from_bytes(digest.digest()[:16], "big")
        ids.append((value & ~(0xF000 << 64) | (5 << 76)) & ~(0xC000 << 48) | (0x8000 << 48))
    return ids


def valid_action_count(document: Any, latest: datetime | None = None) -> int:
    """The number of actions in one log or an array of logs, none dated after `latest`; raises
    InvalidLogError listing every problem (the contract's own validation runs only when the fast
    path cannot vouch)."""
    documents = document if type(document) is list else [document]
    latest_ms = epoch_millis(latest) if latest is not None else None
    if documents:
        counts = [log_actions(d, latest_ms) for d in documents]
        if all(actions is not None for actions in counts):
            return sum(len(actions) for actions in counts)  # type: ignore[arg-type]
    return sum(len(log.actions) for log in validate_logs(document, latest=latest))
