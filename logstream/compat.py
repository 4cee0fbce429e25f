"""Compatibility routes: the five reference services' APIs, each answering in its own shape.

A compatibility route never answers RFC 9457 problem+json: a refusal is either a `SeedError` (already
in the seed's shape) or any `ProblemError` of the service (broker, ClickHouse, body limits), rendered
through the seed's `Shape`. The machine-readable code and the detail travel in the `Logstream-Error`
header, since most seeds' bodies have no room for them.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol

from starlette.responses import Response

from logstream.problems import ProblemError
from logstream.responses import JSONBytesResponse

ERROR_HEADER = "Logstream-Error"
P = ParamSpec("P")

# Every compatibility path with the methods logstream serves on it, the producer's (writes) and the
# query API's (reads) together; any other method is a 405 with `Allow` (producer_api/compat/methods.py).
# tests/unit/test_compat.py holds it to the two services' ROUTES.
SERVED: dict[str, tuple[str, ...]] = {
    "/api/v1/log": ("POST",), "/testusers": ("POST",), "/api/v1/testusers": ("POST",), "/api/v1/retrieve": ("GET",),
    "/api/submitlogs": ("POST",), "/api/retrievelogs": ("GET",),
    "/log": ("GET", "POST"),
    "/logs/": ("GET", "POST"), "/logs": ("GET", "POST"),
}


class Shape(Protocol):
    """Renders a refusal as one seed's error body."""

    def __call__(self, status: int, code: str, detail: str) -> Any: ...


def printable(text: str, limit: int = 300) -> str:
    """A header value: printable ASCII only, since a value may quote what a client sent (a NUL, a
    control character), and a header with one cannot be sent at all."""
    return "".join(c if " " <= c <= "~" else "?" for c in " ".join(text.split()))[:limit]


def error_header(code: str, detail: str) -> dict[str, str]:
    return {ERROR_HEADER: printable(f"{code}: {detail}")}


class SeedError(Exception):
    """A refusal in one seed's shape (status, body), with logstream's code and detail in a header."""

    def __init__(self, shape: Shape, status: int, code: str, detail: str, *, body: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.body = shape(status, code, detail) if body is None else body
        self.headers = {**(headers or {}), **error_header(code, detail)}

    def response(self) -> Response:
        return JSONBytesResponse(self.body, status_code=self.status, headers=self.headers)


def in_shape(shape: Shape) -> Callable[[Callable[P, Awaitable[Response]]], Callable[P, Awaitable[Response]]]:
    """Decorates a route handler: every refusal it raises is answered in `shape`, never as a problem."""

    def decorate(handler: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
        @functools.wraps(handler)
        async def answer(*args: P.args, **kwargs: P.kwargs) -> Response:
            try:
                return await handler(*args, **kwargs)
            except SeedError as exc:
                return exc.response()
            except ProblemError as exc:
                return SeedError(shape, exc.status, exc.code, exc.detail, headers=exc.headers).response()

        return answer

    return decorate
