"""Hot routes, answered beneath FastAPI's routing by the routes' own endpoints.

Profiled with py-spy (docs/BENCHMARKS.md), FastAPI's router, dependency solving and exception
middleware took about half of the producer's CPU at one log per request, and a tenth of what a time
series adds over its own query. A service names a few hot routes; a request to one of them is
answered here, innermost (inside the key and rate-limit guard), by the route's endpoint:

- its parameters come from the route's own declarations (its `Dependant`): query parameters are
  read and validated as FastAPI's `request_params_to_args` does, by the same field validators, in the
  order FastAPI solves them (each sub-dependency's, then the endpoint's); what that function works
  out from the annotations on every request (aliases, list or not) is worked out once here. A
  sub-dependency runs only if its parameters are valid, and any invalid parameter is a
  `RequestValidationError` with FastAPI's own error list;
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
from fastapi._compat import ModelField
from fastapi.dependencies import utils as fastapi_utils
from fastapi.dependencies.models import Dependant
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


class QueryField:
    """One query parameter as `request_params_to_args` reads it, its annotation examined once."""

    __slots__ = ("field", "aliases", "sequence")

    def __init__(self, field: ModelField):
        self.field = field
        self.aliases = [alias for _, alias in fastapi_utils._get_param_aliases(field)]
        self.sequence = (not fastapi_utils._is_json_field(field)
                         and fastapi_utils.field_annotation_is_sequence(field.field_info.annotation))

    def validate(self, params: Any, values: dict[str, Any]) -> tuple[Any, list[Any]]:
        alias = next((alias for alias in self.aliases if alias in params), self.aliases[0])
        value = params.getlist(alias) if self.sequence else params.get(alias)
        if value is None or (self.sequence and not value):
            value = fastapi_utils.Undefined
        return fastapi_utils._validate_value_with_model_field(field=self.field, value=value, values=values,
                                                              loc=("query", alias))


_query_fields: dict[int, list[QueryField]] = {}  # id(dependant) -> its query fields, worked out once


def query_fields(dependant: Dependant) -> list[QueryField]:
    fields = _query_fields.get(id(dependant))
    if fields is None:
        fields = _query_fields[id(dependant)] = [QueryField(field) for field in dependant.query_params]
    return fields


def check(dependant: Dependant, path: str) -> None:
    """Refuse what `solve` does not do as FastAPI does: only query parameters, the Request, and async
    sub-dependencies of the same kind."""
    unsupported = (dependant.path_params or dependant.header_params or dependant.cookie_params
                   or dependant.body_params or dependant.response_param_name or dependant.websocket_param_name
                   or dependant.http_connection_param_name or dependant.background_tasks_param_name
                   or dependant.security_scopes_param_name)
    if unsupported:
        raise ValueError(f"{path} cannot be a hot route: it declares more than query parameters and the Request")
    if any(fastapi_utils._get_param_model(field) is not None for field in dependant.query_params):
        raise ValueError(f"{path} cannot be a hot route: it reads its query parameters into a model")
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
    params, query_values = request.query_params, {}
    for field in query_fields(dependant):
        value, field_errors = field.validate(params, query_values)
        if field_errors:
            errors.extend(field_errors)
        else:
            query_values[field.field.name] = value
    values.update(query_values)
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
