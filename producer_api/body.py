"""Reading a JSON request body within limits, before any of it is trusted."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from producer_api.errors import InvalidJSONError, PayloadTooLargeError, UnsupportedMediaTypeError


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json(request: Request, limit: int, *, require_json_type: bool = True) -> Any:
    """`require_json_type=False` reads the body as JSON whatever its Content-Type (compatibility routes)."""
    if require_json_type and not is_json(request.headers.get("content-type")):
        raise UnsupportedMediaTypeError("send the logs as Content-Type: application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # a chunked body declares no length: count as it comes
            raise PayloadTooLargeError(f"the body is over the limit of {limit} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSONError(f"the body is not valid JSON: {exc}") from None
