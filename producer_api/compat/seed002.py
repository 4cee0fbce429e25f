"""Seed 002 (Flask + SQLite): POST /log, one log; `actions` is optional, as its README says.
Errors are 400 {"success":false,"errorCode":"Bad request"}."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import SeedError, in_shape
from logstream.contract import PROPERTIES_AS_SENT, InvalidLogError
from logstream.responses import JSONBytesResponse
from producer_api.compat.ingest import describe, read_document, store, validate

router = APIRouter(tags=["compatibility: 002"])
ACTION_LESS = frozenset({("actions", "missing_field"), ("actions", "empty")})
SUCCESS = {"success": True}  # the answer, and its example


@router.post("/log", summary="002: post one log",
             responses={**shapes.example(SUCCESS), **shapes.documented(shapes.WRITE_REFUSALS, "seed002")})
@in_shape(shapes.seed002)
async def post_log(request: Request) -> Response:
    """200 `{"success":true}` once the log's actions are queryable. 002 checked only `userId` and
    `sessionId`: properties are stored as sent, none required (the record says so: `propertyRules`);
    type and time are the contract's. A log without actions (absent or `[]`) has nothing to store,
    since 002 answers per action: 200 at once, nothing published."""
    document = await read_document(request)
    if not isinstance(document, dict):
        raise SeedError(shapes.seed002, 400, "invalid_logs", "the body must be one log object")
    try:
        logs = validate(request, document, properties_as_sent=True)
    except InvalidLogError as exc:
        if {(p.path, p.code) for p in exc.problems} <= ACTION_LESS:
            return JSONBytesResponse(SUCCESS)
        raise SeedError(shapes.seed002, 400, "invalid_logs", describe(exc.problems)) from None
    await store(request, logs, [document], property_rules=PROPERTIES_AS_SENT)
    return JSONBytesResponse(SUCCESS)
