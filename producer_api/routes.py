"""POST /v1/logs: validate, publish to the raw topic, answer 202 once the broker acked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from logstream.contract import InvalidLogError, LogIn
from logstream.fastpath import valid_action_count
from logstream.responses import JSONBytesResponse
from producer_api.body import read_json
from producer_api.errors import InvalidLogsError
from producer_api.publisher import Publisher
from producer_api.settings import ProducerSettings

router = APIRouter()


# async: FastAPI runs a plain `def` dependency in a thread pool, a hand-off per request
async def get_settings(request: Request) -> ProducerSettings:
    return request.app.state.settings


async def get_publisher(request: Request) -> Publisher:
    return request.app.state.publisher


SettingsDep = Annotated[ProducerSettings, Depends(get_settings)]
PublisherDep = Annotated[Publisher, Depends(get_publisher)]


class Accepted(BaseModel):
    eventIds: list[uuid.UUID]
    logs: int
    actions: int


def records_for(documents: list[dict[str, Any]], received_at: datetime) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """One record per log: key = userId, value = the log as sent plus eventId and receivedAt."""
    stamp = received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    records, event_ids = [], []
    for document in documents:
        event_id = str(uuid.uuid4())
        event_ids.append(event_id)
        value = orjson.dumps({**document, "eventId": event_id, "receivedAt": stamp})
        records.append((document["userId"].encode(), value))
    return records, event_ids


BODY_SCHEMA = {
    "required": True,
    "content": {"application/json": {
        "schema": {"oneOf": [{"$ref": "#/components/schemas/LogIn"},
                             {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/LogIn"}}]},
        "example": LogIn.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
    }},
}
PROBLEM = {"content": {"application/problem+json": {}}}


@router.post(
    "/v1/logs",
    status_code=202,
    response_model=Accepted,
    summary="Ingest one log or an array of logs",
    openapi_extra={"requestBody": BODY_SCHEMA},
    responses={400: {"description": "Not JSON, or every contract violation with its path and code", **PROBLEM},
               413: {"description": "Body over the size limit", **PROBLEM},
               415: {"description": "Not application/json", **PROBLEM},
               503: {"description": "Broker unavailable or queue full; see Retry-After", **PROBLEM}},
)
async def ingest(request: Request, settings: SettingsDep, publisher: PublisherDep) -> JSONBytesResponse:
    """Answers 202 only after the broker acknowledged every record (acks=all, idempotent producer)."""
    document = await read_json(request, settings.max_body_bytes)
    try:
        actions = valid_action_count(document)
    except InvalidLogError as exc:
        raise InvalidLogsError(f"{len(exc.problems)} problem(s) in the logs; nothing was accepted",
                               errors=[p.as_dict() for p in exc.problems]) from None
    documents = document if isinstance(document, list) else [document]
    records, event_ids = records_for(documents, datetime.now(UTC))
    await publisher.publish(records)
    return JSONBytesResponse({"eventIds": event_ids, "logs": len(documents), "actions": actions}, status_code=202)
