"""Keyset cursors: where the last row of a page is in the reads' order (query_api.queries.ARRIVAL_ORDER),
opaque to clients. A cursor from before that order, (time, actionId), reads on in its own order, to
the end of the listing, without a gap or a repeat (query_api.queries.LEGACY_ORDER)."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from logstream.contract import EPOCH, MILLISECOND, epoch_millis
from query_api.errors import InvalidCursorError

Arrival = tuple[datetime, int, int, int]  # received_at (UTC), kafka_partition, kafka_offset, action_index


@dataclass(frozen=True, slots=True)
class Cursor:
    time: datetime  # UTC
    action_id: uuid.UUID
    arrival: Arrival | None = None  # None: a cursor from before the arrival order

    @classmethod
    def of_row(cls, row: tuple[Any, ...]) -> Cursor:
        """The cursor after a row of query_api.queries.ACTION_COLUMNS."""
        return cls(row[5], row[0], (row[8], row[9], row[10], row[11]))

    def encode(self) -> str:
        values: list[Any] = [epoch_millis(self.time.replace(tzinfo=UTC))]
        if self.arrival is not None:
            received, partition, offset, index = self.arrival
            values += [epoch_millis(received.replace(tzinfo=UTC)), partition, offset, index]
        values.append(str(self.action_id))
        return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            *values, action_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            millis, *arrival = (int(value) for value in values)
            if len(arrival) not in (0, 4) or min(arrival, default=0) < 0:
                raise ValueError(values)
            received = (EPOCH + arrival[0] * MILLISECOND, *arrival[1:]) if arrival else None
            return cls(EPOCH + millis * MILLISECOND, uuid.UUID(action_id), received)  # type: ignore[arg-type]
        except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError, OverflowError, OSError):
            raise InvalidCursorError("pass back the nextCursor of a previous page unchanged") from None


@dataclass(frozen=True, slots=True)
class SessionCursor:
    """The (firstTime, sessionId) of the last session of a page of a user's sessions."""

    first_time: datetime  # UTC
    session_id: str

    def encode(self) -> str:
        millis = int(self.first_time.replace(tzinfo=UTC).timestamp() * 1000)
        return base64.urlsafe_b64encode(orjson.dumps(["s", millis, self.session_id])).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> SessionCursor:
        try:
            kind, millis, session_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if kind != "s" or not isinstance(session_id, str):
                raise ValueError(kind)
            return cls(datetime.fromtimestamp(int(millis) / 1000, UTC), session_id)
        except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError, OverflowError, OSError):
            raise InvalidCursorError("pass back the nextCursor of a previous page unchanged") from None
