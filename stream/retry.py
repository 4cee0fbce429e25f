"""Retry until done: Faust acks a batch whose agent raised, so nothing may raise past the sink."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from stream.metrics import RETRIES

T = TypeVar("T")
log = logging.getLogger(__name__)


async def until_done(attempt: Callable[[], Awaitable[T]], *, what: str, max_backoff_s: float,
                     on_failure: Callable[[BaseException], None] | None = None) -> T:
    """Run `attempt` until it succeeds, with capped exponential backoff. While it retries the agent
    pulls nothing more: that is the backpressure."""
    backoff = 0.1
    failures = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:  # every failure is retried; none is swallowed: each is logged
            failures += 1
            RETRIES.labels(what, exc.__class__.__name__).inc()
            if on_failure is not None:
                on_failure(exc)
            log.warning("%s failed (attempt %d), retrying in %.1f s: %s", what, failures, backoff, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff_s)
