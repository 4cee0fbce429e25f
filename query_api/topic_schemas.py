"""GET /v1/schemas, /v1/schemas/{name}, /asyncapi.yaml: what a Kafka consumer of logstream reads,
served so a client can fetch the contract of the topics it consumes (logstream.schemas)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from logstream import schemas
from query_api.errors import NotFoundError

router = APIRouter(tags=["topics"])

SCHEMA_MEDIA_TYPE = "application/schema+json"
YAML_MEDIA_TYPE = "application/yaml"
# asyncapi.yaml refers to the schema files beside it; served, it refers to the routes below
FILE_REF = re.compile(r"\$ref: '?schemas/([\w.-]+)\.json")

LIST_EXAMPLE = {
    "schemas": [{"name": "logstream.actions.v1", "id": "urn:logstream:schema:logstream.actions:1",
                 "title": "logstream.actions/1: one stored action", "topic": "logstream.actions.v1",
                 "url": "/v1/schemas/logstream.actions.v1"}],
    "asyncapi": "/asyncapi.yaml",
}


def kafka_dir(request: Request) -> Path:
    """Where the documents are: beside the topic spec the service was given (LOGSTREAM_TOPICS_SPEC)."""
    return request.app.state.settings.topics_spec.parent


KafkaDirDep = Annotated[Path, Depends(kafka_dir)]


def listing(directory: Path) -> dict[str, Any]:
    documents = {name: schemas.schema(name, directory) for name in schemas.schema_names(directory)}
    return {
        "schemas": [{"name": name, "id": document["$id"], "title": document["title"], "topic": name,
                     "url": f"/v1/schemas/{name}"} for name, document in documents.items()],
        "asyncapi": "/asyncapi.yaml",
    }


@functools.cache
def served_asyncapi(directory: Path) -> bytes:
    return FILE_REF.sub(r"$ref: '/v1/schemas/\1", schemas.asyncapi_text(directory)).encode()


@router.get("/v1/schemas", summary="The JSON Schemas of logstream's Kafka topics",
            description="One per topic, named after it; the AsyncAPI document describes the topics themselves.",
            responses={200: {"content": {"application/json": {"example": LIST_EXAMPLE}}}})
async def list_schemas(directory: KafkaDirDep) -> dict[str, Any]:
    return listing(directory)


@router.get("/v1/schemas/{name}", summary="One topic's JSON Schema (2020-12)",
            description="The value's schema; its `$defs/headers` describes the record headers.",
            response_class=Response,
            responses={200: {"content": {SCHEMA_MEDIA_TYPE: {"example": schemas.schema("logstream.actions.v1")}}},
                       404: {"content": {"application/problem+json": {}}}})
async def get_schema(name: str, directory: KafkaDirDep) -> Response:
    try:
        document = schemas.schema(name, directory)
    except KeyError:
        known = ", ".join(schemas.schema_names(directory))
        raise NotFoundError(f"no schema {name!r}; these exist: {known}") from None
    return Response(orjson.dumps(document), media_type=SCHEMA_MEDIA_TYPE)


@router.get("/asyncapi.yaml", summary="The AsyncAPI 3.0 document of logstream's Kafka topics",
            response_class=Response,
            responses={200: {"content": {YAML_MEDIA_TYPE: {"example": "asyncapi: 3.0.0\n..."}}}})
async def get_asyncapi(directory: KafkaDirDep) -> Response:
    return Response(served_asyncapi(directory), media_type=YAML_MEDIA_TYPE)
