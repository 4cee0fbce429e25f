"""API keys and rate limits: one ASGI guard in front of a service's routes.

- Keys are off while no key is configured (the embedded default). With keys, a request shows one as
  `Authorization: Bearer <key>` or `X-API-Key: <key>` (never in the URL, where logs would keep it):
  none or an unknown one is a 401, a key of the wrong kind a 403 (write keys may only ingest, read
  keys may only query; a key in both lists may do both).
- Each presented key is compared with every configured key in constant time (`hmac.compare_digest`);
  keys are never logged or echoed, and buckets are named by a digest of the key.
- Rate limits are per key, a token bucket in this process (the front door's): 429 with `Retry-After`,
  and every keyed answer carries `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
- The query service's /internal/ routes (the producer's alone) ask for the internal key, when one is set.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logstream.problems import problem_response

INTERNAL_KEY_HEADER = "X-Logstream-Internal-Key"
# Where the query service serves its embedded engine on ClickHouse's HTTP interface (its credentials:
# any user name, the internal key as password).
CLICKHOUSE_PATH = "/clickhouse/"
POLICY = "per-key"
# /metrics: counts and latencies only (no user data), as /readyz shows; open to a scraper as health is
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc",
                          "/openapi.json", "/", "/dashboard"})
# Static files of the pages (Swagger UI's, the dashboard's): no data; the dashboard asks for a read
# key itself and sends it with each API call.
PUBLIC_PREFIXES = ("/docs/static/", "/dashboard/static/")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class Access(enum.Enum):
    PUBLIC = "public"
    READ = "read"
    WRITE = "write"
    ERASE = "erase"
    INTERNAL = "internal"


Classifier = Callable[[str, str], Access]  # (method, path) -> what the request needs


class KeyRing:
    """The configured keys, each with the scopes it grants."""

    def __init__(self, write_keys: Iterable[SecretStr], read_keys: Iterable[SecretStr],
                 erase_keys: Iterable[SecretStr] = ()):
        self._keys = [(key.get_secret_value().encode(), Access.WRITE) for key in write_keys]
        self._keys += [(key.get_secret_value().encode(), Access.READ) for key in read_keys]
        self._keys += [(key.get_secret_value().encode(), Access.ERASE) for key in erase_keys]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def scopes(self, presented: bytes) -> tuple[frozenset[Access], bytes]:
        """The scopes `presented` grants (empty if none) and its bucket name. Every configured key is
        compared, in constant time, whatever matches first."""
        granted: set[Access] = set()
        for secret, scope in self._keys:
            if hmac.compare_digest(presented, secret):
                granted.add(scope)
        return frozenset(granted), hashlib.sha256(presented).digest()


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after_s: int  # when not allowed
    full_in_s: int  # until the bucket is full again


class RateLimiter:
    """A token bucket per key: `rate` tokens a second, at most `burst` stored; a request takes one."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[bytes, tuple[float, float]] = {}  # name -> (tokens, at)
        self.policy = f'"{POLICY}";q={burst};w={max(1, math.ceil(burst / rate))}'

    def take(self, name: bytes) -> Decision:
        now = self._clock()
        tokens, at = self._buckets.get(name, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[name] = (tokens, now)  # bounded: only configured keys get here
        return Decision(allowed, int(tokens), max(1, math.ceil((1 - tokens) / self.rate)),
                        math.ceil((self.burst - tokens) / self.rate))

    def headers(self, decision: Decision) -> dict[str, str]:
        return {"RateLimit-Policy": self.policy,
                "RateLimit": f'"{POLICY}";r={decision.remaining};t={decision.full_in_s}'}


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """`Authorization: Bearer <key>`, else `X-API-Key: <key>`."""
    api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and credentials.strip():
                return credentials.strip()
        elif name == b"x-api-key" and value.strip():
            api_key = value.strip()
    return api_key


class Guard:
    """ASGI middleware: checks the key a request needs (`classify`), then its rate limit."""

    def __init__(self, app: ASGIApp, *, keys: KeyRing, classify: Classifier, internal_key: SecretStr | None = None,
                 limiter: RateLimiter | None = None):
        self.app, self.keys, self.classify, self.limiter = app, keys, classify, limiter
        self._internal = internal_key.get_secret_value().encode() if internal_key is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        access = self.classify(scope["method"], scope["path"])
        if access is Access.PUBLIC:
            return await self.app(scope, receive, send)
        if access is Access.INTERNAL:
            shown = dict(scope["headers"]).get(INTERNAL_KEY_HEADER.lower().encode())
            if self._internal is not None and not hmac.compare_digest(shown or b"", self._internal):
                return await _refuse(scope, receive, send, 401, "invalid_internal_key", "Internal route",
                                     "this route is for logstream's own services")
            return await self.app(scope, receive, send)
        if not self.keys:
            return await self.app(scope, receive, send)
        refusal, headers = check_key(self.keys, self.limiter, presented_key(scope["headers"]), access)
        if refusal is not None:
            return await refusal(scope, receive, send)
        await self.app(scope, receive, _with_headers(send, headers) if headers else send)


def check_key(keys: KeyRing, limiter: RateLimiter | None, presented: bytes | None, access: Access
              ) -> tuple[Response | None, dict[str, str]]:
    """The refusal (a problem response) of a request showing `presented` for `access`, or None and the
    rate-limit headers its answer carries. Used by the Guard, and by a route that finds its key in the body."""
    if presented is None:
        return problem_response(401, "missing_api_key", "An API key is needed",
                                "send your key as Authorization: Bearer <key> or X-API-Key: <key>",
                                headers={"WWW-Authenticate": 'Bearer realm="logstream"'}), {}
    scopes, bucket = keys.scopes(presented)
    if not scopes:
        return problem_response(401, "invalid_api_key", "The API key is not valid",
                                "this key is not one of this service's keys",
                                headers={"WWW-Authenticate": 'Bearer realm="logstream", error="invalid_token"'}), {}
    if access not in scopes:
        what = "ingest logs" if access is Access.WRITE else "query"
        return problem_response(403, "insufficient_scope", "The API key may not do this",
                                f"this key may not {what}: use a {access.value} key"), {}
    if limiter is None:
        return None, {}
    decision = limiter.take(bucket)
    headers = limiter.headers(decision)
    if not decision.allowed:
        return problem_response(429, "rate_limited", "Too many requests for this key",
                                f"this key may make {limiter.rate:g} requests a second (bursts of "
                                f"{limiter.burst}); retry after {decision.retry_after_s} s",
                                headers={**headers, "Retry-After": str(decision.retry_after_s)}), {}
    return None, headers


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, title: str, detail: str,
                  headers: dict[str, str] | None = None) -> None:
    await problem_response(status, code, title, detail, headers=headers)(scope, receive, send)


# Requesting an erasure, and following one (its answer names the user), need an erase key.
ERASURES_PATH = "/v1/erasures"


def query_access(method: str, path: str) -> Access:
    """The query service: everything but health and docs is a read, /internal/ is the producer's;
    /clickhouse/ (the engine for other processes' stream workers) asks for ClickHouse credentials itself."""
    if is_public(path) or path.startswith(CLICKHOUSE_PATH):
        return Access.PUBLIC
    if path.startswith(ERASURES_PATH):
        return Access.ERASE
    return Access.INTERNAL if path.startswith("/internal/") else Access.READ


def front_door_access(write_routes: Iterable[tuple[str, str]], unguarded: Iterable[str] = ()) -> Classifier:
    """The producer: its own write routes (method, path) need a write key; what it forwards, a read key.
    The `unguarded` paths need no key (the browser client's script) or check it themselves (the beacon,
    which cannot send headers: its key is in the body)."""
    writes = frozenset(write_routes)
    passed = frozenset(unguarded)

    def classify(method: str, path: str) -> Access:
        if is_public(path) or path in passed:
            return Access.PUBLIC
        if path.startswith(ERASURES_PATH):
            return Access.ERASE
        return Access.WRITE if (method, path) in writes else Access.READ

    return classify


def routes_of(*routers: Any) -> list[tuple[str, str]]:
    """(method, path) of every route of these routers, included routers' too."""
    return [(method, path) for router in routers for path, route in flatten_routes(router.routes)
            for method in getattr(route, "methods", None) or ()]


def flatten_routes(routes: Iterable[Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(full path, route) of every route, included routers' routes too."""
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI includes routers lazily
        if inner is not None:
            yield from flatten_routes(inner.routes, prefix + route.include_context.prefix + inner.prefix)
        elif hasattr(route, "path"):
            yield prefix + route.path, route
