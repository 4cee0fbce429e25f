"""The front door: routes this process does not serve go to the query API (and the stream's
health to the stream service), so the whole documented API lives on one base URL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from pydantic import SecretStr
from starlette.background import BackgroundTask
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.responses import StreamingResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from logstream.logs import current_header
from logstream.problems import render
from logstream.security import CLICKHOUSE_PATH, INTERNAL_KEY_HEADER, flatten_routes
from producer_api.errors import UpstreamUnavailableError
from producer_api.relay import Relay, RelayError

log = logging.getLogger(__name__)

INTERNAL = "/internal/"
# Never forwarded: the query service's routes for the producer alone, and the engine it may serve to
# stream workers (embedded/chdb_owner.py); behind the front door they do not exist.
NOT_FORWARDED = (INTERNAL, CLICKHOUSE_PATH)
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                        "proxy-authorization", "proxy-authenticate", "host", "content-length"})
# Not relayed back: hop-by-hop, and what this server sets on every response itself (a second copy).
NOT_RELAYED_BACK = HOP_BY_HOP | {"date", "server"}


class Upstreams:
    def __init__(self, query_url: str | None, stream_url: str | None, internal_key: SecretStr | None = None):
        self.query_url = query_url.rstrip("/") if query_url else None
        # shown on /internal/ calls only, never on forwarded requests
        self._internal = {INTERNAL_KEY_HEADER: internal_key.get_secret_value()} if internal_key else {}
        self.stream_url = stream_url.rstrip("/") if stream_url else None
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=2.0),
                                        limits=httpx.Limits(max_connections=64))
        # reads relayed beneath the routing (ReadRelay)
        origin = httpx.URL(self.query_url) if self.query_url else None
        self.relay = Relay(origin.host, origin.port or 80) if origin else None
        self._openapi: dict[str, Any] | None = None

    async def close(self) -> None:
        await self.client.aclose()
        if self.relay:
            await self.relay.close()

    async def readiness(self) -> dict[str, Any]:
        """Each upstream's /readyz checks, merged."""
        checks: dict[str, Any] = {}
        for name, base in (("query", self.query_url), ("stream", self.stream_url)):
            if base is None:
                continue
            try:
                response = await self.client.get(f"{base}/readyz", timeout=3.0)
                checks.update(response.json().get("checks", {}))
                if response.status_code != 200:
                    checks.setdefault(name, {"ok": False, "detail": f"{name} not ready"})
            except (httpx.HTTPError, ValueError) as exc:
                checks[name] = {"ok": False, "detail": f"{name} service unreachable: {exc.__class__.__name__}"}
        return checks

    async def metrics(self) -> dict[str, str]:
        """Each upstream's /metrics text by process name (`query`, `stream`), with `logstream_process_up`
        added: 1 if it answered, 0 (and nothing else from it) if not."""
        async def scrape(base: str) -> str:
            try:
                response = await self.client.get(f"{base}/metrics", timeout=5.0)
                response.raise_for_status()
            except httpx.HTTPError:
                return process_up(0)
            return response.text + process_up(1)

        upstreams = [(name, base) for name, base in (("query", self.query_url), ("stream", self.stream_url)) if base]
        texts = await asyncio.gather(*(scrape(base) for _, base in upstreams))
        return {name: text for (name, _), text in zip(upstreams, texts, strict=True)}

    async def openapi(self) -> dict[str, Any] | None:
        if self._openapi is None and self.query_url is not None:
            try:
                response = await self.client.get(f"{self.query_url}/openapi.json", timeout=5.0)
                response.raise_for_status()
                self._openapi = response.json()
            except (httpx.HTTPError, ValueError):
                log.warning("could not fetch the query API's OpenAPI document")
        return self._openapi

    async def call(self, method: str, path: str, *, timeout: float, json: Any = None,
                   params: dict[str, str] | None = None) -> Any:
        """One call to the query service's internal API; any failure is a 503 (UpstreamUnavailableError)."""
        if self.query_url is None:
            raise UpstreamUnavailableError("this deployment has no query service (LOGSTREAM_QUERY_URL)")
        try:
            response = await self.client.request(method, f"{self.query_url}{path}", json=json, params=params,
                                                 headers={**self._internal, **current_header()}, timeout=timeout)
            if response.status_code != 200:
                raise UpstreamUnavailableError(f"the query service answered {response.status_code} to {path}: "
                                               f"{response.text[:200]}", headers={"Retry-After": "1"})
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamUnavailableError(f"the query service is unreachable: {exc.__class__.__name__}",
                                           headers={"Retry-After": "1"}) from exc

    async def forward(self, request: Request) -> StreamingResponse:
        if self.query_url is None:
            raise UpstreamUnavailableError("this deployment has no query service (LOGSTREAM_QUERY_URL)")
        if (request.url.path + "/").startswith(NOT_FORWARDED):
            raise HTTPException(404, "Not Found")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        # the path as it came, still percent-encoded: decoded, it may hold characters no URL may
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        try:
            upstream = self.client.build_request(request.method, f"{self.query_url}{raw_path.decode('latin-1')}",
                                                 params=request.url.query, headers=headers,
                                                 content=request.stream())
        except httpx.InvalidURL as exc:
            raise HTTPException(400, f"the request's URL cannot be forwarded: {exc}") from None
        try:
            response = await self.client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailableError(f"the query service is unreachable: {exc.__class__.__name__}",
                                           headers={"Retry-After": "1"}) from exc
        out_headers = {k: v for k, v in response.headers.items() if k.lower() not in NOT_RELAYED_BACK}
        body = response.aiter_raw()
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            body = until_stopping(body, lambda: getattr(request.app.state, "stopping", False))
        return StreamingResponse(body, status_code=response.status_code, headers=out_headers,
                                 background=BackgroundTask(response.aclose))


    async def relay_read(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A GET or HEAD to the query service, its answer streamed back as it comes, until it ends or
        the client goes away (a live stream through the front door must not outlive its reader)."""
        assert self.relay is not None
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        try:
            answer = await self.relay.request(scope["method"], raw_path + (b"?" + query if query else b""),
                                              scope["headers"])
        except RelayError as exc:
            problem = UpstreamUnavailableError(f"the query service is unreachable: {exc}", headers={"Retry-After": "1"})
            await render(problem)(scope, _no_body, send)
            return

        async def relay_body() -> None:
            await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
            async for chunk in answer.chunks():  # a break-off mid-answer raises: the answer is cut short
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        body, gone = asyncio.ensure_future(relay_body()), asyncio.ensure_future(_disconnected(receive))
        await asyncio.wait({body, gone}, return_when=asyncio.FIRST_COMPLETED)
        for task in (body, gone):
            task.cancel()  # a client gone: its answer's connection is closed, not kept
        await asyncio.gather(body, gone, return_exceptions=True)
        if body.done() and not body.cancelled() and body.exception() is not None:
            raise body.exception()  # type: ignore[misc]


async def until_stopping(chunks: AsyncIterator[bytes], stopping: Callable[[], bool],
                         check_every_s: float = 0.5) -> AsyncIterator[bytes]:
    """An endless stream (the live tail) relayed until this process begins to stop, then ended: its
    client reconnects elsewhere or later, with Last-Event-ID."""
    iterator = chunks.__aiter__()
    while True:
        chunk = asyncio.ensure_future(iterator.__anext__())
        while not chunk.done():
            await asyncio.wait({chunk}, timeout=check_every_s)
            if stopping() and not chunk.done():
                chunk.cancel()
                return
        try:
            yield chunk.result()
        except StopAsyncIteration:
            return


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


class ReadRelay:
    """ASGI middleware: a GET or HEAD without a body that no route of this app answers (but the
    catch-all forward) is relayed to the query service here, beneath FastAPI's routing, on
    producer_api/relay.py (which says why). Anything else (a body, /internal/, /clickhouse/, a
    route of this app) goes on to the app and its forward as before."""

    def __init__(self, app: ASGIApp, *, router_app: Any):
        self.app = app
        self._router_app = router_app
        self._own_routes: list[Any] | None = None

    def _relayed(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        if (scope["path"] + "/").startswith(NOT_FORWARDED):
            return False
        if any(k in (b"content-length", b"transfer-encoding") and v != b"0" for k, v in scope["headers"]):
            return False
        if self._own_routes is None:  # (path regex, methods) of this app's routes but the catch-all forward
            self._own_routes = [(compile_path(path)[0], getattr(route, "methods", None))
                                for path, route in flatten_routes(self._router_app.routes)
                                if getattr(route, "name", "") != "forward"]
        path, method = scope["path"], scope["method"]
        return not any(regex.match(path) and (methods is None or method in methods)
                       for regex, methods in self._own_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._relayed(scope):
            return await self.app(scope, receive, send)
        await scope["app"].state.upstreams.relay_read(scope, receive, send)


def process_up(value: int) -> str:
    return ("# HELP logstream_process_up Whether the process answered the front door's scrape\n"
            f"# TYPE logstream_process_up gauge\nlogstream_process_up {value}\n")


class AnyPathConvertor(Convertor[str]):
    """Starlette's `path` convertor is `.*`, which stops at a newline: a path holding %0A matched
    nothing and was a 404 at the front door (schemathesis found it). This one takes any path."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", AnyPathConvertor())


def forwarding_router() -> APIRouter:
    router = APIRouter()

    @router.api_route("/{path:anypath}", methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"],
                      include_in_schema=False)
    async def forward(request: Request) -> StreamingResponse:
        return await request.app.state.upstreams.forward(request)

    return router
