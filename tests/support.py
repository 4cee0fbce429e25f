"""Helpers for tests that run the real services as processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from embedded import ports

T = TypeVar("T")
KEYED_STACK_KEY = "schemathesis-key-0123456789"  # the keyed_stack fixture's key: both a read and a write key


# pytest-xdist's workers (gw0, gw1, ...) each take the ports of their own residue: none can be handed a
# port another worker's services hold.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def free_port() -> int:
    """A port for a service this test starts: this worker's own (embedded/ports.py)."""
    return ports.free_port(residue=_WORKER, modulus=_WORKERS)


def wait_until(check: Callable[[], T], *, timeout: float, what: str | Callable[[], str], interval: float = 0.1) -> T:
    """`check()` once it is truthy; `what` (or what it returns, when it is called at the timeout) names it."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    described = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {described} (last: {last!r})")


class Service:
    """One `logstream <command>` process with its own environment and log file."""

    def __init__(self, args: list[str], env: dict[str, str], workdir: Path, name: str):
        self.args, self.env, self.workdir, self.name = args, env, workdir, name
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "cli.main", *self.args], cwd=self.workdir,
                                        env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self

    def wait_ready(self, url: str, timeout: float = 60.0) -> Service:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                return httpx.get(url, timeout=2.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=timeout, what=f"{self.name} at {url}")
        return self

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 60.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not stop within {timeout} s:\n{self.log_tail()}") from None

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def stack_env(bootstrap: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `logstream up` (or a single service) on free ports, writing under `data_dir`."""
    return {
        "LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LOGSTREAM_CLICKHOUSE_DSN": f"chdb://{data_dir}/clickhouse",
        "LOGSTREAM_LOG_LEVEL": "INFO",
        "LOGSTREAM_STREAM_PORT": str(free_port()),  # `up`'s stream worker
        # The embedded broker answers a fetch only when its wait is over, so an idle stack polls it at
        # the fetch waits: 10 ms by default (read-your-writes in tens of milliseconds) costs ~24 % of a
        # core per idle stack, 50 ms ~8 %. The suite's stacks sit idle most of the time, two or more
        # at once on two cores; none measures latency (`logstream bench ingest` does).
        "LOGSTREAM_STREAM_FETCH_MAX_WAIT_MS": "50",
        "LOGSTREAM_VISIBLE_FETCH_WAIT_MS": "50",
        **extra,
    }


@dataclass(frozen=True)
class Stack:
    """A running `logstream up` (the `stack` fixture, tests/e2e/conftest.py)."""

    base_url: str
    bootstrap: str
    service: Service
    query_url: str  # the query process behind the front door (its /internal routes)
    internal_key: str  # what the producer shows those routes


def produce_raw(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "message.max.bytes": 4_000_000})
    failures: list[Any] = []
    for key, value in records:
        producer.produce(topic, value, key, on_delivery=lambda error, _m: error and failures.append(error))
    assert producer.flush(30) == 0
    assert not failures, f"{len(failures)} records refused: {failures[0]}"


def consume_all(bootstrap: str, topic: str, *, expect: int, timeout: float = 30.0) -> list[Any]:
    """Up to `expect` records of every partition from the beginning (assigned: no group join)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{time.monotonic_ns()}",
                         "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expect and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
    finally:
        consumer.close()
    return messages


def all_actions(base_url: str, params: dict[str, str], page: int = 10_000) -> list[dict[str, Any]]:
    """Every action matching `params`, following nextCursor to the end."""
    actions: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": str(page), **({"cursor": cursor} if cursor else {})}
        response = httpx.get(f"{base_url}/v1/actions", params=query, timeout=30.0)
        assert response.status_code == 200, response.text
        body = orjson.loads(response.content)
        actions.extend(body["actions"])
        cursor = body["nextCursor"]
        if cursor is None:
            return actions


def store_records(settings: Any, payloads: list[bytes], topic: str = "raw") -> None:
    """Raw-topic records straight into ClickHouse through the real split and sink (no broker)."""
    from logstream.clickhouse import connect
    from stream import batch
    from stream.sink import ClickHouseSink
    from stream.split import Source

    rows = batch.build((None, value, Source(topic, 0, offset)) for offset, value in enumerate(payloads)).rows
    ClickHouseSink(connect(settings), max_backoff_s=1).write_now(rows)


def success_examples(operation: dict[str, Any]) -> dict[str, list[Any]]:
    """The examples an OpenAPI operation shows for its success answer (its lowest 2xx), per media type:
    its `example`, or the values of its named `examples`."""
    status = min(code for code in operation["responses"] if code.startswith("2"))
    content = operation["responses"][status].get("content", {})
    return {media: [body["example"]] if "example" in body else [e["value"] for e in body.get("examples", {}).values()]
            for media, body in content.items()}


def same_shape(answer: Any, example: Any) -> bool:
    """Whether a JSON answer has the structure of a documented example, values aside: objects with the same
    keys in the same order, each item of an array shaped like one of the example's items (an array the
    example shows items in must have some), and other values of the same type (as parsed: an int is not a float)."""
    if isinstance(example, dict):
        return (isinstance(answer, dict) and list(answer) == list(example)
                and all(same_shape(answer[key], example[key]) for key in example))
    if isinstance(example, list):
        return (isinstance(answer, list) and bool(answer) >= bool(example)
                and all(any(same_shape(item, e) for e in example) for item in answer))
    return type(answer) is type(example)


def headers_validator(name: str) -> Any:
    """A JSON Schema validator for the headers of topic `name`'s records (its schema's $defs/headers),
    to check a record's headers as a {name: UTF-8 text} object."""
    from jsonschema import Draft202012Validator

    from logstream import schemas

    document = schemas.schema(name)
    return Draft202012Validator({"$schema": document["$schema"], "$defs": document["$defs"],
                                 "$ref": "#/$defs/headers"})


def header_texts(message: Any) -> dict[str, str]:
    return {key: value.decode() for key, value in message.headers() or ()}


INTERNAL_KEY = "test-internal-key-0123456789"


def start_stack(workdir: Path, internal_key: str | None = INTERNAL_KEY, cluster: str | None = None,
                **env: str) -> Stack:
    """`logstream up` on free ports, ready (no `internal_key`: the one `up` makes); stop it with stop_stack.
    With `cluster` (bootstrap servers), the same command told by settings to use it instead of a broker."""
    port, query_port, bootstrap = free_port(), free_port(), cluster or f"127.0.0.1:{free_port()}"
    if cluster:
        env["LOGSTREAM_EMBEDDED_BROKER"] = "false"
    if internal_key:
        env["LOGSTREAM_INTERNAL_KEY"] = internal_key
    service = Service(["up"], stack_env(bootstrap, workdir / "data", LOGSTREAM_PORT=str(port),
                                        LOGSTREAM_QUERY_PORT=str(query_port), **env), workdir, "up").start()
    base = f"http://127.0.0.1:{port}"
    try:
        service.wait_ready(f"{base}/readyz", timeout=90)
    except AssertionError:
        service.stop(30)
        raise
    return Stack(base, bootstrap, service, f"http://127.0.0.1:{query_port}", internal_key or "")


def stop_stack(stack: Stack) -> None:
    assert stack.service.stop(120) == 0, stack.service.log_tail()
