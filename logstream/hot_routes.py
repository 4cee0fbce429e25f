"""Plain requests to a few hot routes, answered beneath FastAPI's routing by the routes' own code.

Profiled with py-spy (BENCHMARKS.md), FastAPI's router, dependency solving and exception middleware
took about half of the producer's CPU at one log per request, and a tenth of what a time series adds
over its own query. A service names its hot routes and, for each, an `Answer`: the response when it
sees the request as plain, else None (decided before reading the body), and the request then goes
through FastAPI exactly as before. An answer raises only the service's problems, for the same values
and in the same order as the route, so every answer is the same either way (each service has a test
comparing the two). The lane sits innermost, inside the key and rate-limit guard; with dependency
overrides set (tests), every request takes FastAPI's way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from logstream import problems

Answer = Callable[[Request], Awaitable[Response | None]]


class HotRoutes:
    def __init__(self, app: ASGIApp, *, answers: Mapping[tuple[str, str], Answer]):
        self.app, self.answers = app, answers  # (method, path) -> its answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self.answers.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if answer is None or scope["app"].dependency_overrides:
            return await self.app(scope, receive, send)
        try:
            response = await answer(Request(scope, receive))
        except problems.ProblemError as exc:
            response = problems.render(exc)
        if response is None:
            return await self.app(scope, receive, send)
        await response(scope, receive, send)
