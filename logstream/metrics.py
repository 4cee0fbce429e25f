"""Prometheus metrics shared by every service: the HTTP families, the /metrics answer, and the
merge that lets the front door serve every process's metrics on the one base URL.

Each process has one registry (prometheus-client's default); each service declares its own families
in its `metrics.py`. Labels stay bounded: a route is its template (`/v1/users/{user_id}/actions`),
never the path a client sent; a request that matched no route is `unmatched`.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from prometheus_client import REGISTRY, CollectorRegistry, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logstream.security import flatten_routes

disable_created_metrics()  # the *_created series only double what a scrape carries

CONTENT_TYPE = CONTENT_TYPE_LATEST
METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
# Latency buckets (seconds) for requests and inserts: from a fast ingest to a slow export.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)



class LoopCounter(Collector):
    """A counter for code that runs on the event loop only (per request): a dict add, where
    prometheus-client's Counter takes a lock per increment. Read by collect() on the same thread."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()):
        self.name, self._documentation, self._labelnames = name, documentation, labelnames
        self.values: dict[tuple[str, ...], float] = {} if labelnames else {(): 0.0}

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self._documentation, labels=self._labelnames)
        for labels, value in list(self.values.items()):
            family.add_metric(labels, value)
        return [family]


class LoopHistogram(Collector):
    """A histogram for code that runs on the event loop only: one bisect and two list updates per
    observation, where prometheus-client's Histogram.observe locks and scans every bucket."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.name, self._documentation, self._labelnames = name, documentation, labelnames
        self._bounds = buckets
        self._series: dict[tuple[str, ...], list[Any]] = {}  # labels -> [bucket counts, sum]
        if not labelnames:
            self._series[()] = [[0] * (len(buckets) + 1), 0.0]

    def observe(self, value: float, labels: tuple[str, ...] = ()) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [[0] * (len(self._bounds) + 1), 0.0]
        series[0][bisect_left(self._bounds, value)] += 1  # le: a value equal to a bound is in its bucket
        series[1] += value

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self._documentation, labels=self._labelnames)
        for labels, (counts, total) in list(self._series.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*self._bounds, math.inf), list(counts), strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(labels, buckets, total)
        return [family]


HTTP_REQUESTS = LoopCounter("logstream_http_requests", "HTTP requests answered, by route template, method and status",
                            ("route", "method", "status"))
HTTP_DURATION = LoopHistogram("logstream_http_request_duration_seconds",
                              "Time to answer an HTTP request (to its last body byte), by route template and method",
                              ("route", "method"))


def register(*collectors: Any) -> None:
    """Add families to this process's registry, once (a second app built in one process, as tests
    do, finds them there already)."""
    for collector in collectors:
        if collector not in REGISTRY._collector_to_names:
            REGISTRY.register(collector)


class Templates:
    """Every route of an app as (template, regex, methods), included routers' too: what answers a
    request that FastAPI's routing did not (a hot route, a refusal by the key guard)."""

    def __init__(self, app: Any):
        self._app = app
        self._routes: list[tuple[str, Any, frozenset[str] | None]] | None = None

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None and hasattr(route, "path"):
            # inside a mounted app, its routes are relative to the mount point (scope's root_path)
            return scope.get("root_path", "")[len(scope.get("app_root_path", "")):] + route.path
        if self._routes is None:
            self._routes = [(path, compile_path(path)[0], frozenset(getattr(r, "methods", None) or ()) or None)
                            for path, r in flatten_routes(getattr(self._app, "routes", ()))]
        partial = None
        for template, regex, methods in self._routes:
            if regex.match(scope["path"]):
                if methods is None or scope["method"] in methods:
                    return template
                partial = partial or template  # the path, another method (a 405)
        return partial or UNMATCHED


class HttpMetrics:
    """ASGI middleware, outermost: every answer is counted, refusals by the key guard included.

    A static route's template is remembered by its path, so the hot ingest route, answered beneath
    FastAPI's routing, costs one dict look-up; labelled children are kept, not looked up per request."""

    def __init__(self, app: ASGIApp, *, router_app: Any = None, on_answer: Any = None):
        self.app = app
        self._templates = Templates(router_app)  # where the routes are (the FastAPI app)
        self.on_answer = on_answer  # (route, method, status, problem_code | None) -> None, per service
        self._static: dict[tuple[str, str], str] = {}
        self._labels: dict[tuple[str, str, int], tuple[tuple[str, str, str], tuple[str, str]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        scope.setdefault("app_root_path", scope.get("root_path", ""))
        status = 500
        problem: list[bytes] = []

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400 and self.on_answer is not None and _is_problem(message):
                    problem.append(b"")
            elif message["type"] == "http.response.body" and problem:
                problem.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            self._count(scope, status, time.perf_counter() - started, b"".join(problem) if problem else None)

    def _count(self, scope: Scope, status: int, elapsed: float, problem: bytes | None) -> None:
        method, path = scope["method"], scope["path"]
        route = self._static.get((method, path))
        if route is None:
            route = self._templates.of(scope)
            if route == path and len(self._static) < 1024:  # a static route: its path is its template
                self._static[(method, path)] = route
        key = (route, method, status)
        labels = self._labels.get(key)
        if labels is None:
            labels = self._labels[key] = ((route, method, str(status)), (route, method))
        HTTP_REQUESTS.inc(labels[0])
        HTTP_DURATION.observe(elapsed, labels[1])
        if self.on_answer is not None:
            self.on_answer(route, method, status, _problem_code(problem) if problem is not None else None)


def _is_problem(message: Message) -> bool:
    return any(k == b"content-type" and v.startswith(b"application/problem+json") for k, v in message["headers"])


def _problem_code(body: bytes) -> str | None:
    try:
        code = orjson.loads(body).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return code if isinstance(code, str) and len(code) <= 64 else None


def exposition(registry: CollectorRegistry = REGISTRY) -> bytes:
    """This process's metrics, in the Prometheus text format."""
    return generate_latest(registry)


def merge(texts: Mapping[str, str], label: str = "process") -> bytes:
    """Several processes' expositions as one: each sample gains `label="<process>"`, and each family
    is written once (a second HELP/TYPE for one name is an error to Prometheus)."""
    families: dict[str, Metric] = {}
    for process, text in texts.items():
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            merged.samples.extend(Sample(s.name, {label: process, **s.labels}, s.value, s.timestamp, s.exemplar)
                                  for s in family.samples)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families.values()))
    return generate_latest(registry)


class _Fixed:
    def __init__(self, families: Iterable[Metric]):
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def install(app: Any, *, on_answer: Any = None, serve: bool = True) -> None:
    """Count every answer of `app` (call it last: the middleware must be outermost) and, with
    `serve`, answer GET /metrics with this process's metrics."""
    from fastapi import Response

    if serve:
        @app.get(METRICS_PATH, include_in_schema=False)
        async def metrics() -> Response:
            return Response(exposition(), media_type=CONTENT_TYPE)

        # before any catch-all route (the front door's forwarding), which would answer it first
        app.router.routes.insert(0, app.router.routes.pop())
    register(HTTP_REQUESTS, HTTP_DURATION)
    app.add_middleware(HttpMetrics, router_app=app, on_answer=on_answer)
