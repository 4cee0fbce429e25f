"""What the compatibility write routes share: reading the body, and storing through the pipeline.

Writes go where /v1/logs writes go: one record per log on the raw topic (the broker acks it), then
the Faust agent inserts it into ClickHouse. These services stored synchronously, so their answer
waits, bounded, until the query service sees every action (producer_api.visibility).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from pydantic import TypeAdapter, ValidationError

from logstream.contract import Identifier, LogIn, Problem, future_bound, validate_logs
from producer_api.body import read_json
from producer_api.limits import check_log_count
from producer_api.publisher import records_for
from producer_api.visibility import Acked, require_query_service, wait_visible

IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


async def read_document(request: Request) -> Any:
    """The body as JSON whatever its Content-Type (these services' clients did not all send one),
    within the body limits (gzip too), and at most LOGSTREAM_MAX_LOGS_PER_REQUEST logs."""
    settings = request.app.state.settings
    document = await read_json(request, settings, require_json_type=False)
    check_log_count(document, settings)
    return document


def validate(request: Request, document: Any, *, properties_as_sent: bool = False) -> list[LogIn]:
    """The contract, for logs received now (actions dated past LOGSTREAM_MAX_FUTURE_S are refused);
    with `properties_as_sent`, under its as-sent property rules."""
    return validate_logs(document, latest=latest_time(request), properties_as_sent=properties_as_sent)


def latest_time(request: Request) -> datetime:
    return future_bound(datetime.now(UTC), request.app.state.settings.max_future)


def is_identifier(value: Any) -> bool:
    """A userId or sessionId as the contract defines it: a non-empty string of at most 256 characters."""
    try:
        IDENTIFIER.validate_python(value)
    except ValidationError:
        return False
    return True


def describe(problems: Sequence[Problem]) -> str:
    return "; ".join(f"{p.path or 'body'}: {p.message}" for p in problems[:10])


async def store(request: Request, logs: Sequence[LogIn], documents: list[dict[str, Any]], *,
                property_rules: str | None = None) -> list[str]:
    """Publish (answered by the broker's acks), then wait until queryable. Returns the eventIds.
    `property_rules`: as validated, if not the contract's (the record's `propertyRules`)."""
    state = request.app.state
    require_query_service(state.upstreams)
    records, event_ids = records_for(documents, datetime.now(UTC), state.settings.max_record_bytes,
                                     property_rules=property_rules)
    route = request.scope.get("route")
    life = state.watch.life
    positions = await state.publisher.publish(records, actions=sum(len(log.actions) for log in logs),
                                              route=f"{request.method} {getattr(route, 'path', request.url.path)}",
                                              prompt=True)
    acked = Acked(life, positions, asyncio.get_running_loop().time())
    await wait_visible(state.upstreams, logs, event_ids, state.settings.visible_timeout_s, state.watch, acked)
    return event_ids
