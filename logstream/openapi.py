"""What every service's OpenAPI document says of its problems and keys, added in one place.

- every refusal rendered by logstream.problems is `application/problem+json` with a `Problem` body;
  FastAPI's 422 (its own validation errors) is logstream's 400 `invalid_parameter`;
- with API keys on, each route but health and docs needs one: 401, 403 and 429 (the front door's
  rate limit) are documented, with the two ways to send a key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from logstream.problems import PROBLEM_JSON
from logstream.security import PUBLIC_PATHS

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details, with logstream's `code` (and `errors` for contract violations)",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "code": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "required": ["path", "code", "message"],
                                               "properties": {"path": {"type": "string"}, "code": {"type": "string"},
                                                              "message": {"type": "string"}}}},
    },
}
SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
                    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
KEY_REFUSALS = {401: "No API key, or not one of this service's (`missing_api_key`, `invalid_api_key`)",
                403: "The key may not do this: write keys ingest, read keys query (`insufficient_scope`)",
                429: "This key's rate limit (`rate_limited`); see Retry-After and RateLimit"}
METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


def add_problem(responses: dict[str, Any], status: int | str, description: str) -> None:
    """Document that `status` may be answered as a problem, beside whatever else it already says."""
    response = responses.setdefault(str(status), {"description": description})
    response.setdefault("content", {})[PROBLEM_JSON] = {"schema": PROBLEM_REF}


def finish(document: dict[str, Any], *, keys: bool, extra: Callable[[str, dict[str, Any]], None] | None = None
           ) -> dict[str, Any]:
    """Completes `document` in place (idempotent); `extra(path, responses)` may add more per operation."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if keys:
        components["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                add_problem(responses, 400, "Invalid parameters (`invalid_parameter`)")
            for status, response in responses.items():
                content = response.get("content")
                if status[0] in "45" and not content:
                    add_problem(responses, status, response.get("description", ""))
                elif content and PROBLEM_JSON in content:
                    content[PROBLEM_JSON] = {"schema": PROBLEM_REF}
            if extra is not None:
                extra(path, responses)
            if keys and path not in PUBLIC_PATHS:
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                for status, description in KEY_REFUSALS.items():
                    add_problem(responses, status, description)
    return document


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, inside included routers too (FastAPI 0.165 keeps those as `original_router`).
    Routers here are included without a prefix, so a route's path is its path in the document."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from api_routes(included.routes)


def restore_examples(app: FastAPI, document: dict[str, Any]) -> None:
    """FastAPI drops the null members of response examples (`"nextCursor": null`, a median with no
    data): each route's examples are put back as written, so they keep the shape of real answers."""
    for route in api_routes(app.router.routes):
        if not route.include_in_schema:
            continue
        operations = document.get("paths", {}).get(route.path_format, {})
        for status, response in route.responses.items():
            for media, content in response.get("content", {}).items():
                if "example" not in content:
                    continue
                for method in route.methods:
                    documented = (operations.get(method.lower(), {}).get("responses", {}).get(str(status), {})
                                  .get("content", {}).get(media))
                    if documented is not None:
                        documented["example"] = content["example"]


def install(app: FastAPI, *, keys: bool) -> None:
    """The app's own /openapi.json, finished."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            restore_examples(app, document)
            app.openapi_schema = finish(document, keys=keys)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
