"""The front door's read relay against a real HTTP/1.1 server on a local socket: each way an answer's
body may end, keep-alive reuse, a connection the server closed, and a service that is not there."""

from __future__ import annotations

import asyncio

import pytest

from producer_api.relay import Relay, RelayError

ANSWERS = {
    b"/length": b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\ndate: x\r\n\r\nhello",
    b"/chunked": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nt: 1\r\n\r\n",
    b"/empty": b"HTTP/1.1 204 No Content\r\nx-a: b\r\n\r\n",
    b"/close": b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nto the end",
}


async def serve(connections: list[int], requests: list[bytes]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while not reader.at_eof():
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            requests.append(head)
            target = head.split(b" ")[1].split(b"?")[0]
            writer.write(ANSWERS[target] if target != b"/once" else ANSWERS[b"/length"])
            await writer.drain()
            if target in (b"/close", b"/once"):
                break
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def fetch(relay: Relay, method: str, target: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    answer = await relay.request(method, target, [(b"x-request-id", b"r1"), (b"host", b"front"), (b"connection", b"x")])
    return answer.status, answer.headers, b"".join([chunk async for chunk in answer.chunks()])


def test_every_body_shape_and_keep_alive() -> None:
    async def scenario() -> None:
        connections: list[int] = []
        requests: list[bytes] = []
        server = await serve(connections, requests)
        relay = Relay("127.0.0.1", server.sockets[0].getsockname()[1])
        status, headers, body = await fetch(relay, "GET", b"/length?a=%20b")
        assert (status, body) == (200, b"hello")
        assert (b"content-length", b"5") in headers and all(k != b"date" for k, _ in headers)
        assert b"GET /length?a=%20b HTTP/1.1\r\n" in requests[0] and b"x-request-id: r1" in requests[0]
        assert b"host: front" not in requests[0] and b"connection" not in requests[0]
        assert await fetch(relay, "GET", b"/chunked") == (200, [], b"abcde")
        assert await fetch(relay, "GET", b"/empty") == (204, [(b"x-a", b"b")], b"")
        assert (await fetch(relay, "HEAD", b"/length"))[2] == b""
        assert len(connections) == 1  # one kept-alive connection so far
        assert (await fetch(relay, "GET", b"/close"))[2] == b"to the end"
        assert (await fetch(relay, "GET", b"/once"))[2] == b"hello"  # a new connection, closed by the server after
        assert (await fetch(relay, "GET", b"/length"))[2] == b"hello"  # on a new one (retried if the old looked open)
        assert len(connections) == 3
        await relay.close()
        server.close()
        await asyncio.sleep(0.05)  # the server's handlers see their connections closed and return

    asyncio.run(scenario())


def test_a_service_that_is_not_there_is_a_relay_error() -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(RelayError):
            await Relay("127.0.0.1", port).request("GET", b"/", [])

    asyncio.run(scenario())


def test_a_client_gone_mid_stream_closes_the_stream_upstream() -> None:
    """A live stream relayed by the front door ends when its reader goes away, upstream too."""
    from pydantic import SecretStr

    from producer_api.gateway import Upstreams

    async def scenario() -> None:
        closed = asyncio.Event()

        async def endless_until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            reading = asyncio.ensure_future(reader.read(1))
            while not reading.done():
                writer.write(b"6\r\nevent\n\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
            closed.set()

        server = await asyncio.start_server(endless_until_eof, "127.0.0.1", 0)
        upstreams = Upstreams(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", None, SecretStr("k"))
        sent: list[dict] = []
        client_gone = asyncio.Event()

        async def receive() -> dict:
            await client_gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if len(sent) == 3:  # the start and two events: the reader leaves
                client_gone.set()

        scope = {"type": "http", "method": "GET", "path": "/v1/live", "headers": [], "query_string": b""}
        await asyncio.wait_for(upstreams.relay_read(scope, receive, send), 5)
        await asyncio.wait_for(closed.wait(), 5)  # the upstream saw its connection closed
        assert sent[0]["status"] == 200 and sent[1]["body"] == b"event\n"
        await upstreams.close()
        server.close()

    asyncio.run(scenario())
