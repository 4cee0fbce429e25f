"""The process that owns the embedded default's chDB directory (`logstream query` under `logstream up`).

chDB lets one process open a data directory. This one serves the query API and, composed around it:
- with `with_stream`, a stream worker in the same process (`logstream query --with-stream`);
- with `query_serve_clickhouse`, the engine on ClickHouse's HTTP interface at /clickhouse/
  (embedded/clickhouse_http.py), for stream workers in other processes. It is theirs alone: the
  front door never forwards /clickhouse/ (producer_api/gateway.py), as it never forwards /internal/.
The query API and the stream know nothing of each other; they meet here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

from fastapi import FastAPI
from pydantic import model_validator

from embedded import clickhouse_http
from logstream.clickhouse import resolved_dsn
from logstream.security import CLICKHOUSE_PATH
from query_api.app import create_app as create_query_app
from query_api.settings import QuerySettings
from stream.settings import StreamSettings


class ChdbOwnerSettings(StreamSettings, QuerySettings):
    """The query API's settings and, for a worker hosted here, the stream's."""

    # Serve this process's chDB engine on ClickHouse's HTTP interface at /clickhouse, for stream
    # workers in other processes (they authenticate with LOGSTREAM_INTERNAL_KEY, which it needs).
    query_serve_clickhouse: bool = False

    @model_validator(mode="after")
    def _engine_to_serve(self) -> Self:
        if self.query_serve_clickhouse and not (self.clickhouse_dsn.startswith("chdb://") and self.internal_key):
            raise ValueError("query_serve_clickhouse needs an embedded (chdb://) clickhouse_dsn and an internal_key")
        return self


def create_app(settings: ChdbOwnerSettings, *, with_stream: bool = False) -> FastAPI:
    """The query app, with a stream worker (`with_stream`) and the engine served (`query_serve_clickhouse`)
    started after its own start-up and stopped before its own shutdown."""
    app = create_query_app(settings)
    query_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with query_lifespan(app):
            worker = None
            if with_stream:
                from stream.worker import StreamWorker  # Faust: imported only by the process that runs it

                worker = StreamWorker(settings)
            if worker:
                await worker.start()
                app.state.readiness_checks["stream"] = worker.status
            engine = mount_clickhouse(app, settings) if settings.query_serve_clickhouse else None
            try:
                yield
            finally:
                if worker:
                    await worker.stop()
                if engine:
                    engine.close()

    app.router.lifespan_context = lifespan
    return app


def mount_clickhouse(app: FastAPI, settings: ChdbOwnerSettings) -> clickhouse_http.Engine:
    """Serve this process's engine to other processes' stream workers (embedded.clickhouse_http)."""
    assert settings.internal_key is not None  # ChdbOwnerSettings refuses to serve the engine without one
    path = resolved_dsn(settings.clickhouse_dsn).removeprefix("chdb://")
    adapter = clickhouse_http.create_app(path, settings.internal_key.get_secret_value())
    app.mount(CLICKHOUSE_PATH.rstrip("/"), adapter)
    return adapter.state.engine
