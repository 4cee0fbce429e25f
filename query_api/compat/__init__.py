"""The reference services' read routes (see COMPATIBILITY.md); their write routes are the producer's."""

from __future__ import annotations

from fastapi import APIRouter

from query_api.compat import logs, seed000, seed001, seed002

router = APIRouter()
for module in (seed000, seed001, seed002, logs):
    router.include_router(module.router)
