"""FastAPI dependencies shared by the read routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from logstream.contract import ID_MAX_LENGTH
from query_api.filters import ActionFilter, build_filter
from query_api.settings import QuerySettings
from query_api.store import Store


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_settings(request: Request) -> QuerySettings:
    return request.app.state.settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[QuerySettings, Depends(get_settings)]

UserIdQuery = Annotated[str | None, Query(max_length=ID_MAX_LENGTH, examples=["ABC123XYZ"])]
SessionIdQuery = Annotated[str | None, Query(max_length=ID_MAX_LENGTH, examples=["XYZ456ABC"])]
TypeQuery = Annotated[str | None, Query(description="Comma-separated: CLICK,VIEW,NAVIGATE (any case)",
                                        examples=["CLICK,VIEW"])]
FromQuery = Annotated[str | None, Query(alias="from", description="Inclusive; ISO 8601 (no offset means UTC)",
                                        examples=["2018-10-18T00:00:00-06:00"])]
ToQuery = Annotated[str | None, Query(description="Exclusive; ISO 8601 (no offset means UTC)",
                                      examples=["2018-10-19T00:00:00-06:00"])]


async def action_filter(userId: UserIdQuery = None, sessionId: SessionIdQuery = None, type: TypeQuery = None,
                  from_: FromQuery = None, to: ToQuery = None) -> ActionFilter:
    return build_filter(user_id=userId, session_id=sessionId, type_=type, start=from_, end=to)


FilterDep = Annotated[ActionFilter, Depends(action_filter)]

PROBLEMS = {400: {"description": "Bad parameter (time, type, limit, range or cursor)"},
            503: {"description": "ClickHouse unavailable, or the query ran out of time"}}


def example(body: object, media_type: str = "application/json") -> dict[int | str, dict[str, object]]:
    """An OpenAPI `responses` entry showing one example answer, plus the problems every route may return."""
    return {200: {"content": {media_type: {"example": body}}}, **PROBLEMS}
