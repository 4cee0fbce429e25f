"""RFC 9457 problem details: one renderer, installed once per service on its root error."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://logstream.dev/problems/"


class ProblemError(Exception):
    """Root of every error a service renders; subclasses set status, code and title."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}  # further members of the problem, e.g. the eventIds already accepted


def problem_response(status: int, code: str, title: str, detail: str, *,
                     errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
                     extra: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {**(extra or {}), "type": TYPE_BASE + code, "title": title, "status": status,
                            "detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def render(exc: ProblemError) -> Response:
    return problem_response(exc.status, exc.code, exc.title, exc.detail, errors=exc.errors, headers=exc.headers,
                            extra=exc.extra)


def _render(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return render(exc)


def _render_http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return problem_response(exc.status_code, code, str(exc.detail), str(exc.detail), headers=exc.headers)


def _render_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"path": ".".join(str(p) for p in e["loc"]), "code": "invalid_parameter", "message": e["msg"]}
              for e in exc.errors()]
    return problem_response(400, "invalid_parameter", "Invalid request parameters",
                            "one or more parameters are invalid", errors=errors)


def _render_unexpected(_: Request, exc: Exception) -> Response:
    return problem_response(500, "internal", "Internal error", "an unexpected error occurred; it was logged")


def install(app: FastAPI, root: type[ProblemError]) -> None:
    """Starlette walks the exception's MRO, so subclasses of `root` need no registration."""
    app.add_exception_handler(root, _render)
    app.add_exception_handler(StarletteHTTPException, _render_http)
    app.add_exception_handler(RequestValidationError, _render_validation)
    app.add_exception_handler(Exception, _render_unexpected)
