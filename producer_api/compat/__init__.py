"""The reference services' write routes (see COMPATIBILITY.md); their read routes are the query API's."""

from __future__ import annotations

from fastapi import APIRouter

from producer_api.compat import logs, seed000, seed001, seed002

router = APIRouter()
for module in (seed000, seed001, seed002, logs):
    router.include_router(module.router)
