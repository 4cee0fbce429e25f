"""GET /logs/, shared by seeds 003 and 004: told apart by their parameter names.

- any of `userId`, `types`, `from`, `to`: seed 003;
- any of `user`, `type`, `start_time`, `end_time` (in the query string, or as a JSON object body, which
  is how 004's README sends its filters): seed 004;
- none of them: everything, as 004's "Unfiltered Retrieval" documents it (its flat list);
- names of both: 400 problem+json, since no single service's shape applies.
`/logs` (no slash) redirects with 308 to `/logs/`, keeping the query string, as 003's Flask did.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from logstream import shapes
from logstream.compat import SeedError
from query_api.compat import seed003, seed004
from query_api.errors import InvalidParameterError

router = APIRouter(tags=["compatibility: 003, 004"])

BODY_LIMIT = 64 * 1024


async def body_filters(request: Request) -> dict[str, str]:
    """004's filters sent as a JSON object body on the GET; any other body is ignored, as Django did."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_LIMIT:
            raise SeedError(shapes.seed004, 413, "payload_too_large", f"a GET body over {BODY_LIMIT} bytes")
    try:
        document: Any = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(document, dict):
        return {}
    found = {name: document[name] for name in seed004.PARAMETERS if document.get(name) is not None}
    for name, value in found.items():
        if not isinstance(value, str):
            raise SeedError(shapes.seed004, 400, "invalid_parameter", f"{name} must be a string",
                            body={"container_errors": {name: ["Not a valid string."]}, "action_errors": []})
    return found


# One example per seed: which one answers depends on the parameters' names.
EXAMPLES = {200: {"content": {"application/json": {"examples": {
    "003": {"summary": "003: ?userId=ABC123XYZ&types=CLICK,VIEW,NAVIGATE", "value": seed003.EXAMPLE},
    "004": {"summary": "004: ?user=ABC123XYZ (or no parameters: every action)", "value": seed004.EXAMPLE}}}}}}


@router.get("/logs/", summary="003 or 004: logs by their own parameters (see the description)",
            responses={**EXAMPLES, **shapes.documented({**shapes.READ_REFUSALS, 413: "004: a GET body over 64 KiB"},
                                                       "seed003", "seed004")})
async def read_logs(
    request: Request,
    userId: Annotated[str | None, Query(description="003")] = None,
    types: Annotated[str | None, Query(description="003: comma-separated, exact")] = None,
    from_: Annotated[str | None, Query(alias="from", description="003: a full time with its offset "
                                                                 "(2019-10-18T21:37:28-06:00), inclusive")] = None,
    to: Annotated[str | None, Query(description="003: a full time with its offset, inclusive")] = None,
    user: Annotated[str | None, Query(description="004")] = None,
    type: Annotated[str | None, Query(description="004: exact")] = None,
    start_time: Annotated[str | None, Query(description="004: ISO 8601, inclusive")] = None,
    end_time: Annotated[str | None, Query(description="004: ISO 8601, EXCLUSIVE")] = None,
) -> Response:
    """003's parameters answer 003's `[{userId, sessionId, actions}]`; 004's (also as a JSON body) or
    none answer 004's flat `[{time, type, properties, userId, sessionId}]` with times in UTC."""
    present = set(request.query_params)
    try:
        from_body = await body_filters(request)
    except SeedError as exc:
        return exc.response()
    from_query = {"user": user, "type": type, "start_time": start_time, "end_time": end_time}
    filters = {**from_body, **{name: value for name, value in from_query.items() if name in present}}
    is_003 = bool(present & set(seed003.PARAMETERS))
    if is_003 and filters:
        raise InvalidParameterError("query", "use the parameters of seed 003 (userId, types, from, to) or of "
                                             "seed 004 (user, type, start_time, end_time), not both")
    if is_003:
        return await seed003.read(request, user_id=userId, types=types, start=from_, end=to)
    return await seed004.read(request, user=filters.get("user"), type_=filters.get("type"),
                              start=filters.get("start_time"), end=filters.get("end_time"))


@router.get("/logs", include_in_schema=False)
async def read_logs_without_slash(request: Request) -> Response:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/logs/{query}", status_code=308)
