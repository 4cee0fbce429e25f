"""Logs for machines (LOGSTREAM_LOG_FORMAT=json) and the request id that ties a request's lines together.

The front door takes a request's id from `X-Request-Id` (if it is a sane token) or makes one, and
sends it on to the query process with the request; each service answers with it in `X-Request-Id`
and every log line written while handling the request carries it (`request_id`).
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-Id"
_HEADER = HEADER.lower().encode()
ACCEPTED = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")  # a client's id, if it is a plain token
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# A new id: this process's random prefix and a counter (32 hex digits), unique without a syscall
# per request (uuid4 reads the OS's random source each time: measured 2-3 times the cost).
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)
log = logging.getLogger("logstream.requests")


def current_header() -> dict[str, str]:
    """The request id as a header for a call this request makes to another process (or nothing)."""
    value = request_id.get()
    return {HEADER: value} if value else {}


class RequestIds:
    """ASGI middleware: the request id in the context, in the request's headers (so that a forwarded
    request carries it) and in the answer's. At DEBUG, one line per answer (method, path, status)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = scope["headers"]
        given = next((v for k, v in headers if k == _HEADER), None)
        if given is not None and ACCEPTED.match(given):
            value = given
        else:
            value = f"{_PREFIX}{next(_COUNTER):016x}".encode()
            if given is not None:
                headers = [(k, v) for k, v in headers if k != _HEADER]
            scope["headers"] = [*headers, (_HEADER, value)]
        token = request_id.set(value.decode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = message.get("headers", [])
                if any(k == _HEADER for k, _ in out):  # a forwarded answer's (the query process's copy)
                    out = [(k, v) for k, v in out if k != _HEADER]
                message["headers"] = [*out, (_HEADER, value)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s answered %d", scope["method"], scope["path"], status)
            request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id when there
    is one, and the exception's traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            line["request_id"] = rid
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def setup(level: str, log_format: str) -> None:
    """The root logger's one handler, in the format asked for."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
