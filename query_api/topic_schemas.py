"""GET /v1/schemas, /v1/schemas/{name}, /asyncapi.yaml: what a Kafka consumer of logstream reads,
served so a client can fetch the contract of the topics it consumes (logstream.schemas)."""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson
from fastapi import APIRouter
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


def listing() -> dict[str, Any]:
    return {
        "schemas": [{"name": name, "id": schemas.schema(name)["$id"], "title": schemas.schema(name)["title"],
                     "topic": name, "url": f"/v1/schemas/{name}"} for name in schemas.schema_names()],
        "asyncapi": "/asyncapi.yaml",
    }


@functools.cache
def served_asyncapi() -> bytes:
    return FILE_REF.sub(r"$ref: '/v1/schemas/\1", schemas.asyncapi_text()).encode()


@router.get("/v1/schemas", summary="The JSON Schemas of logstream's Kafka topics",
            description="One per topic, named after it; the AsyncAPI document describes the topics themselves.",
            responses={200: {"content": {"application/json": {"example": LIST_EXAMPLE}}}})
async def list_schemas() -> dict[str, Any]:
    return listing()


@router.get("/v1/schemas/{name}", summary="One topic's JSON Schema (2020-12)",
            description="The value's schema; its `$defs/headers` describes the record headers.",
            response_class=Response,
            responses={200: {"content": {SCHEMA_MEDIA_TYPE: {"example": schemas.schema("logstream.actions.v1")}}},
                       404: {"content": {"application/problem+json": {}}}})
async def get_schema(name: str) -> Response:
    try:
        document = schemas.schema(name)
    except KeyError:
        raise NotFoundError(f"no schema {name!r}; these exist: {', '.join(schemas.schema_names())}") from None
    return Response(orjson.dumps(document), media_type=SCHEMA_MEDIA_TYPE)


@router.get("/asyncapi.yaml", summary="The AsyncAPI 3.0 document of logstream's Kafka topics",
            response_class=Response,
            responses={200: {"content": {YAML_MEDIA_TYPE: {"example": "asyncapi: 3.0.0\n..."}}}})
async def get_asyncapi() -> Response:
    return Response(served_asyncapi(), media_type=YAML_MEDIA_TYPE)
