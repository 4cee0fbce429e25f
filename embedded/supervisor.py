"""`logstream up` and `logstream broker`: the embedded stack in one foreground command.

Processes: the broker (Tansu, memory only; or with LOGSTREAM_BROKER=apache a one-node Apache Kafka
whose log is kept under ./data/kafka); `logstream query` (owns the chDB directory, serves the read API
and the engine on ClickHouse's HTTP interface); `logstream stream` (the stream worker, writing
through that interface as it would to a ClickHouse server); `logstream producer` (the front door
on the one base URL: it serves ingest itself and forwards the read routes to the query process).
With `up_stream_process` off, the stream worker runs inside the query process instead.
Stop order on Ctrl-C / SIGTERM: producer (no new accepts), then the stream worker (which drains
the topic into ClickHouse first), then the query process, then the broker.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import httpx
from pydantic import Field

from embedded import apache_kafka, spool
from embedded.broker import BrokerError, host_port, port_in_use, start_broker
from embedded.chdb_owner import ChdbOwnerSettings
from embedded.process import child_popen, stop
from logstream.clickhouse import embedded_http_dsn
from logstream.kafka import ensure_topics
from logstream.settings import KafkaSettings
from producer_api.settings import ProducerSettings

log = logging.getLogger("logstream.up")
# How long a broker may take to stop on SIGTERM (Apache Kafka's controlled shutdown flushes its log).
BROKER_STOP_S = {"tansu": 5.0, "apache": 60.0}


class BrokerSettings(KafkaSettings):
    """Which broker `logstream up` and `logstream broker` run: the embedded Tansu (memory only), or
    Apache Kafka from infra/kafka/apache (durable: its log under kafka_data_dir; needs Java 17)."""

    broker: Literal["tansu", "apache"] = "tansu"
    kafka_data_dir: Path = Path("data/kafka")
    kafka_heap_mb: int = Field(512, ge=128, le=16_384)


class UpSettings(ProducerSettings, ChdbOwnerSettings, BrokerSettings):
    embedded_broker: bool = True
    # Where a stop saves what the memory-only broker holds undrained, for the next start (embedded.spool).
    spool_dir: Path = Path("data") / "spool"
    # The stream worker in a process of its own (false: inside the query process, which owns chDB).
    up_stream_process: bool = True


def _stop_event() -> threading.Event:
    stopping = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stopping


def _apache_kafka(settings: BrokerSettings) -> subprocess.Popen[bytes]:
    if (problem := apache_kafka.missing()) is not None:
        raise BrokerError(f"LOGSTREAM_BROKER=apache: {problem}")
    try:
        node = apache_kafka.single_node(settings.kafka_bootstrap_servers, settings.kafka_data_dir,
                                        settings.kafka_heap_mb)
    except apache_kafka.ApacheKafkaError as exc:
        raise BrokerError(str(exc)) from exc
    return node.processes[1]


def _broker(settings: BrokerSettings) -> subprocess.Popen[bytes]:
    host, port = host_port(settings.kafka_bootstrap_servers)
    if port_in_use(host, port):
        raise BrokerError(f"port {port} is taken: stop what uses it or set LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS")
    apache = settings.broker == "apache"
    process = _apache_kafka(settings) if apache else start_broker(settings.kafka_bootstrap_servers)
    for attempt in range(50):
        try:
            ensure_topics(settings, timeout=5.0)
            break
        except Exception:  # the broker may still be opening; give it a few seconds
            if attempt == 49:
                process.kill()
                raise
            time.sleep(0.1)
    if apache:
        log.info("Apache Kafka %s (one KRaft node, log in %s) on %s", apache_kafka.pinned_version(),
                 settings.kafka_data_dir, settings.kafka_bootstrap_servers)
    else:
        log.info("embedded broker (memory storage) on %s", settings.kafka_bootstrap_servers)
    return process


def run_broker(settings: BrokerSettings) -> int:
    stopping = _stop_event()
    try:
        broker = _broker(settings)
    except BrokerError as exc:
        log.error("%s", exc)
        return 1
    while not stopping.is_set() and broker.poll() is None:
        stopping.wait(0.2)
    return stop(broker, BROKER_STOP_S[settings.broker])


def _spawn(args: list[str], extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    return child_popen([sys.executable, "-m", "cli.main", *args], env={**os.environ, **extra_env})


def wait_ready(url: str, process: subprocess.Popen[bytes], what: str, stopping: threading.Event,
                timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    last_note = 0.0
    while time.monotonic() < deadline and not stopping.is_set():
        if process.poll() is not None:
            log.error("%s exited with %s while starting", what, process.returncode)
            return False
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() - last_note > 5:
            log.info("waiting for %s to be ready (%s)", what, url)
            last_note = time.monotonic()
        time.sleep(0.2)
    return False


class _NotStarted(Exception):
    """A child did not become ready (or a stop was asked for first)."""


def run_up(settings: UpSettings) -> int:
    stopping = _stop_event()
    children: list[tuple[str, subprocess.Popen[bytes], float]] = []  # name, process, stop timeout
    code = 0

    def start(name: str, args: list[str], env: dict[str, str], ready_url: str, stop_timeout: float) -> None:
        process = _spawn(args, env)
        children.append((name, process, stop_timeout))
        if not wait_ready(ready_url, process, name, stopping):
            raise _NotStarted

    try:
        if settings.embedded_broker:
            children.append(("broker", _broker(settings), BROKER_STOP_S[settings.broker]))
            # (a spool left by the memory-only broker is published again into either broker)
            if republished := spool.republish(settings, settings.spool_dir):
                log.warning("published again %d records the last stop left undrained", republished)
        query_url = f"http://{settings.query_host}:{settings.query_port}"
        # the internal port's /internal/ routes answer the producer alone; /clickhouse/, the stream worker
        key = settings.internal_key.get_secret_value() if settings.internal_key else secrets.token_urlsafe(32)
        internal = {"LOGSTREAM_INTERNAL_KEY": key}
        drain = {"LOGSTREAM_STREAM_DRAIN_ON_STOP": "true"}
        stream_timeout = settings.stream_drain_timeout_s + 30
        upstreams = {"LOGSTREAM_QUERY_URL": query_url}
        if settings.up_stream_process:
            start("query", ["query"], {"LOGSTREAM_QUERY_SERVE_CLICKHOUSE": "true", **internal},
                  f"{query_url}/readyz", 30.0)
            upstreams["LOGSTREAM_STREAM_URL"] = stream_url = f"http://{settings.stream_host}:{settings.stream_port}"
            start("stream", ["stream"], {"LOGSTREAM_CLICKHOUSE_DSN": embedded_http_dsn(query_url, key), **drain},
                  f"{stream_url}/readyz", stream_timeout)
        else:
            start("query+stream", ["query", "--with-stream"], {**drain, **internal}, f"{query_url}/readyz",
                  stream_timeout)
        base = f"http://{settings.host}:{settings.port}"
        # the memory bound is Tansu's alone: Apache Kafka keeps its log on disk, its heap is capped
        memory_only = settings.embedded_broker and settings.broker == "tansu"
        broker = {"LOGSTREAM_BROKER_PID": str(children[0][1].pid)} if memory_only else {}
        start("producer", ["producer"], {**upstreams, **internal, **broker}, f"{base}/healthz", 15.0)
        log.info("logstream is up: %s (API docs at %s/docs). Ctrl-C stops it.", base, base)
        while not stopping.is_set():
            for name, process, _ in children:
                if process.poll() is not None:
                    log.error("%s exited unexpectedly with %s; stopping the rest", name, process.returncode)
                    code = 1
                    stopping.set()
            stopping.wait(0.2)
    except _NotStarted:
        code = 0 if stopping.is_set() else 1
    except BrokerError as exc:
        log.error("%s", exc)
        code = 1
    finally:
        for name, process, timeout in reversed(children):
            if name == "broker" and settings.broker == "tansu" and process.poll() is None:  # apache: durable
                code = _spool_undrained(settings) or code
            log.info("stopping %s", name)
            stop(process, timeout)
        log.info("stopped")
    return code


def _spool_undrained(settings: UpSettings) -> int:
    """Before the memory-only broker stops: save what the stream did not store; 1 if anything was left."""
    try:
        count, path = spool.save(settings, settings.stream_group, settings.spool_dir)
    except Exception:
        log.exception("COULD NOT SAVE what the embedded broker holds undrained: those accepted logs are LOST")
        return 1
    if count:
        log.error("%d accepted records were NOT stored before the stop (the stream worker did not drain them: "
                  "its drain timed out, or it died). The embedded broker keeps records in memory only, so they "
                  "were saved to %s; the next `logstream up` in this directory publishes them again. Keep that "
                  "file until then.", count, path.resolve() if path else None)
        return 1
    return 0
