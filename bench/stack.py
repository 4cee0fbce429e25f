"""The embedded stack under benchmark: `logstream up` in a scratch directory, on free ports."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.procstats import Tracked, children, cmdline
from embedded.ports import free_port
from embedded.process import child_popen, stop
from embedded.supervisor import UpSettings, wait_ready
from logstream.clickhouse import embedded_http_dsn

# A command line's role: the first marker it contains.
ROLES = {"tansu": "broker", " kafka.Kafka ": "broker", "--with-stream": "query+stream", "cli.main query": "query",
         "cli.main stream": "stream", "cli.main producer": "producer"}


def role_of(command_line: str) -> str | None:
    return next((name for marker, name in ROLES.items() if marker in command_line), None)


class Stack:
    def __init__(self, workdir: Path, url: str | None = None):
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = url or ""
        self.engine_dsn: str | None = None  # the query process's engine, for the stream-worker ceiling
        self.bootstrap = os.environ.get("LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")

    def __enter__(self) -> Stack:
        if self.url:
            return self
        port, query_port, self.bootstrap = free_port(), free_port(), f"127.0.0.1:{free_port()}"
        internal_key = secrets.token_urlsafe(24)
        env = {**os.environ, "LOGSTREAM_PORT": str(port), "LOGSTREAM_QUERY_PORT": str(query_port),
               "LOGSTREAM_INTERNAL_KEY": internal_key, "LOGSTREAM_STREAM_PORT": str(free_port()),
               "LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "LOGSTREAM_LOG_LEVEL": "WARNING",
               "LOGSTREAM_CLICKHOUSE_DSN": f"chdb://{self.workdir}/clickhouse"}
        log = (self.workdir / "stack.log").open("ab")
        self.process = child_popen([sys.executable, "-m", "cli.main", "up"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        if UpSettings().up_stream_process:
            self.engine_dsn = embedded_http_dsn(f"http://127.0.0.1:{query_port}", internal_key)
        if not wait_ready(f"{self.url}/readyz", self.process, "the stack", threading.Event(), timeout=120):
            raise RuntimeError(f"the stack did not start; see {self.workdir / 'stack.log'}")
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            stop(self.process, 180)

    def tracked(self) -> list[Tracked]:
        if self.process is None:
            return []
        found = [Tracked(role, pid) for pid in children(self.process.pid) if (role := role_of(cmdline(pid)))]
        return sorted(found, key=lambda t: t.name)

    def stream_status(self) -> dict:
        response = httpx.get(f"{self.url}/readyz", timeout=10)
        return response.json()["checks"].get("stream", {})

    def wait_rows(self, rows: int, timeout: float, progress: callable) -> float:
        """Seconds until the stream has written `rows` rows in total (inserted = queryable)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            written = self.stream_status().get("rows_written", 0)
            progress(f"stream: {written:,}/{rows:,} rows in ClickHouse")
            if written >= rows:
                return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError(f"the stream wrote fewer than {rows} rows in {timeout:.0f} s")
