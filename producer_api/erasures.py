"""POST /v1/erasures: record a request to erase a user, as an event on the erasure topic.

The stream carries it out (stream/erasure.py); GET /v1/erasures/{erasureId} (the query service)
reports its progress. Answered 202 once the broker acked the request.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import orjson
from confluent_kafka import KafkaError, Producer
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from logstream.contract import ID_MAX_LENGTH
from logstream.kafka import producer_config
from logstream.responses import JSONBytesResponse
from logstream.schemas import ERASURES_SCHEMA, headers
from producer_api.body import read_json
from producer_api.errors import BrokerUnavailableError, InvalidErasureError, UpstreamUnavailableError
from producer_api.settings import ProducerSettings

log = logging.getLogger(__name__)
router = APIRouter()
ERASURES_PATH = "/v1/erasures"
PROBLEM = {"content": {"application/problem+json": {}}}
EXAMPLE_ID = "5b0f3c8e-0d1a-4c51-9d0b-8f7c2a1e6b34"
ACCEPTED_EXAMPLE = {"erasureId": EXAMPLE_ID, "userId": "ABC123XYZ", "requestedAt": "2026-12-01T10:00:00.000Z",
                    "state": "requested", "status": f"/v1/erasures/{EXAMPLE_ID}"}


class ErasureIn(BaseModel):
    userId: str = Field(min_length=1, max_length=ID_MAX_LENGTH, description="the user to erase")


class ErasurePublisher:
    """Erasure requests are rare: one small producer of their own, each request flushed before the 202."""

    def __init__(self, settings: ProducerSettings):
        self._topic, self._timeout_s = settings.erasures_topic, settings.publish_timeout_ms / 1000
        self._producer = Producer({**producer_config(settings), "message.timeout.ms": settings.publish_timeout_ms})

    async def publish(self, key: str, value: bytes) -> None:
        errors: list[KafkaError] = []
        self._producer.produce(self._topic, value, key.encode(), headers=headers(ERASURES_SCHEMA),
                               on_delivery=lambda error, _: errors.append(error) if error else None)
        left = await asyncio.to_thread(self._producer.flush, self._timeout_s + 5)
        if left or errors:
            detail = errors[0].str() if errors else "no acknowledgement in time"
            raise BrokerUnavailableError(f"the broker did not acknowledge the erasure request: {detail}",
                                         headers={"Retry-After": "5"})

    def close(self) -> None:
        self._producer.flush(5)


@router.post(ERASURES_PATH, status_code=202, summary="Erase a user everywhere",
             responses={202: {"content": {"application/json": {"example": ACCEPTED_EXAMPLE}}},
                        400: {"description": "Not {\"userId\": ...}", **PROBLEM},
                        503: {"description": "Broker unavailable; see Retry-After", **PROBLEM}},
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": ErasureIn.model_json_schema(), "example": {"userId": "ABC123XYZ"}}}}})
async def request_erasure(request: Request) -> JSONBytesResponse:
    """Needs an erase key when keys are on. Every action of the user leaves every read, rollup and the
    archive; their later logs are dropped. Follow it at `status` (docs/privacy.md says how long it takes
    and what stays: the broker's own copy until its retention ends)."""
    settings: ProducerSettings = request.app.state.settings
    try:
        body = ErasureIn.model_validate(await read_json(request, settings))
    except ValidationError as exc:
        raise InvalidErasureError("send {\"userId\": \"...\"}", errors=[
            {"path": ".".join(map(str, e["loc"])), "code": "invalid_erasure", "message": e["msg"]}
            for e in exc.errors()]) from None
    erasure_id, requested_at = uuid.uuid4(), datetime.now(UTC)
    stamp = requested_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    request_record = {"erasureId": str(erasure_id), "userId": body.userId, "requestedAt": stamp}
    await request.app.state.erasures.publish(body.userId, orjson.dumps(request_record))
    try:  # recorded at once so that GET finds it; the stream records it too when it starts on it
        await request.app.state.upstreams.call("POST", "/internal/erasures", json=request_record, timeout=5.0)
    except UpstreamUnavailableError as exc:
        log.warning("erasure %s accepted but not yet recorded: %s", erasure_id, exc)
    status = f"{ERASURES_PATH}/{erasure_id}"
    return JSONBytesResponse({**request_record, "state": "requested", "status": status}, status_code=202,
                             headers={"Location": status})
