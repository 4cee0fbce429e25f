"""Read your writes: after the broker's acks, wait (bounded) until the query service sees every action.

Used by the compatibility routes (their services stored synchronously, so their clients GET right
after POST) and by `POST /v1/logs?wait=visible`. The query service polls ClickHouse until it counts
every action of the request's eventIds, bounded by the actions' types and time range.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from logstream.contract import LogIn
from producer_api.errors import IngestError, UpstreamUnavailableError
from producer_api.gateway import Upstreams


class NotVisibleError(IngestError):
    status, code, title = 504, "not_visible", "Accepted, but not queryable in time"


def require_query_service(upstreams: Upstreams) -> None:
    """Checked before publishing anything: without a query service nothing can be confirmed."""
    if upstreams.query_url is None:
        raise UpstreamUnavailableError("waiting until the logs are queryable needs the query service "
                                       "(LOGSTREAM_QUERY_URL is not set); nothing was published")


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


async def wait_visible(upstreams: Upstreams, logs: Sequence[LogIn], event_ids: Sequence[str],
                       timeout_s: float) -> None:
    """Returns once every action of `logs` (published as `event_ids`) is queryable, or raises: 504
    NotVisibleError after `timeout_s`, 503 if the query service cannot say. Either way the logs were
    accepted (the broker acked them) and will be stored: the error says so and carries their eventIds."""
    if not logs:
        return
    times = [action.time for log in logs for action in log.actions]
    body = {"events": [{"eventId": event_id, "actions": len(log.actions)} for event_id, log in zip(event_ids, logs,
                                                                                                   strict=True)],
            "types": sorted({action.type.value for log in logs for action in log.actions}),
            "from": _stamp(min(times)), "to": _stamp(max(times)), "timeoutMs": int(timeout_s * 1000)}
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
