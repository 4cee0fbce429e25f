"""The front door's read relay: a GET or HEAD passed to the query service over kept-alive HTTP/1.1
connections, its answer streamed back, on asyncio's streams alone.

httpx (the forward's client) builds request and response models and goes through anyio and h11: about
2 ms of the front door's CPU per read on this machine, as much as a small read costs the query
service. The query service is our own uvicorn: an answer has a Content-Length or is chunked, which
is all this reads (and a body to the end of the connection, the one other way HTTP/1.1 allows)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

# Not sent on: hop-by-hop, and the host (this relay names the query service's).
NOT_SENT = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
                      b"proxy-authorization", b"proxy-authenticate", b"host", b"content-length"})
# Not relayed back: hop-by-hop, and what the front door's server sets on every answer itself.
NOT_RELAYED = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
                         b"proxy-authorization", b"proxy-authenticate", b"date", b"server"})
CHUNK = 64 * 1024
MAX_HEAD = 64 * 1024  # an answer's status line and headers


class RelayError(Exception):
    """The query service could not be reached, or broke the protocol, before its answer began."""


class Answer:
    """An answer's status and headers, then its body (`chunks()`), on a connection of the relay."""

    def __init__(self, relay: Relay, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int,
                 headers: list[tuple[bytes, bytes]], length: int | None, chunked: bool, bodiless: bool,
                 keep_alive: bool):
        self.status, self.headers = status, headers
        self._relay, self._reader, self._writer = relay, reader, writer
        self._length, self._chunked, self._bodiless, self._keep_alive = length, chunked, bodiless, keep_alive

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, as it comes (a live stream may last hours: the timeout is per read, not for the
        whole body). The connection goes back to the pool only if the body was read to its end."""
        done = False
        try:
            if self._bodiless:
                pass
            elif self._length is not None:
                left = self._length
                while left:
                    data = await self._read(self._reader.read(min(left, CHUNK)))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", left)
                    left -= len(data)
                    yield data
            elif self._chunked:
                while size := int((await self._read(self._reader.readuntil(b"\r\n"))).split(b";", 1)[0], 16):
                    yield (await self._read(self._reader.readexactly(size + 2)))[:-2]
                while await self._read(self._reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the end
                    pass
            else:  # to the end of the connection
                self._keep_alive = False
                while data := await self._read(self._reader.read(CHUNK)):
                    yield data
            done = True
        finally:
            self._relay.release(self._reader, self._writer, reuse=done and self._keep_alive)

    async def _read(self, reading: Awaitable[bytes]) -> bytes:
        async with asyncio.timeout(self._relay.read_timeout):
            return await reading


class Relay:
    def __init__(self, host: str, port: int, *, connect_timeout: float = 2.0, read_timeout: float = 60.0,
                 max_idle: int = 64):
        self.host, self.port = host, port
        self.read_timeout, self._connect_timeout, self._max_idle = read_timeout, connect_timeout, max_idle
        self._host_header = f"{host}:{port}".encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
        """Send the request, read the answer's head. A kept-alive connection the service closed in the
        meantime is retried once on a new one (a GET or HEAD may be sent twice)."""
        lines = [method.encode() + b" " + target + b" HTTP/1.1", b"host: " + self._host_header]
        lines += [k + b": " + v for k, v in headers if k.lower() not in NOT_SENT]
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        while True:
            reused = bool(self._idle)
            reader, writer = self._idle.pop() if reused else await self._connect()
            try:
                writer.write(head)
                async with asyncio.timeout(self.read_timeout):
                    raw = await reader.readuntil(b"\r\n\r\n")
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
                writer.close()
                if reused and isinstance(exc, OSError | asyncio.IncompleteReadError):
                    continue
                raise RelayError(exc.__class__.__name__) from exc
            return self._answer(method, raw, reader, writer)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD)
        except (OSError, TimeoutError) as exc:
            raise RelayError(exc.__class__.__name__) from exc

    def _answer(self, method: str, raw: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Answer:
        status_line, *header_lines = raw[:-4].split(b"\r\n")
        try:
            version, code = status_line.split(b" ", 2)[:2]
            status = int(code)
            pairs = [line.split(b":", 1) for line in header_lines]
            headers = [(k.strip().lower(), v.strip()) for k, v in pairs]
            fields: dict[bytes, Any] = dict(headers)
            length = int(fields[b"content-length"]) if b"content-length" in fields else None
        except ValueError as exc:
            writer.close()
            raise RelayError(f"unreadable answer: {status_line[:80]!r}") from exc
        connection = fields.get(b"connection", b"").lower()
        keep_alive = connection != b"close" and (version == b"HTTP/1.1" or connection == b"keep-alive")
        return Answer(self, reader, writer, status, [(k, v) for k, v in headers if k not in NOT_RELAYED],
                      length,
                      fields.get(b"transfer-encoding", b"").lower() == b"chunked",
                      method == "HEAD" or status in (204, 304) or status < 200, keep_alive)

    def release(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, reuse: bool) -> None:
        if reuse and len(self._idle) < self._max_idle and not reader.at_eof():
            self._idle.append((reader, writer))
        else:
            writer.close()

    async def close(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()
