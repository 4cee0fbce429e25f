"""POST /v1/logs: validate, publish to the raw topic, answer 202 once the broker acked."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from logstream.contract import InvalidLogError, LogIn, future_bound, validate_logs
from logstream.quick_validate import valid_action_count
from logstream.responses import JSONBytesResponse
from producer_api import idempotency, metrics
from producer_api.body import read_json
from producer_api.errors import InvalidLogsError
from producer_api.gateway import Upstreams
from producer_api.idempotency import (
    REPUBLISHED,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyStore,
    check_key,
    request_digest,
)
from producer_api.limits import check_log_count
from producer_api.publisher import Position, Publisher, records_for
from producer_api.settings import ProducerSettings
from producer_api.visibility import Acked, require_query_service, wait_visible

router = APIRouter()
INGEST_PATH = "/v1/logs"


# async: FastAPI runs a plain `def` dependency in a thread pool, a hand-off per request
async def get_settings(request: Request) -> ProducerSettings:
    return request.app.state.settings


async def get_publisher(request: Request) -> Publisher:
    return request.app.state.publisher


async def get_upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


SettingsDep = Annotated[ProducerSettings, Depends(get_settings)]
PublisherDep = Annotated[Publisher, Depends(get_publisher)]
UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]
WaitQuery = Annotated[Literal["visible"] | None, Query(
    description="`visible`: answer only once every action is queryable (read your writes), at most "
                "LOGSTREAM_VISIBLE_TIMEOUT_S (5 s), then 504 `not_visible` (the logs are still accepted)")]


class Accepted(BaseModel):
    eventIds: list[uuid.UUID]
    logs: int
    actions: int
    visible: bool | None = None


BODY_SCHEMA = {
    "required": True,
    "content": {"application/json": {
        "schema": {"oneOf": [{"$ref": "#/components/schemas/LogIn"},
                             {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/LogIn"}}]},
        "example": LogIn.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
    }},
}
PROBLEM = {"content": {"application/problem+json": {}}}
ACCEPTED_EXAMPLE = {"eventIds": ["4c0c6d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"], "logs": 1, "actions": 3}  # BODY_SCHEMA's


@router.post(
    INGEST_PATH,
    status_code=202,
    response_model=Accepted,
    summary="Ingest one log or an array of logs",
    openapi_extra={"requestBody": BODY_SCHEMA},
    responses={202: {"content": {"application/json": {"example": ACCEPTED_EXAMPLE}}},
               400: {"description": "Not JSON, or every contract violation with its path and code", **PROBLEM},
               413: {"description": "Body over the size limit", **PROBLEM},
               415: {"description": "Not application/json", **PROBLEM},
               409: {"description": "Idempotency-Key: its first request is still in progress", **PROBLEM},
               422: {"description": "Idempotency-Key already used with other logs; or a user erased (user_erased)",
                     **PROBLEM},
               503: {"description": "Broker unavailable or queue full; see Retry-After", **PROBLEM},
               504: {"description": "wait=visible: accepted (eventIds), not queryable in time", **PROBLEM}},
)
async def ingest(request: Request, settings: SettingsDep, publisher: PublisherDep, upstreams: UpstreamsDep,
                 wait: WaitQuery = None) -> JSONBytesResponse:
    """Answers 202 only after the broker acknowledged every record (acks=all, idempotent producer); with
    `wait=visible`, only once every action is also queryable (`"visible": true`). With an
    `Idempotency-Key` header, a retry (kept 24 h at least) publishes nothing and gets the first answer,
    marked `Idempotent-Replayed: true`."""
    # A hot route (logstream/hot_routes.py): called beneath FastAPI's routing, with the same parameters.
    if wait is not None:
        require_query_service(upstreams)
    logs = await read_logs(request, settings)
    key = request.headers.get(idempotency.HEADER)
    watch = request.app.state.watch
    life = watch.life
    if key is not None:
        body, positions = await publish_once(request.app.state.idempotency, check_key(key), logs, publisher,
                                             upstreams, settings.max_record_bytes, prompt=wait is not None)
        if body.pop("replayed", False):
            return JSONBytesResponse(body, status_code=202, headers={idempotency.REPLAYED_HEADER: "true"})
    else:
        body, positions = await publish(logs, publisher, settings.max_record_bytes, prompt=wait is not None)
    if wait is not None:  # opt-in: the models give the times and types to look for
        acked = Acked(life, positions, asyncio.get_running_loop().time())
        await wait_visible(upstreams, validate_logs(logs.document), body["eventIds"], settings.visible_timeout_s,
                           watch, acked)
        body["visible"] = True
    return JSONBytesResponse(body, status_code=202)



@dataclass(frozen=True)
class Logs:
    """A request's valid logs: the document as sent, its logs, their action count, when it arrived."""

    document: Any
    documents: list[dict[str, Any]]
    actions: int
    received_at: datetime


async def read_logs(request: Request, settings: ProducerSettings) -> Logs:
    """The request's logs, every one valid, or an IngestError that says what is wrong."""
    return logs_of(await read_json(request, settings), settings)


def logs_of(document: Any, settings: ProducerSettings) -> Logs:
    """The document's logs (one log or an array), every one valid, or an IngestError."""
    check_log_count(document, settings)
    received_at = datetime.now(UTC)
    try:
        actions = valid_action_count(document, future_bound(received_at, settings.max_future))
    except InvalidLogError as exc:
        raise InvalidLogsError(f"{len(exc.problems)} problem(s) in the logs; nothing was accepted",
                               errors=[p.as_dict() for p in exc.problems]) from None
    return Logs(document, document if isinstance(document, list) else [document], actions, received_at)


async def publish(logs: Logs, publisher: Publisher, max_record_bytes: int,
                  prompt: bool = False) -> tuple[dict[str, Any], list[Position]]:
    """Publishes the logs with new eventIds; returns the 202's body once the broker acked them all,
    with where the records landed. `prompt`: the request waits for them to be stored (no linger)."""
    records, event_ids = records_for(logs.documents, logs.received_at, max_record_bytes)
    positions = await publisher.publish(records, actions=logs.actions, prompt=prompt)
    return {"eventIds": event_ids, "logs": len(logs.documents), "actions": logs.actions}, positions


async def publish_once(store: IdempotencyStore, key: str, logs: Logs, publisher: Publisher, upstreams: Upstreams,
                       max_record_bytes: int, prompt: bool = False) -> tuple[dict[str, Any], list[Position]]:
    """Publishes the logs of a keyed request at most once; a retry gets the first answer (marked
    `replayed`, with no positions)."""
    require_query_service(upstreams)  # the key store lives behind it
    digest = request_digest(logs.document)
    async with store.hold(key):
        entry = await store.lookup(key)
        if entry is not None and entry.digest != digest:
            raise IdempotencyKeyReusedError("this Idempotency-Key was sent with other logs; use a new key")
        if entry is not None and entry.state == "done":
            metrics.REPLAYS.inc()
            return {**orjson.loads(entry.response), "replayed": True}, []
        if entry is not None and entry.age_ms < store.pending_stale_ms:
            raise IdempotencyInProgressError("the first request with this key is still being published",
                                             headers=store.retry_after(entry))
        if entry is None:
            event_ids = [str(uuid.uuid4()) for _ in logs.documents]
            await store.record(key, digest, event_ids, "pending")
        else:  # its first attempt died between reserving the key and answering: publish again, flagged
            event_ids = entry.event_ids
        records, _ = records_for(logs.documents, logs.received_at, max_record_bytes, event_ids)
        positions = await publisher.publish(records, headers=REPUBLISHED if entry is not None else None,
                                            actions=logs.actions, prompt=prompt)
        body = {"eventIds": event_ids, "logs": len(logs.documents), "actions": logs.actions}
        await store.record(key, digest, event_ids, "done", orjson.dumps(body).decode())
        return body, positions
