"""A method a compatibility route does not serve (`GET /api/submitlogs`, `PUT /log`): 405 with `Allow`,
in the service's shape, answered at the front door, which knows every route's methods
(logstream.compat.SERVED) whichever process serves them. Flask and Django answered 405 there too;
without these routes the request was forwarded to the query API and answered 404.

/logs/ (and /logs) belong to 003 and 004: a JSON array body or 003's parameter names get 003's shape,
anything else Django REST framework's own 405 body, `{"detail": "Method \"PUT\" not allowed."}`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import SERVED, SeedError, Shape

router = APIRouter()
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
SHAPES: dict[str, Shape] = {
    "/api/v1/log": shapes.seed000, "/testusers": shapes.seed000, "/api/v1/testusers": shapes.seed000,
    "/api/v1/retrieve": shapes.seed000, "/api/submitlogs": shapes.seed001_write,
    "/api/retrievelogs": shapes.seed001_read, "/log": shapes.seed002,
}
SEED003_PARAMETERS = frozenset({"userId", "types", "from", "to"})


async def is_003(request: Request) -> bool:
    if SEED003_PARAMETERS & set(request.query_params):
        return True
    async for chunk in request.stream():  # up to the body's first byte that is not white space
        if chunk.strip():
            return chunk.lstrip()[:1] == b"["
    return False


def not_allowed(path: str, allowed: tuple[str, ...]) -> None:
    allow = {"Allow": ", ".join(allowed)}

    async def refuse(request: Request) -> Response:
        detail = f"{request.method} is not allowed on {path}; use {' or '.join(allowed)}"
        if path in SHAPES:
            return SeedError(SHAPES[path], 405, "method_not_allowed", detail, headers=allow).response()
        if await is_003(request):
            return SeedError(shapes.seed003, 405, "method_not_allowed", detail, headers=allow).response()
        body = {"detail": f'Method "{request.method}" not allowed.'}
        return SeedError(shapes.seed004, 405, "method_not_allowed", detail, body=body, headers=allow).response()

    router.add_api_route(path, refuse, methods=[m for m in METHODS if m not in allowed], include_in_schema=False)


for _path, _allowed in SERVED.items():
    not_allowed(_path, _allowed)
