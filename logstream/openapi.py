"""What every service's OpenAPI document says of its problems and keys, added in one place.

- every refusal rendered by logstream.problems is `application/problem+json` with a `Problem` body;
  FastAPI's 422 (its own validation errors) is logstream's 400 `invalid_parameter`;
- with API keys on, each route but health and docs needs one: 401, 403 and 429 (the front door's
  rate limit) are documented, with the two ways to send a key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

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


def install(app: FastAPI, *, keys: bool) -> None:
    """The app's own /openapi.json, finished."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(generate(), keys=keys)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
