"""Seed 001 (Flask + SQLite): POST /api/submitlogs, one log. Errors are 400 {"error": "..."}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import SeedError, in_shape, printable
from logstream.contract import ActionType, InvalidLogError
from logstream.responses import JSONBytesResponse
from producer_api.compat.ingest import describe, read_document, store, validate

router = APIRouter(tags=["compatibility: 001"])
SUBMITTED = {"status": "logs submitted"}  # the answer, and its example
SKIPPED_HEADER = "Logstream-Skipped"


def unknown_type(action: Any) -> bool:
    """An action whose type is text naming none of the contract's types ("views"): 001 skipped those."""
    kind = action.get("type") if isinstance(action, dict) else None
    return isinstance(kind, str) and kind.upper() not in ActionType.__members__


def without_unknown_types(document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The log without its actions of unknown types, and where each skipped one was (`actions[1]: 'views'`)."""
    actions = document.get("actions")
    if not isinstance(actions, list):
        return document, []
    skipped = [f"actions[{i}]: {a['type'][:32]!r}" for i, a in enumerate(actions) if unknown_type(a)]
    if not skipped:
        return document, []
    return {**document, "actions": [a for a in actions if not unknown_type(a)]}, skipped


def refuse(code: str, detail: str) -> SeedError:
    return SeedError(shapes.seed001_write, 400, code, detail)


@router.post("/api/submitlogs", summary="001: submit one log",
             responses={200: {**shapes.example(SUBMITTED)[200], "headers": {SKIPPED_HEADER: {
                 "description": "The actions of an unknown type that were skipped: `actions[1]: 'views'`, ...",
                 "schema": {"type": "string"}}}},
                 **shapes.documented(shapes.WRITE_REFUSALS, "seed001_write")})
@in_shape(shapes.seed001_write)
async def submit_logs(request: Request) -> Response:
    """200 `{"status":"logs submitted"}` once stored and queryable. Actions of an unknown type are
    skipped, as 001's README says, and listed in `Logstream-Skipped`; the others are stored. A body that
    is missing, not JSON or empty: 400 `{"error":"No data received"}`; a log that does not match the
    contract otherwise: 400 `{"error": "<every problem>"}`, and nothing is stored."""
    document = await read_document(request)
    if not document:
        raise refuse("no_data", shapes.NO_DATA_RECEIVED)
    if not isinstance(document, dict):
        raise refuse("invalid_logs", "the body must be one log object: {\"userId\": ..., \"sessionId\": ..., "
                                     "\"actions\": [...]}")
    document, skipped = without_unknown_types(document)
    headers = {SKIPPED_HEADER: printable(", ".join(skipped))} if skipped else None
    if skipped and not document["actions"]:
        return JSONBytesResponse(SUBMITTED, headers=headers)  # nothing left to store
    try:
        logs = validate(request, document)
    except InvalidLogError as exc:
        raise refuse("invalid_logs", describe(exc.problems)) from None
    await store(request, logs, [document])
    return JSONBytesResponse(SUBMITTED, headers=headers)
