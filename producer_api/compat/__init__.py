"""The reference services' write routes (see docs/COMPATIBILITY.md); their read routes are the query
API's (query_api/compat/). Every route is listed here, with the module that answers it; each
seedNNN module holds its seed's validation and shapes.

    seed 000  POST /api/v1/log, POST /testusers, POST /api/v1/testusers  seed000.py
    seed 001  POST /api/submitlogs                                       seed001.py
    seed 002  POST /log                                                  seed002.py
    seed 003  POST /logs/ (a JSON array), POST /logs -> 308              logs.py, then seed003.py
    seed 004  POST /logs/ (a JSON object), POST /logs -> 308             logs.py, then seed004.py
    every other method on these paths and on the read routes' paths: 405 methods.py (its own router)
"""

from __future__ import annotations

from fastapi import APIRouter

from producer_api.compat import logs, methods, seed000, seed001, seed002

ROUTES = {  # (method, path) -> the module whose router answers it; tests hold this to the router
    ("POST", "/api/v1/log"): seed000, ("POST", "/testusers"): seed000, ("POST", "/api/v1/testusers"): seed000,
    ("POST", "/api/submitlogs"): seed001,
    ("POST", "/log"): seed002,
    ("POST", "/logs/"): logs, ("POST", "/logs"): logs,  # 003 and 004, told apart by the body
}

__all__ = ["ROUTES", "methods", "router"]
router = APIRouter()
for module in (seed000, seed001, seed002, logs):
    router.include_router(module.router)
