"""API keys and rate limits, as pure parts: the key ring, the token bucket, the headers."""

from __future__ import annotations

from pydantic import SecretStr

from logstream.security import (
    Access,
    KeyRing,
    RateLimiter,
    front_door_access,
    presented_key,
    query_access,
    routes_of,
)
from producer_api import compat, routes

WRITE, READ, BOTH = "w" * 16 + "-write", "r" * 16 + "-read", "b" * 16 + "-both"


def ring() -> KeyRing:
    return KeyRing([SecretStr(WRITE), SecretStr(BOTH)], [SecretStr(READ), SecretStr(BOTH)])


def test_each_key_grants_its_scopes_and_nothing_else() -> None:
    keys = ring()
    assert keys.scopes(WRITE.encode())[0] == {Access.WRITE}
    assert keys.scopes(READ.encode())[0] == {Access.READ}
    assert keys.scopes(BOTH.encode())[0] == {Access.READ, Access.WRITE}
    for wrong in (b"", WRITE[:-1].encode(), WRITE.encode() + b"x", READ.upper().encode(), "é".encode()):
        assert keys.scopes(wrong)[0] == frozenset()
    assert not KeyRing([], [])


def test_buckets_are_named_by_a_digest_not_the_key() -> None:
    _, bucket = ring().scopes(WRITE.encode())
    assert WRITE.encode() not in bucket and len(bucket) == 32


def test_a_key_is_taken_from_bearer_or_x_api_key() -> None:
    assert presented_key([(b"authorization", b"Bearer abc")]) == b"abc"
    assert presented_key([(b"authorization", b"bearer   abc ")]) == b"abc"
    assert presented_key([(b"x-api-key", b"abc")]) == b"abc"
    assert presented_key([(b"x-api-key", b"other"), (b"authorization", b"Bearer abc")]) == b"abc"
    assert presented_key([(b"authorization", b"Basic dXNlcjpwYXNz")]) is None
    assert presented_key([(b"authorization", b"Bearer ")]) is None
    assert presented_key([]) is None


def test_the_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    decisions = [limiter.take(b"k") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after_s == 1 and decisions[2].remaining == 0
    assert limiter.take(b"other").allowed  # one bucket per key
    now[0] += 0.5  # one token back
    assert limiter.take(b"k").allowed and not limiter.take(b"k").allowed
    now[0] += 60
    assert limiter.take(b"k").remaining == 2  # never more than the burst


def test_ratelimit_headers_follow_the_ietf_draft() -> None:
    limiter = RateLimiter(rate=10, burst=20, clock=lambda: 0.0)
    headers = limiter.headers(limiter.take(b"k"))
    assert headers == {"RateLimit-Policy": '"per-key";q=20;w=2', "RateLimit": '"per-key";r=19;t=1'}


def test_what_each_route_needs() -> None:
    front = front_door_access([("POST", "/v1/logs"), ("POST", "/logs/")])
    assert front("POST", "/v1/logs") is Access.WRITE
    assert front("GET", "/v1/logs") is Access.READ  # forwarded to the query service
    assert front("PUT", "/v1/logs") is Access.READ
    assert front("GET", "/healthz") is Access.PUBLIC and front("GET", "/openapi.json") is Access.PUBLIC
    assert query_access("GET", "/v1/actions") is Access.READ
    assert query_access("POST", "/internal/visible") is Access.INTERNAL
    assert query_access("GET", "/readyz") is Access.PUBLIC


def test_the_producers_own_write_routes_are_found() -> None:
    writes = set(routes_of(routes.router, compat.router))
    assert {("POST", "/v1/logs"), ("POST", "/api/v1/log"), ("POST", "/testusers"), ("POST", "/api/submitlogs"),
            ("POST", "/log"), ("POST", "/logs/")} <= writes
    assert all(method == "POST" for method, _ in writes)
