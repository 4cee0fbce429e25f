"""The embedded engine on ClickHouse's HTTP interface: the part of it clickhouse-connect uses.

In production every stream worker reaches one ClickHouse server at http://clickhouse:8123. chDB
lets one process open a data directory, so on one machine the process that owns it (the query
service) can serve the engine over the same protocol: stream workers in other processes then run
the production code path (`http://` DSN, clickhouse-connect's HTTP client), and several workers in
one consumer group share one store. This is a protocol adapter, not a second engine: every
statement runs on the owner's chDB, unchanged.

Served: `GET /ping`; `GET|POST /` with the statement in `query`, the body, or both (the body
follows the parameter after a newline, as on a server); `INSERT ... FORMAT <fmt>` followed by
its data; `param_<name>` query parameters, or a form of `query` and `param_<name>` fields (which
clickhouse-connect sends when the parameters are large); any other URL parameter as a setting for that statement;
HTTP Basic or X-ClickHouse-User/-Key credentials. Errors answer as a server does: the engine's
"Code: N. DB::Exception: ..." text with X-ClickHouse-Exception-Code. Not served: sessions,
compressed responses (a client asking for them gets plain bytes), external data.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import os
import queue
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from clickhouse_connect.driver.binding import format_str, quote_identifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from logstream.clickhouse import chdb_connection

log = logging.getLogger(__name__)

# URL parameters of the HTTP interface that are not settings of the statement.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
TRANSPORT_PARAMETERS = frozenset({
    "query", "database", "default_format", "query_id", "session_id", "session_timeout", "session_check",
    "compress", "decompress", "enable_http_compression", "wait_end_of_query", "send_progress_in_http_headers",
    "http_headers_progress_interval_ms", "user", "password", "quota_key", "buffer_size", "role",
    "client_protocol_version", "http_response_buffer_size", "output_format_parallel_formatting",
})
# `INSERT INTO <target> FORMAT <name>`, then the data (after blanks and one line end).
INSERT_WITH_DATA = re.compile(rb"^\s*INSERT\s+INTO\s+(?P<target>.+?)\s+FORMAT\s+(?P<format>\w+)[ \t]*(?:\r?\n)?",
                              re.IGNORECASE | re.DOTALL)
MAX_STATEMENT_BYTES = 1 << 20  # an INSERT's statement must end within the body's first MiB
ERROR_CODE = re.compile(r"Code: (\d+)\.")
# HTTP status of an engine error as a server answers it (others: 500): authentication, unknown table or
# database, syntax, unknown identifier, bad arguments, unparsable or mistyped values.
STATUS_OF_CODE = {516: 403, 60: 404, 81: 404, 62: 400, 47: 400, 36: 400, 27: 400, 6: 400, 26: 400, 53: 400}
FORMAT_CONTENT_TYPES = {"TabSeparated": "text/tab-separated-values; charset=UTF-8",
                        "JSON": "application/json; charset=UTF-8"}


class EngineError(Exception):
    """A statement the engine refused; its text is ClickHouse's own."""

    def __init__(self, message: str):
        super().__init__(message)
        match = ERROR_CODE.search(message)
        self.code = int(match[1]) if match else 1002  # UNKNOWN_EXCEPTION


AUTHENTICATION_FAILED = EngineError("Code: 516. DB::Exception: Authentication failed. (AUTHENTICATION_FAILED)")
UNSUPPORTED_ENCODING = EngineError("Code: 1. DB::Exception: Compressed request bodies are not served here: "
                                   "connect with compress=false. (UNSUPPORTED_METHOD)")


@dataclass
class _Handle:
    """One chDB connection: its own settings and current database, used by one request at a time."""

    conn: Any
    settings: dict[str, str] = field(default_factory=dict)
    database: str | None = None

    def prepare(self, database: str | None, settings: Mapping[str, str]) -> None:
        """This statement's database and settings; the state follows each step, so a failed SET
        leaves it exact for the next statement."""
        if database and database != self.database:
            self.conn.query(f"USE {quote_identifier(database)}", "TabSeparated")
            self.database = database
        for name in self.settings.keys() - settings.keys():
            self.conn.query(f"SET {quote_identifier(name)} = DEFAULT", "TabSeparated")
            del self.settings[name]
        for name, value in settings.items():
            if self.settings.get(name) != value:
                self.conn.query(f"SET {quote_identifier(name)} = {format_str(value)}", "TabSeparated")
                self.settings[name] = value


class Engine:
    """A pool of connections to the chDB directory this process owns."""

    def __init__(self, path: str, connections: int = 4):
        # imported here: the engine's library maps ~300 MB into every process that imports it, and
        # the supervisor and the CLI import this module only for its settings
        import chdb

        self._idle: queue.SimpleQueue[_Handle] = queue.SimpleQueue()
        for _ in range(connections):
            self._idle.put(_Handle(chdb.connect(chdb_connection(path))))
        self.timezone = self.run(None, {}, "SELECT timezone()", "TabSeparated", {})[0].strip().decode()

    def run(self, database: str | None, settings: Mapping[str, str], sql: str, fmt: str,
            params: Mapping[str, str], *, inserts: bool = False) -> tuple[bytes, dict[str, str]]:
        """Blocking: one statement; its output in `fmt` (unless it names its own) and its summary."""
        handle = self._idle.get()
        try:
            handle.prepare(database, settings)
            result = handle.conn.query(sql, fmt, params=dict(params))
        except Exception as exc:  # chDB raises its own error types; the message carries the code
            raise EngineError(str(exc)) from exc
        finally:
            self._idle.put(handle)
        return result.bytes() or b"", summary_of(result, inserts=inserts)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get().conn.close()


def summary_of(result: Any, *, inserts: bool) -> dict[str, str]:
    """X-ClickHouse-Summary; an INFILE insert reads exactly the rows it writes."""
    rows, size = str(result.rows_read()), str(result.bytes_read())
    written = (rows, size) if inserts else ("0", "0")
    return {"read_rows": rows, "read_bytes": size, "written_rows": written[0], "written_bytes": written[1],
            "elapsed_ns": str(int(result.elapsed() * 1e9))}


def password_of(request: Request) -> str:
    """The password shown as a server takes it (HTTP Basic, X-ClickHouse-Key, or `password`); any user name."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            return base64.b64decode(header[6:]).decode().partition(":")[2]
        except ValueError:
            return ""
    return request.headers.get("x-clickhouse-key") or request.query_params.get("password", "")


def error_response(exc: EngineError, query_id: str) -> Response:
    text = str(exc).rstrip("\n") + "\n"
    return PlainTextResponse(text, status_code=STATUS_OF_CODE.get(exc.code, 500),
                             headers={"X-ClickHouse-Exception-Code": str(exc.code), "X-ClickHouse-Query-Id": query_id})


@dataclass
class InlineInsert:
    """`INSERT INTO <target> FORMAT <format>` followed by its data, which streams on after the statement."""

    target: bytes
    format: bytes
    first_data: bytes  # read together with the statement
    rest: AsyncIterator[bytes]

    def from_file(self, path: str) -> bytes:
        file = format_str(path).encode()
        return b"INSERT INTO " + self.target + b" FROM INFILE " + file + b" FORMAT " + self.format


async def read_statement(request: Request) -> bytes | InlineInsert:
    """The statement: the `query` parameter, then the body; an INSERT's inline data is left to stream."""
    head = request.query_params.get("query", "")
    buffered = bytearray((head + "\n").encode() if head else b"")
    body = request.stream()
    async for chunk in body:
        buffered += chunk
        if len(buffered) >= MAX_STATEMENT_BYTES:
            break
    match = INSERT_WITH_DATA.match(buffered)
    if match is None:
        async for chunk in body:  # not an insert with data: the whole body is the statement
            buffered += chunk
        return bytes(buffered)
    return InlineInsert(match["target"], match["format"], bytes(buffered[match.end():]), body)


def create_app(path: str, password: str, *, connections: int = 4) -> Starlette:
    """The adapter as an ASGI app; the caller mounts it and closes `app.state.engine`."""
    engine = Engine(path, connections)
    expected = password.encode()

    async def ping(_: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def execute(request: Request) -> Response:
        query_id = request.query_params.get("query_id") or str(uuid.uuid4())
        if not hmac.compare_digest(password_of(request).encode(), expected):
            return error_response(AUTHENTICATION_FAILED, query_id)
        if request.headers.get("content-encoding", "identity") != "identity":
            return error_response(UNSUPPORTED_ENCODING, query_id)
        params = request.query_params
        settings = {k: v for k, v in params.items() if k not in TRANSPORT_PARAMETERS and not k.startswith("param_")}
        bind = {k.removeprefix("param_"): v for k, v in params.items() if k.startswith("param_")}
        fmt = params.get("default_format", "TabSeparated")
        if request.headers.get("content-type", "").startswith(FORM_TYPES):
            # clickhouse-connect sends a statement with large parameters as a form, as ClickHouse takes it
            form = await request.form()
            statement: bytes | InlineInsert = str(form.get("query", "")).encode()
            bind |= {k.removeprefix("param_"): str(v) for k, v in form.items() if k.startswith("param_")}
        else:
            statement = await read_statement(request)
        sql, data_file = statement, None
        try:
            if isinstance(statement, InlineInsert):
                data_file = await _spool(statement.first_data, statement.rest)
                sql = statement.from_file(data_file)
            output, summary = await asyncio.to_thread(engine.run, params.get("database"), settings,
                                                      sql.decode(), fmt, bind, inserts=data_file is not None)
        except EngineError as exc:
            log.debug("statement refused: %s", exc)
            return error_response(exc, query_id)
        finally:
            if data_file:
                os.unlink(data_file)
        return Response(output, media_type=FORMAT_CONTENT_TYPES.get(fmt, "application/octet-stream"), headers={
            "X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Format": fmt, "X-ClickHouse-Timezone": engine.timezone,
            "X-ClickHouse-Summary": orjson.dumps(summary).decode()})

    app = Starlette(routes=[Route("/ping", ping, methods=["GET", "HEAD"]),
                            Route("/", execute, methods=["GET", "POST"])])
    app.state.engine = engine
    return app


async def _spool(first: bytes, rest: AsyncIterator[bytes]) -> str:
    """An insert's data into a file the engine reads (`FROM INFILE`), without holding it in memory."""
    fd, name = tempfile.mkstemp(prefix="logstream-insert-", suffix=".data")
    with os.fdopen(fd, "wb") as file:
        file.write(first)
        async for chunk in rest:
            file.write(chunk)
    return name
