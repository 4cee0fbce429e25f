"""POST /v1/beacon: logs from a page being closed, sent by `navigator.sendBeacon`.

A beacon cannot set headers, and cross-origin it cannot send `application/json` (that needs a
preflight a beacon never makes): it sends `text/plain`. So the body is JSON in a text/plain envelope,
`{"logs": <log or array>, "idempotencyKey"?: "...", "writeKey"?: "..."}`, as Segment's and PostHog's
trackers do. The logs are validated and published exactly as `POST /v1/logs` does them (the same
functions), the idempotency key works as its header does (the same key and logs sent first to
/v1/logs are a replay here, and the other way round), and with keys on the write key is checked here,
from the body, by the same check as the guard's (logstream.security.check_key).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from logstream.contract import LogIn
from logstream.responses import JSONBytesResponse
from logstream.security import Access, check_key, presented_key
from producer_api import idempotency
from producer_api.body import is_json, read_json
from producer_api.errors import IngestError, UnsupportedMediaTypeError
from producer_api.idempotency import check_key as check_idempotency_key
from producer_api.routes import (
    ACCEPTED_EXAMPLE,
    PROBLEM,
    Accepted,
    PublisherDep,
    SettingsDep,
    UpstreamsDep,
    logs_of,
    publish,
    publish_once,
)

router = APIRouter()
BEACON_PATH = "/v1/beacon"
ENVELOPE_EXAMPLE = {"logs": [LogIn.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
                    "idempotencyKey": "b7e0c1d2-3f4a-4b5c-8d6e-7f8091a2b3c4"}


class InvalidBeaconError(IngestError):
    status, code, title = 400, "invalid_beacon", "The beacon is not a logstream envelope"


BODY_SCHEMA = {"required": True, "content": {"text/plain": {
    "schema": {"type": "string", "description": 'JSON: {"logs": <a log or an array of logs, as POST /v1/logs takes>, '
                                                '"idempotencyKey"?: string, "writeKey"?: string}'},
    "example": orjson.dumps(ENVELOPE_EXAMPLE).decode()}}}


@router.post(
    BEACON_PATH,
    status_code=202,
    response_model=Accepted,
    summary="Ingest logs sent by navigator.sendBeacon (text/plain JSON envelope)",
    openapi_extra={"requestBody": BODY_SCHEMA},
    responses={202: {"content": {"application/json": {"example": ACCEPTED_EXAMPLE}}},
               400: {"description": "Not JSON, not an envelope (`invalid_beacon`), or the logs' contract violations",
                     **PROBLEM},
               413: {"description": "Body over the size limit", **PROBLEM},
               415: {"description": "Not text/plain or application/json", **PROBLEM},
               409: {"description": "idempotencyKey: its first request is still in progress", **PROBLEM},
               422: {"description": "idempotencyKey already used with other logs; or a user erased (user_erased)",
                     **PROBLEM},
               503: {"description": "Broker unavailable or queue full; see Retry-After", **PROBLEM}},
)
async def beacon(request: Request, settings: SettingsDep, publisher: PublisherDep,
                 upstreams: UpstreamsDep) -> Response:
    """What `POST /v1/logs` does, for a body a beacon can send. The answer is the same (a beacon's
    sender never reads it; a `fetch(..., {keepalive: true})` may)."""
    if not (is_text(request.headers.get("content-type")) or is_json(request.headers.get("content-type"))):
        raise UnsupportedMediaTypeError("send the envelope as Content-Type: text/plain (or application/json)")
    envelope = await read_json(request, settings, require_json_type=False)
    document, key, write_key = open_envelope(envelope)
    keys, limiter = request.app.state.keys, request.app.state.limiter
    headers: dict[str, str] = {}
    if keys:
        shown = write_key.encode() if write_key is not None else presented_key(request.scope["headers"])
        refusal, headers = check_key(keys, limiter, shown, Access.WRITE)
        if refusal is not None:
            return refusal
    logs = logs_of(document, settings)
    if key is not None:
        body, _ = await publish_once(request.app.state.idempotency, check_idempotency_key(key), logs, publisher,
                                     upstreams, settings.max_record_bytes)
        if body.pop("replayed", False):
            headers[idempotency.REPLAYED_HEADER] = "true"
    else:
        body, _ = await publish(logs, publisher, settings.max_record_bytes)
    return JSONBytesResponse(body, status_code=202, headers=headers)


def is_text(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "text/plain"


def open_envelope(envelope: Any) -> tuple[Any, str | None, str | None]:
    """(the logs document, the idempotency key, the write key) of an envelope, or InvalidBeaconError."""
    if not isinstance(envelope, dict) or "logs" not in envelope:
        raise InvalidBeaconError('the body must be a JSON object {"logs": ..., "idempotencyKey"?, "writeKey"?}')
    strings = {}
    for member in ("idempotencyKey", "writeKey"):
        value = envelope.get(member)
        if value is not None and not isinstance(value, str):
            raise InvalidBeaconError(f"{member} must be a string",
                                     errors=[{"path": member, "code": "invalid_type", "message": "expected a string"}])
        strings[member] = value
    return envelope["logs"], strings["idempotencyKey"], strings["writeKey"]
