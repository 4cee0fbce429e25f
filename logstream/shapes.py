"""Each reference service's error body, in one place per seed (both the write routes in the producer
and the read routes in the query API answer through these). See docs/COMPATIBILITY.md."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

NO_DATA_RECEIVED = "No data received"


def seed000(status: int, code: str, detail: str) -> Any:
    """000 documents one error body for everything."""
    return {"status": "failed"}


def seed001_write(status: int, code: str, detail: str) -> Any:
    return {"error": NO_DATA_RECEIVED if code in ("invalid_json", "invalid_unicode") else detail}


def seed001_read(status: int, code: str, detail: str) -> Any:
    """001's read errors carry their message in `status`: {"status": "parameter(s) must be provided"}."""
    return {"status": detail}


def seed002(status: int, code: str, detail: str) -> Any:
    """002's errorCode is the reason phrase ("Bad request" as its README writes it)."""
    return {"success": False, "errorCode": "Bad request" if status == 400 else HTTPStatus(status).phrase}


# 003's codes are its own (MISSING_USERID, ...); logstream's codes that reach it are mapped or upper-cased.
SEED003_CODES = {"invalid_json": "NO_LOGS_PROVIDED", "invalid_unicode": "NO_LOGS_PROVIDED",
                 "invalid_parameter": "INVALID_TIME_FORMAT"}


def seed003(status: int, code: str, detail: str) -> Any:
    return {"success": False, "code": SEED003_CODES.get(code, code.upper())}


def seed004(status: int, code: str, detail: str) -> Any:
    """004 (Django REST framework) reports errors per field; what is not a field's is non_field_errors."""
    return {"container_errors": {"non_field_errors": [detail]}, "action_errors": []}


# ---------------------------------------------------------------- the same shapes, documented
# The JSON Schema of each seed's error body, for the routes' OpenAPI `responses` (schemathesis checks
# every answer against them).

def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_TEXT = {"type": "string"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "seed000": _object({"status": {"const": "failed"}}, ["status"]),
    "seed001_write": _object({"error": _TEXT}, ["error"]),
    "seed001_read": _object({"status": _TEXT}, ["status"]),
    "seed002": _object({"success": {"const": False}, "errorCode": _TEXT}, ["success", "errorCode"]),
    "seed003": _object({"success": {"const": False}, "code": _TEXT}, ["success", "code"]),
    "seed004": _object({"container_errors": {"type": "object", "additionalProperties": True},
                        "action_errors": {"type": "array", "items": {"type": "object"}}},
                       ["container_errors", "action_errors"]),
}
WRITE_REFUSALS = {400: "Refused: not JSON, or not a valid log", 413: "The body (or what it inflates to) is too large",
                  415: "An unsupported Content-Encoding", 503: "Broker or query service unavailable",
                  504: "Stored, but not queryable in time; do not resend"}
READ_REFUSALS = {400: "A bad parameter, or too many actions match", 503: "ClickHouse unavailable"}


def documented(refusals: dict[int, str], *seeds: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a compatibility route's refusals, in its seed's shape (several seeds:
    either's) with logstream's code and detail in the Logstream-Error header."""
    schemas = [SCHEMAS[seed] for seed in seeds]
    schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    header = {"Logstream-Error": {"description": "logstream's code and detail: `<code>: <detail>`",
                                  "schema": {"type": "string"}}}
    return {status: {"description": description, "headers": header, "content": {"application/json": {"schema": schema}}}
            for status, description in refusals.items()}


def example(body: Any) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` showing a compatibility route's 200 answer (merge it with `documented`)."""
    return {200: {"content": {"application/json": {"example": body}}}}
