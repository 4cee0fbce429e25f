"""The hot path of ingest: a plain `POST /v1/logs` answered beneath FastAPI's routing.

Profiled at one log per request (py-spy, BENCHMARKS.md), FastAPI's router, dependency solving and
exception middleware took about half of the producer's CPU, the ingest itself 6%. This ASGI layer
sits inside the key and rate-limit guard and answers the plain case (no query string, no
Idempotency-Key) with the route's own code: the same validation, publisher and problem+json. Every
other request, and the OpenAPI description of this one, goes to the FastAPI route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from logstream import problems
from logstream.responses import JSONBytesResponse
from producer_api import idempotency
from producer_api.errors import IngestError
from producer_api.routes import INGEST_PATH, publish, read_logs

IDEMPOTENCY_HEADER = idempotency.HEADER.lower().encode()


class IngestFastLane:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_plain_ingest(scope):
            return await self.app(scope, receive, send)
        state = scope["app"].state
        try:
            logs = await read_logs(Request(scope, receive), state.settings)
            response = JSONBytesResponse(await publish(logs, state.publisher, state.settings.max_record_bytes),
                                         status_code=202)
        except IngestError as exc:
            response = problems.render(exc)
        await response(scope, receive, send)


def _is_plain_ingest(scope: Scope) -> bool:
    return (scope["type"] == "http" and scope["path"] == INGEST_PATH and scope["method"] == "POST"
            and not scope["query_string"] and all(name != IDEMPOTENCY_HEADER for name, _ in scope["headers"]))
