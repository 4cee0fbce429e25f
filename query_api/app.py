"""The query service: the read API over ClickHouse. What else a process hosting it runs (the
embedded default's stream worker and engine, embedded/chdb_owner.py) is composed above it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from logstream import __version__, docs_page, logs, metrics, openapi, problems
from logstream.clickhouse import MigrationError, connect, migrate, pending_migrations
from logstream.hot_routes import HotRoutes, hot_route
from logstream.responses import JSONBytesResponse
from logstream.security import Guard, KeyRing, query_access
from query_api import (
    compat,
    dashboard,
    erasures,
    export,
    faults,
    funnels,
    idempotency,
    internal,
    live,
    paths,
    retention,
    routes,
    sessions,
    stats,
    topic_schemas,
)
from query_api.errors import QueryError
from query_api.metrics import FAMILIES
from query_api.settings import QuerySettings
from query_api.store import Store


def create_app(settings: QuerySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings)
        app.state.store = Store(connect(settings), max_execution_s=settings.query_max_execution_s,
                                max_result_rows=settings.query_max_limit + 1,
                                max_result_bytes=settings.query_max_result_bytes,
                                open_client=lambda: connect(settings), connections=settings.query_connections)
        try:
            yield
        finally:
            app.state.store.close()

    # No slash redirects: their Location would name this internal address through the front door, and
    # the compatibility routes answer their slash variants as the reference services did.
    app = FastAPI(title="logstream query API", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, default_response_class=JSONBytesResponse, redirect_slashes=False)
    app.state.settings = settings
    # name -> a check that /readyz adds (a process hosting more than this service registers its own)
    app.state.readiness_checks = {}
    problems.install(app, QueryError)
    docs_page.install(app, title="logstream query API")
    dashboard.install(app)
    app.include_router(live.router)  # before routes: /v1/actions/live is not an action
    app.include_router(routes.router)
    app.include_router(stats.router)
    app.include_router(funnels.router)
    app.include_router(retention.router)
    app.include_router(paths.router)
    app.include_router(sessions.router)
    app.include_router(export.router)
    app.include_router(compat.router)
    app.include_router(internal.router)
    app.include_router(erasures.router)
    app.include_router(erasures.internal)
    app.include_router(idempotency.router)
    app.include_router(topic_schemas.router)
    if settings.query_fault_injection:
        app.include_router(faults.router)
    app.add_middleware(HotRoutes, routes=[hot_route(stats.router, "GET", stats.TIMESERIES_PATH)],
                       enabled=settings.hot_routes)  # innermost
    # keys when exposed directly (compose); no rate limit here: that is the front door's
    keys = KeyRing(settings.write_keys, settings.read_keys, settings.erase_keys)
    app.add_middleware(Guard, keys=keys, classify=query_access, internal_key=settings.internal_key)
    openapi.install(app, keys=bool(keys))
    app.add_middleware(logs.RequestIds)  # the front door's id, sent with what it forwards
    if settings.metrics_enabled:  # outermost
        metrics.register(*FAMILIES)
        metrics.install(app)

    @app.get("/healthz", summary="The process is alive",
             responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}})
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONBytesResponse:
        checks = await asyncio.to_thread(readiness, app.state.store, settings)
        checks.update({name: check() for name, check in app.state.readiness_checks.items()})
        ready = all(check["ok"] for check in checks.values())
        return JSONBytesResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    return app


def readiness(store: Store, settings: QuerySettings) -> dict[str, Any]:
    if not store.ping():
        return {"clickhouse": {"ok": False, "detail": "unreachable"},
                "migrations": {"ok": False, "detail": "unknown: ClickHouse unreachable"}}
    try:
        pending = pending_migrations(store.client, settings)
        migrations = {"ok": not pending, "detail": f"{len(pending)} pending" if pending else "applied"}
    except MigrationError as exc:
        migrations = {"ok": False, "detail": str(exc)}
    return {"clickhouse": {"ok": True, "detail": "reachable"}, "migrations": migrations}
