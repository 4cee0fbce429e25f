"""Refusing logs of erased users at the door (LOGSTREAM_ERASED_USERS=refuse): 422 `user_erased`.

The list comes from the query service (`erased_users`, written by the stream's eraser), re-read in
the background at most every `refresh_s`, so a request never waits on it. A log that slips through
in between is still dropped by the stream, which always drops erased users' logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from producer_api.errors import IngestError, UpstreamUnavailableError
from producer_api.gateway import Upstreams

log = logging.getLogger(__name__)


class UserErasedError(IngestError):
    status, code, title = 422, "user_erased", "The user was erased; their logs are no longer accepted"


class ErasedUsers:
    def __init__(self, upstreams: Upstreams, refresh_s: float):
        self._upstreams, self._refresh_s = upstreams, refresh_s
        self.keys: frozenset[bytes] = frozenset()
        self._read_at = float("-inf")
        self._reading: asyncio.Task[None] | None = None

    def check(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Raises UserErasedError if a record is keyed by an erased user (nothing is published)."""
        if time.monotonic() - self._read_at >= self._refresh_s and self._reading is None:
            self._reading = asyncio.get_running_loop().create_task(self._read(), name="erased-users")
        if self.keys:
            erased = sorted({key.decode(errors="replace") for key, _ in records if key in self.keys})
            if erased:
                raise UserErasedError(f"user(s) {', '.join(map(repr, erased))} were erased (POST /v1/erasures); "
                                      "their logs are refused and nothing of this request was accepted")

    async def _read(self) -> None:
        try:
            body = await self._upstreams.call("GET", "/internal/erased-users", timeout=5.0)
            self.keys = frozenset(user.encode() for user in body["userIds"])
            self._read_at = time.monotonic()
        except UpstreamUnavailableError as exc:
            log.warning("could not read the erased users (the stream still drops their logs): %s", exc)
            self._read_at = time.monotonic()
        finally:
            self._reading = None

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
