"""Routes whose plain requests skip FastAPI's per-request parameter machinery.

For every request FastAPI solves each dependency and validates each parameter with pydantic, inside
two exit stacks: about 0.3 ms per call on the benchmark machine, a seventh of what a time series adds
over its own query (BENCHMARKS.md). A route made with `shortcut_route(read)` is an ordinary APIRoute
(the same OpenAPI operation, the same errors); `read(request)` reads the query parameters itself and
returns the endpoint's arguments, or None for anything it does not see as plainly valid, which then
goes through FastAPI exactly as before. `read` returns arguments only where FastAPI's own validation
would pass, and raises only what the endpoint's dependencies raise for the same values, in the same
order: so every answer, error or not, is the same either way (tests/integration/test_stats_api.py
compares the two). With dependency overrides set (tests), every request takes FastAPI's way.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

ReadArguments = Callable[[Request], dict[str, Any] | None]


def shortcut_route(read: ReadArguments) -> type[APIRoute]:
    """An APIRoute class whose endpoint gets `read(request)` as its arguments when that is not None."""

    class ShortcutRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            if self.dependencies:
                raise TypeError(f"{self.path}: a shortcut stands in for the endpoint's own parameters only")
            full = super().get_route_handler()
            endpoint = self.endpoint

            async def handle(request: Request) -> Response:
                arguments = None if request.app.dependency_overrides else read(request)
                if arguments is None:
                    return await full(request)
                return await endpoint(**arguments)

            return handle

    return ShortcutRoute
