"""Read your writes: after the broker's acks, wait (bounded) until every action is queryable.

Used by the compatibility routes (their services stored synchronously, so their clients GET right
after POST) and by `POST /v1/logs?wait=visible`. The answer comes when the stream's stored watermark
of each record's partition passes the record's offset (producer_api.watermarks: woken by the stream,
no timer). If that cannot be confirmed (no watermark in time, the raw topic's id unknown or changed
across the acks), the query service counts the request's actions in ClickHouse instead, within what
is left of the timeout: slower, never wrong.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from logstream.contract import LogIn
from producer_api import metrics
from producer_api.errors import IngestError, UpstreamUnavailableError
from producer_api.gateway import Upstreams
from producer_api.publisher import Position
from producer_api.watermarks import StoredWatch


class NotVisibleError(IngestError):
    status, code, title = 504, "not_visible", "Accepted, but not queryable in time"


@dataclass(frozen=True)
class Acked:
    """Where a request's records landed: the raw topic's id known before publishing, each record's
    (partition, offset), and the loop time at which the last ack was in."""

    life: uuid.UUID | None
    positions: Sequence[Position]
    at: float


def require_query_service(upstreams: Upstreams) -> None:
    """Checked before publishing anything: without a query service nothing can be confirmed."""
    if upstreams.query_url is None:
        raise UpstreamUnavailableError("waiting until the logs are queryable needs the query service "
                                       "(LOGSTREAM_QUERY_URL is not set); nothing was published")


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


async def stored_in_time(watch: StoredWatch | None, acked: Acked | None, timeout_s: float) -> bool:
    """True once the stream's watermarks say every record is stored, in the life they were acked in."""
    if watch is None or acked is None or acked.life is None:
        return False
    confirmed = asyncio.ensure_future(watch.confirm_life(acked.at))
    try:
        return await watch.wait(acked.life, acked.positions, timeout_s) and await confirmed == acked.life
    finally:
        confirmed.cancel()


async def wait_visible(upstreams: Upstreams, logs: Sequence[LogIn], event_ids: Sequence[str],
                       timeout_s: float, watch: StoredWatch | None = None, acked: Acked | None = None) -> None:
    """Returns once every action of `logs` (published as `event_ids`, acked as `acked`) is queryable,
    or raises: 504 NotVisibleError after `timeout_s`, 503 if the query service cannot say. Either way
    the logs were accepted (the broker acked them) and will be stored: the error says so and carries
    their eventIds."""
    if not logs:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    if await stored_in_time(watch, acked, timeout_s):
        metrics.VISIBLE_BY.labels("watermark").inc()
        return
    times = [action.time for log in logs for action in log.actions]
    if not times:  # logs without actions: nothing to query
        return
    metrics.VISIBLE_BY.labels("count").inc()
    body = {"events": [{"eventId": event_id, "actions": len(log.actions)} for event_id, log in zip(event_ids, logs,
                                                                                                   strict=True)],
            "types": sorted({action.type.value for log in logs for action in log.actions}),
            "from": _stamp(min(times)), "to": _stamp(max(times)),
            "timeoutMs": int(max(0.0, deadline - loop.time()) * 1000)}
    accepted = {"eventIds": list(event_ids)}
    try:
        answer = await upstreams.call("POST", "/internal/visible", json=body, timeout=timeout_s + 5)
    except UpstreamUnavailableError as exc:
        raise UpstreamUnavailableError(f"the logs were accepted and will be stored, but whether they are queryable "
                                       f"is unknown ({exc.detail}); do not send them again",
                                       headers=exc.headers, extra=accepted) from exc
    if not answer.get("visible"):
        raise NotVisibleError(f"the logs were accepted and will be stored, but were not queryable within "
                              f"{timeout_s:g} s; do not send them again", extra=accepted)
