"""A small HTTP/1.1 load generator on raw asyncio streams (keep-alive, no client library in the hot
path), so that the client spends as little of the shared CPU as possible. Bounded in count and time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    sent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    errors: int = 0

    def accepted(self, status: int = 202) -> int:
        return self.by_status.get(status, 0)


class PostTemplate:
    """The bytes of a POST to `url`, but for the body and its length, built once."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Type: application/json",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode()

    def build(self, body: bytes) -> bytes:
        return b"%s%d\r\n\r\n%s" % (self._head, len(body), body)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def run_load(url: str, make_body: Callable[[int], bytes], *, connections: int, duration_s: float,
                   max_requests: int, rate_per_s: float | None = None,
                   on_response: Callable[[int, int, float], None] | None = None) -> LoadResult:
    """POST bodies from `make_body(i)` over `connections` keep-alive connections until `duration_s`
    or `max_requests`; with `rate_per_s`, paced to that rate (open loop, bounded by connections)."""
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + duration_s
    counter = iter(range(max_requests))
    template = PostTemplate(url)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(template.host, template.port)
        try:
            for i in counter:
                now = time.perf_counter()
                if now >= deadline:
                    return
                if rate_per_s:
                    due = started + i / rate_per_s
                    if due > now:
                        await asyncio.sleep(due - now)
                data = template.build(make_body(i))
                sent_at = time.perf_counter()
                writer.write(data)
                result.sent += 1
                try:
                    status = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    result.errors += 1
                    return
                latency = time.perf_counter() - sent_at
                result.by_status[status] = result.by_status.get(status, 0) + 1
                result.latencies_s.append(latency)
                if on_response is not None:
                    on_response(i, status, sent_at + latency)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    result.elapsed_s = time.perf_counter() - started
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
