"""JSON responses serialized by orjson (FastAPI's ORJSONResponse is deprecated).

A JSONResponse subclass, so that FastAPI documents a route's response model as its schema (for any
other Response class it documents a plain string, which no JSON answer matches).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSONBytesResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
