"""The erasure topic's consumer: each request (logstream.erasures/1) carried out by the Eraser.

A request is carried out at least once: its offset is committed only after it is done, and a run
interrupted anywhere resumes from its recorded step. A record that is not a request is logged,
counted and skipped: one foreign record must not stop erasures.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from pydantic import BaseModel, Field, ValidationError

from logstream.contract import ID_MAX_LENGTH
from stream import metrics
from stream.erasure import Eraser
from stream.retry import until_done

log = logging.getLogger(__name__)


class ErasureRequest(BaseModel):
    erasureId: uuid.UUID
    userId: str = Field(min_length=1, max_length=ID_MAX_LENGTH)
    requestedAt: datetime


class ErasureRequests:
    def __init__(self, eraser: Eraser, max_backoff_s: float):
        self.eraser, self._max_backoff_s = eraser, max_backoff_s

    async def handle(self, value: bytes | None) -> None:
        try:
            request = ErasureRequest.model_validate_json(value or b"")
        except ValidationError as exc:
            metrics.ERASURES.labels("refused").inc()
            log.error("skipped a record of the erasure topic that is not an erasure request: %s", exc)
            return

        async def attempt() -> None:
            await asyncio.to_thread(self.eraser.erase, request.erasureId, request.userId, request.requestedAt)

        await until_done(attempt, what="erasure", max_backoff_s=self._max_backoff_s)
        metrics.ERASURES.labels("done").inc()
