"""The reference services' read routes (see docs/COMPATIBILITY.md); their write routes are the
producer's (producer_api/compat/). Every route is listed here, with the module that answers it;
each seedNNN module holds its seed's parameters and shapes.

    seed 000  GET /api/v1/retrieve                                 seed000.py
    seed 001  GET /api/retrievelogs                                seed001.py
    seed 002  GET /log                                             seed002.py
    seed 003  GET /logs/ (userId, types, ...), GET /logs           logs.py, then seed003.py
    seed 004  GET /logs/ (user, ...), GET /logs                    logs.py, then seed004.py
"""

from __future__ import annotations

from fastapi import APIRouter

from query_api.compat import logs, seed000, seed001, seed002

ROUTES = {  # (method, path) -> the module whose router answers it; tests hold this to the router
    ("GET", "/api/v1/retrieve"): seed000,
    ("GET", "/api/retrievelogs"): seed001,
    ("GET", "/log"): seed002,
    ("GET", "/logs/"): logs, ("GET", "/logs"): logs,  # 003 and 004, told apart by the parameters
}

router = APIRouter()
for module in (seed000, seed001, seed002, logs):
    router.include_router(module.router)
