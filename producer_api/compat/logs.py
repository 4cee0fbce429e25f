"""POST /logs/, shared by seeds 003 and 004: a JSON array is 003's, a JSON object is 004's. Anything
else (not JSON, another JSON type) holds no logs: 400 in 003's shape, NO_LOGS_PROVIDED.
POST /logs (no slash) redirects with 308 to /logs/, which keeps the method and the body."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from logstream import shapes
from logstream.compat import SeedError
from logstream.problems import ProblemError
from producer_api.compat import seed003, seed004
from producer_api.compat.ingest import read_document

router = APIRouter(tags=["compatibility: 003, 004"])
BODY = {"content": {"application/json": {"schema": {"oneOf": [
    {"type": "array", "description": "003: an array of logs", "items": {"$ref": "#/components/schemas/LogIn"}},
    {"$ref": "#/components/schemas/LogIn"}]}}}}


@router.post("/logs/", summary="003 (an array of logs) or 004 (one log object)", openapi_extra={"requestBody": BODY},
             responses={200: {"description": "003: stored",
                              "content": {"application/json": {"example": seed003.SUCCESS}}},
                        201: {"description": "004: stored (no body)"},
                        **shapes.documented(shapes.WRITE_REFUSALS, "seed003", "seed004")})
async def post_logs(request: Request) -> Response:
    """003: 200 `{"success":true}`, or 400 `{"success":false,"code":...}` with its first failure.
    004: 201, or 400 `{"container_errors":{...},"action_errors":[...]}`."""
    try:
        document = await read_document(request)
    except ProblemError as exc:
        return SeedError(shapes.seed003, exc.status, exc.code, exc.detail, headers=exc.headers).response()
    if isinstance(document, dict):
        return await seed004.submit(request, document)
    return await seed003.submit(request, document)


@router.post("/logs", include_in_schema=False)
async def post_logs_without_slash(request: Request) -> Response:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/logs/{query}", status_code=308)
