"""Seed 001 (Flask + SQLite): POST /api/submitlogs, one log. Errors are 400 {"error": "..."}."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import SeedError, in_shape
from logstream.contract import InvalidLogError
from logstream.responses import JSONBytesResponse
from producer_api.compat.ingest import describe, read_document, store, validate

router = APIRouter(tags=["compatibility: 001"])
SUBMITTED = {"status": "logs submitted"}  # the answer, and its example


def refuse(code: str, detail: str) -> SeedError:
    return SeedError(shapes.seed001_write, 400, code, detail)


@router.post("/api/submitlogs", summary="001: submit one log",
             responses={**shapes.example(SUBMITTED), **shapes.documented(shapes.WRITE_REFUSALS, "seed001_write")})
@in_shape(shapes.seed001_write)
async def submit_logs(request: Request) -> Response:
    """200 `{"status":"logs submitted"}` once stored and queryable. A body that is missing, not JSON or
    empty: 400 `{"error":"No data received"}`; a log that does not match the contract (001 skipped its
    invalid actions silently): 400 `{"error": "<every problem>"}`, and nothing is stored."""
    document = await read_document(request)
    if not document:
        raise refuse("no_data", shapes.NO_DATA_RECEIVED)
    if not isinstance(document, dict):
        raise refuse("invalid_logs", "the body must be one log object: {\"userId\": ..., \"sessionId\": ..., "
                                     "\"actions\": [...]}")
    try:
        logs = validate(request, document)
    except InvalidLogError as exc:
        raise refuse("invalid_logs", describe(exc.problems)) from None
    await store(request, logs, [document])
    return JSONBytesResponse(SUBMITTED)
