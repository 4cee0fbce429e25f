"""Keyset cursors: the (time, actionId) of the last row of a page, opaque to clients."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from logstream.contract import EPOCH, MILLISECOND, epoch_millis
from query_api.errors import InvalidCursorError


@dataclass(frozen=True, slots=True)
class Cursor:
    time: datetime  # UTC
    action_id: uuid.UUID

    def encode(self) -> str:
        millis = epoch_millis(self.time.replace(tzinfo=UTC))
        return base64.urlsafe_b64encode(orjson.dumps([millis, str(self.action_id)])).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            millis, action_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            return cls(EPOCH + int(millis) * MILLISECOND, uuid.UUID(action_id))
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
