"""Seed 000 (Flask + SQLAlchemy): POST /api/v1/log (registered users only) and the test-user registry,
POST /testusers and POST /api/v1/testusers. Every refusal is {"status":"failed"}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import SeedError, in_shape
from logstream.contract import InvalidLogError
from logstream.responses import JSONBytesResponse
from producer_api.compat.ingest import describe, is_identifier, read_document, store, validate

router = APIRouter(tags=["compatibility: 000"])
REGISTRY_TIMEOUT_S = 10.0
SUCCESS = {"status": "success"}  # every route's answer, and its example
ANSWERS = {**shapes.example(SUCCESS), **shapes.documented(shapes.WRITE_REFUSALS, "seed000")}


def refuse(code: str, detail: str) -> SeedError:
    return SeedError(shapes.seed000, 400, code, detail)


@router.post("/api/v1/log", summary="000: send one log (its user must be registered)", responses=ANSWERS)
@in_shape(shapes.seed000)
async def send_log(request: Request) -> Response:
    """200 `{"status":"success"}` once the log's actions are queryable; 400 `{"status":"failed"}` if the log
    does not match the contract or its user is not registered (the reason is in `Logstream-Error`)."""
    document = await read_document(request)
    if not isinstance(document, dict):
        raise refuse("invalid_logs", "the body must be one log object")
    try:
        logs = validate(request, document)
    except InvalidLogError as exc:
        raise refuse("invalid_logs", describe(exc.problems)) from None
    answer = await request.app.state.upstreams.call("GET", "/internal/users/registered", timeout=REGISTRY_TIMEOUT_S,
                                                    params={"userId": logs[0].userId})
    if not answer.get("registered"):
        raise refuse("user_not_registered", f"user {logs[0].userId[:64]!r} is not registered; POST /testusers first")
    await store(request, logs, [document])
    return JSONBytesResponse(SUCCESS)


def user_ids(document: Any) -> list[str] | None:
    """{"users": [{"userId": ...}, ...]}, every userId a contract identifier; None if not that."""
    users = document.get("users") if isinstance(document, dict) else None
    if not isinstance(users, list) or not all(isinstance(u, dict) and is_identifier(u.get("userId")) for u in users):
        return None
    return [user["userId"] for user in users]


@router.post("/testusers", summary="000: register test users (idempotent)", responses=ANSWERS)
@router.post("/api/v1/testusers", summary="000: register test users (idempotent)", responses=ANSWERS)
@in_shape(shapes.seed000)
async def add_test_users(request: Request) -> Response:
    """`{"users":[{"userId":"..."}]}`: 200 `{"status":"success"}`, also for users already registered."""
    ids = user_ids(await read_document(request))
    if ids is None:
        raise refuse("invalid_users", 'the body must be {"users": [{"userId": "..."}, ...]}')
    await request.app.state.upstreams.call("POST", "/internal/users", json={"userIds": ids},
                                           timeout=REGISTRY_TIMEOUT_S)
    return JSONBytesResponse(SUCCESS)
