"""The producer service: POST /v1/logs, health, and (as the front door) everything else forwarded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic.json_schema import models_json_schema
from starlette.middleware.cors import CORSMiddleware

from logstream import __version__, docs_page, logs, metrics, openapi, problems
from logstream.contract import LogIn
from logstream.hot_routes import HotRoutes, hot_route
from logstream.kafka import broker_reachable, ensure_topics
from logstream.responses import JSONBytesResponse
from logstream.security import Guard, KeyRing, RateLimiter, front_door_access, routes_of
from producer_api import beacon, browser_client, compat, erasures, routes
from producer_api.erased_users import ErasedUsers
from producer_api.erasures import ErasurePublisher
from producer_api.errors import IngestError
from producer_api.gateway import ReadRelay, Upstreams, forwarding_router, process_up
from producer_api.idempotency import IdempotencyStore
from producer_api.metrics import FAMILIES, QUEUE_DEPTH, IngestAnswers
from producer_api.publisher import Publisher
from producer_api.settings import ProducerSettings
from producer_api.watermarks import StoredWatch

log = logging.getLogger(__name__)

# GET /readyz under `logstream up`: the broker, then the query service's checks (its stream worker's too)
READY_EXAMPLE = {"ready": True, "checks": {
    "broker": {"ok": True, "detail": "reachable"}, "clickhouse": {"ok": True, "detail": "reachable"},
    "migrations": {"ok": True, "detail": "applied"},
    "stream": {"ok": True, "detail": "consuming", "assigned_partitions": [0, 1, 2, 3, 4, 5], "records": 1520,
               "rows_written": 4560, "duplicates_skipped": 0, "dead_letters": 0, "archived": 1520,
               "actions_published": 4560, "actions_too_large": 0,
               "first_batch_at": 1539920248.25, "last_batch_at": 1539920848.5}}}

DESCRIPTION = """Product-analytics user action logs. Clients POST logs; analysts query actions.
Every error is RFC 9457 `application/problem+json` with a `code` (and an `errors` list of
`{path, code, message}` for contract violations)."""


WRITE_ROUTERS = (routes.router, beacon.router, compat.router)


def create_app(settings: ProducerSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics_or_warn(settings)
        app.state.publisher = Publisher(settings)
        app.state.publisher.start()
        QUEUE_DEPTH.set_function(app.state.publisher.queue_depth)
        app.state.upstreams = Upstreams(settings.query_url, settings.stream_url, settings.internal_key)
        app.state.watch = StoredWatch(settings)
        await app.state.watch.start()
        app.state.idempotency = IdempotencyStore(app.state.upstreams, settings.publish_timeout_ms / 1000 + 5)
        app.state.erasures = ErasurePublisher(settings)
        if settings.erased_users == "refuse" and settings.query_url:
            app.state.publisher.erased_users = ErasedUsers(app.state.upstreams, settings.erased_users_refresh_s)
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.erasures.close)
            if app.state.publisher.erased_users is not None:
                await app.state.publisher.erased_users.close()
            await app.state.publisher.close()
            await app.state.upstreams.close()
            await asyncio.to_thread(app.state.watch.close)

    app = FastAPI(title="logstream", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  openapi_url=None, docs_url=None, redoc_url=None, default_response_class=JSONBytesResponse)
    app.state.settings = settings
    problems.install(app, IngestError)
    app.include_router(routes.router)
    app.include_router(beacon.router)
    app.include_router(browser_client.router)
    app.include_router(compat.router)
    app.include_router(erasures.router)
    app.include_router(compat.methods.router)  # the methods the compatibility routes do not serve: 405

    @app.get("/healthz", summary="The process is alive",
             responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}})
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Broker, ClickHouse, migrations and stream are all ready",
             responses={200: {"content": {"application/json": {"example": READY_EXAMPLE}}},
                        503: {"description": "Not ready: the same body, with the failing checks"}})
    async def readyz(request: Request) -> JSONBytesResponse:
        ok = await asyncio.to_thread(broker_reachable, settings, 2.0)
        checks: dict[str, Any] = {"broker": {"ok": ok, "detail": "reachable" if ok else "unreachable"}}
        checks.update(await request.app.state.upstreams.readiness())
        ready = all(check["ok"] for check in checks.values())
        return JSONBytesResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(request: Request) -> JSONBytesResponse:
        return JSONBytesResponse(await merged_openapi(app, request.app.state.upstreams))

    docs_page.install(app, title="logstream API")

    if settings.metrics_enabled:
        @app.get(metrics.METRICS_PATH, include_in_schema=False)
        async def metrics_of_every_process(request: Request) -> Response:
            """This process's metrics; under `logstream up`, every process's, each with its `process` label."""
            own = metrics.exposition()
            upstream = await request.app.state.upstreams.metrics()
            if not upstream:
                return Response(own, media_type=metrics.CONTENT_TYPE)
            every = metrics.merge({"producer": own.decode() + process_up(1), **upstream})
            return Response(every, media_type=metrics.CONTENT_TYPE)

    if settings.query_url:
        app.include_router(forwarding_router())  # last: only what nothing above matched
    # innermost: inside the guard that protect() adds
    app.add_middleware(HotRoutes, routes=[hot_route(routes.router, "POST", routes.INGEST_PATH)],
                       enabled=settings.hot_routes)
    if settings.query_url:
        app.add_middleware(ReadRelay, router_app=app)  # the forward's reads, beneath the routing
    protect(app, settings)
    app.add_middleware(logs.RequestIds)  # outside the guard: its refusals carry the id too
    if settings.metrics_enabled:  # outermost: refusals by the guard are answers too
        metrics.register(*FAMILIES)
        metrics.install(app, on_answer=IngestAnswers(frozenset(routes_of(*WRITE_ROUTERS))), serve=False)
    return app


def protect(app: FastAPI, settings: ProducerSettings) -> None:
    """Keys and rate limits (logstream.security), then CORS outside them, so that preflights and
    refusals carry the CORS headers a browser needs to read them."""
    keys = KeyRing(settings.write_keys, settings.read_keys, settings.erase_keys)
    limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst) if settings.rate_limit_per_s else None
    app.state.keys, app.state.limiter = keys, limiter if keys else None  # the beacon checks its key itself
    unguarded = [beacon.BEACON_PATH, *browser_client.PATHS]
    app.add_middleware(Guard, keys=keys, classify=front_door_access(routes_of(*WRITE_ROUTERS), unguarded),
                       limiter=limiter if keys else None)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type", "Content-Encoding",
                                          "Idempotency-Key"],
                           expose_headers=["Retry-After", "RateLimit", "RateLimit-Policy", "Logstream-Error",
                                           "X-Request-Id"],
                           max_age=600)


async def ensure_topics_or_warn(settings: ProducerSettings) -> None:
    """Create the topics if the broker is there; if not, start anyway and answer 503 until it is."""
    try:
        await asyncio.to_thread(ensure_topics, settings, 5.0)
    except KafkaException as exc:
        log.warning("could not create the topics (broker unreachable?): %s", exc)


async def merged_openapi(app: FastAPI, upstreams: Upstreams) -> dict[str, Any]:
    """This service's paths plus the query API's: one document for the one base URL."""
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    _, definitions = models_json_schema([(LogIn, "validation")], ref_template="#/components/schemas/{model}")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(definitions.get("$defs", {}))
    upstream = await upstreams.openapi()
    forwarded: set[str] = set()
    if upstream:
        for path, operations in upstream.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in document["paths"].get(path, {}):
                    forwarded.add(path)
                document["paths"].setdefault(path, {}).setdefault(method, operation)
        for name, schema in upstream.get("components", {}).get("schemas", {}).items():
            schemas.setdefault(name, schema)

    def gateway_refusals(path: str, responses: dict[str, Any]) -> None:
        if path in forwarded:  # the front door answers these when the query service is down
            openapi.add_problem(responses, 503, "The query service is unavailable (`upstream_unavailable`)")

    keys = bool(app.state.settings.write_keys or app.state.settings.read_keys)
    return openapi.finish(document, keys=keys, extra=gateway_refusals)
