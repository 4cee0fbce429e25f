"""Hot routes, answered beneath FastAPI's routing by the routes' own endpoints.

Profiled with py-spy (docs/BENCHMARKS.md), FastAPI's router, dependency solving and exception
middleware took about half of the producer's CPU at one log per request, and a tenth of what a time
series adds over its own query. A service names a few hot routes; a request to one of them is
answered here, innermost (inside the key and rate-limit guard), by the route's endpoint:

- its parameters come from the route's own declarations (its `Dependant`): query parameters are
  validated by FastAPI's `request_params_to_args` in the order FastAPI solves them (each
  sub-dependency's, then the endpoint's), a sub-dependency runs only if its parameters are valid,
  and any invalid parameter is a `RequestValidationError` with FastAPI's own error list;
- whatever it raises is rendered by the app's own exception handlers, found as Starlette finds them
  (HTTPException by status first, then along the exception's MRO); what no handler takes goes up to
  the server-error handler, as from a route.

So every answer is the route's (tests/property/test_hot_routes.py drives the same requests both ways).
A route qualifies if its dependencies are async functions of query parameters and the Request and its
endpoint returns a Response: anything else is refused when the app is built. `LOGSTREAM_HOT_ROUTES=false`
turns the layer off (every request then takes FastAPI's way).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send


def hot_route(router: Any, method: str, path: str) -> APIRoute:
    """The route of `router` (an APIRouter, where it was declared) for method and path."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path == path and method in route.methods:
            check(route.dependant, route.path)
            return route
    raise LookupError(f"no route {method} {path} in this router")


def check(dependant: Dependant, path: str) -> None:
    """Refuse what `solve` does not do as FastAPI does: only query parameters, the Request, and async
    sub-dependencies of the same kind."""
    unsupported = (dependant.path_params or dependant.header_params or dependant.cookie_params
                   or dependant.body_params or dependant.response_param_name or dependant.websocket_param_name
                   or dependant.http_connection_param_name or dependant.background_tasks_param_name
                   or dependant.security_scopes_param_name)
    if unsupported:
        raise ValueError(f"{path} cannot be a hot route: it declares more than query parameters and the Request")
    for sub in dependant.dependencies:
        if not inspect.iscoroutinefunction(sub.call):
            raise ValueError(f"{path} cannot be a hot route: its dependency {sub.name} is not an async function")
        check(sub, path)


async def solve(dependant: Dependant, request: Request) -> tuple[dict[str, Any], list[Any]]:
    """FastAPI's solve_dependencies, for what `check` allows: the values to call with, and the errors."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for sub in dependant.dependencies:
        sub_values, sub_errors = await solve(sub, request)
        if sub_errors:
            errors.extend(sub_errors)
            continue
        assert sub.call is not None and sub.name is not None
        values[sub.name] = await sub.call(**sub_values)
    query_values, query_errors = request_params_to_args(dependant.query_params, request.query_params)
    values.update(query_values)
    errors += query_errors
    if dependant.request_param_name:
        values[dependant.request_param_name] = request
    return values, errors


class HotRoutes:
    """ASGI middleware: each named route's requests answered by its endpoint, the rest passed on."""

    def __init__(self, app: ASGIApp, *, routes: Iterable[APIRoute], enabled: bool = True):
        self.app = app
        self.routes: Mapping[tuple[str, str], APIRoute] = {
            (method, route.path): route for route in routes for method in route.methods} if enabled else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if route is None:
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        try:
            response = await answer(route, request)
        except Exception as exc:
            handler = handler_for(scope["app"], exc)
            if handler is None:
                raise
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:  # as Starlette runs a plain function
                response = await run_in_threadpool(handler, request, exc)
        await response(scope, receive, send)


async def answer(route: APIRoute, request: Request) -> Response:
    values, errors = await solve(route.dependant, request)
    if errors:
        raise RequestValidationError(errors, body=None)
    assert route.dependant.call is not None
    response = await route.dependant.call(**values)
    if not isinstance(response, Response):
        raise TypeError(f"hot route {route.path} returned {type(response).__name__}, not a Response")
    return response


def handler_for(app: FastAPI, exc: Exception) -> Any:
    """The handler Starlette's ExceptionMiddleware would call for `exc` (None: it would re-raise, and
    the server-error handler answers)."""
    handlers = {key: value for key, value in app.exception_handlers.items() if key not in (500, Exception)}
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]
    return next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
