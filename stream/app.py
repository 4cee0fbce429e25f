"""The standalone stream service (`logstream stream`): the worker plus /healthz and /readyz."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from logstream import __version__, metrics
from logstream.clickhouse import migrate
from logstream.responses import JSONBytesResponse
from stream.settings import StreamSettings
from stream.worker import StreamWorker


def create_app(settings: StreamSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings)
        worker = StreamWorker(settings)
        app.state.worker = worker
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()

    app = FastAPI(title="logstream stream worker", version=__version__, lifespan=lifespan,
                  default_response_class=JSONBytesResponse)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONBytesResponse:
        stream = app.state.worker.status()
        return JSONBytesResponse({"ready": stream["ok"], "checks": {"stream": stream}},
                              status_code=200 if stream["ok"] else 503)

    if settings.metrics_enabled:
        metrics.install(app)
    return app
