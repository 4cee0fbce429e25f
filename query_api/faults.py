"""Fault injection for the reliability tests, off unless LOGSTREAM_QUERY_FAULT_INJECTION=true:
ClickHouse's `actions` table made unavailable for a while (detached, then attached again)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request

from logstream.responses import JSONBytesResponse

log = logging.getLogger(__name__)
router = APIRouter(prefix="/internal/faults", include_in_schema=False)


@router.post("/clickhouse-outage")
async def clickhouse_outage(request: Request, seconds: Annotated[float, Query(gt=0, le=300)]) -> JSONBytesResponse:
    store = request.app.state.store
    await asyncio.to_thread(store.client.command, "DETACH TABLE actions")
    log.warning("fault injected: the actions table is detached for %.0f s", seconds)

    async def restore() -> None:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(store.client.command, "ATTACH TABLE actions")
        log.warning("fault over: the actions table is attached again")

    request.app.state.fault_tasks = [*getattr(request.app.state, "fault_tasks", []),
                                     asyncio.ensure_future(restore())]
    return JSONBytesResponse({"detachedForSeconds": seconds})
