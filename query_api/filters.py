"""Parsing and checking the read API's filter parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from logstream.contract import ActionType
from query_api.cursor import Cursor
from query_api.errors import InvalidParameterError


def parse_time(parameter: str, text: str | None) -> datetime | None:
    """ISO 8601; a time without an offset (or a bare date) is taken as UTC."""
    if text is None or text == "":
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameterError(parameter, f"not an ISO 8601 time: {text[:64]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_types(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    types = []
    for part in text.split(","):
        name = part.strip().upper()
        if name not in ActionType.__members__:
            raise InvalidParameterError("type", f"unknown type {part.strip()!r}; use CLICK, VIEW, NAVIGATE")
        types.append(name)
    return tuple(dict.fromkeys(types))


@dataclass(frozen=True, slots=True)
class ActionFilter:
    user_id: str | None = None
    session_id: str | None = None
    types: tuple[str, ...] = ()
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    # Wall-clock bounds: compared with each action's time in the offset it was sent with (seed 001's
    # reads); the datetimes are naive readings, labelled UTC. Never set by /v1.
    local_start: datetime | None = None  # inclusive
    local_end: datetime | None = None  # exclusive


def build_filter(*, user_id: str | None, session_id: str | None, type_: str | None, start: str | None,
                 end: str | None) -> ActionFilter:
    result = ActionFilter(user_id or None, session_id or None, parse_types(type_),
                          parse_time("from", start), parse_time("to", end))
    if result.start and result.end and result.start > result.end:
        raise InvalidParameterError("from", "from must not be after to")
    return result


def parse_cursor(text: str | None) -> Cursor | None:
    return Cursor.decode(text) if text else None
