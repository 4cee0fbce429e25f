"""GET /metrics on the one base URL, after a known load through a stack of this module's own: every
counter equals what happened (accepted, refused by problem code, dead-lettered by reason, replayed),
the freshness histogram counted each stored log once, and the consumer lag came back to 0. The
stack logs JSON (LOGSTREAM_LOG_FORMAT=json), and a request's id reaches the query process."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import start_stack, stop_stack
from tests.fixtures import example
from tests.support import Stack, produce_raw, wait_until

RAW = "logstream.logs.raw.v1"
ACCEPTED_REQUESTS = [[example(userId=f"metrics-{r}-{i}") for i in range(4)] for r in range(5)]
KEYED = example(userId="metrics-keyed")
LOGS = sum(len(logs) for logs in ACCEPTED_REQUESTS) + 1  # + the keyed one, published once
ACTIONS = sum(len(log["actions"]) for logs in ACCEPTED_REQUESTS for log in logs) + len(KEYED["actions"])
FOREIGN = [b"not json at all", b"{\"truncated\": ", orjson.dumps({"userId": 7})]  # 2 unparseable, 1 schema


def samples(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics: (name, labels without `process`) -> value, summed over processes."""
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "process")
            values[(sample.name, labels)] = values.get((sample.name, labels), 0.0) + sample.value
    return values


def value(values: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return values.get((name, frozenset(labels.items())), 0.0)


def total(values: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> float:
    return sum(v for (n, _), v in values.items() if n == name)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own, after the known load; the stream has processed every record."""
    stack = start_stack(tmp_path_factory.mktemp("metrics"), LOGSTREAM_LOG_FORMAT="json", LOGSTREAM_LOG_LEVEL="DEBUG")
    try:
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            for logs in ACCEPTED_REQUESTS:
                assert client.post("/v1/logs", json=logs).status_code == 202
            for _ in range(3):
                assert client.post("/v1/logs", json={"userId": 1}).status_code == 400
            for _ in range(2):
                assert client.post("/v1/logs", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
            broken = client.post("/v1/logs", content=b"{", headers={"content-type": "application/json"})
            assert broken.status_code == 400
            for _ in range(2):
                answer = client.post("/v1/logs", json=KEYED, headers={"Idempotency-Key": "metrics-replay-0001"})
                assert answer.status_code == 202
            assert answer.headers.get("Idempotent-Replayed") == "true"
        produce_raw(stack.bootstrap, RAW, [(b"foreign", record) for record in FOREIGN])
        wait_until(lambda: total(samples(stack.base_url), "logstream_stream_records_consumed_total") >= LOGS + 3,
                   timeout=60, what="the stream to consume every record")
        yield stack
    finally:
        stop_stack(stack)


def test_ingest_counters_equal_what_happened(loaded: Stack) -> None:
    values = samples(loaded.base_url)
    assert value(values, "logstream_ingest_logs_accepted_total") == LOGS
    assert value(values, "logstream_ingest_actions_accepted_total") == ACTIONS
    assert value(values, "logstream_ingest_rejected_total", code="invalid_logs") == 3
    assert value(values, "logstream_ingest_rejected_total", code="unsupported_media_type") == 2
    assert value(values, "logstream_ingest_rejected_total", code="invalid_json") == 1
    assert total(values, "logstream_ingest_rejected_total") == 6
    assert value(values, "logstream_ingest_idempotent_replays_total") == 1
    assert value(values, "logstream_ingest_publish_seconds_count") == len(ACCEPTED_REQUESTS) + 1
    http = "logstream_http_requests_total"
    assert value(values, http, route="/v1/logs", method="POST", status="202") == len(ACCEPTED_REQUESTS) + 2
    assert value(values, http, route="/v1/logs", method="POST", status="400") == 4
    assert value(values, http, route="/v1/logs", method="POST", status="415") == 2


def test_stream_counters_equal_what_happened(loaded: Stack) -> None:
    values = samples(loaded.base_url)
    assert value(values, "logstream_stream_records_consumed_total") == LOGS + len(FOREIGN)
    assert value(values, "logstream_stream_rows_inserted_total") == ACTIONS
    assert value(values, "logstream_stream_duplicates_skipped_total") == 0
    assert value(values, "logstream_stream_dead_letters_total", reason="unparseable") == 2
    assert value(values, "logstream_stream_dead_letters_total", reason="schema_violation") == 1
    assert total(values, "logstream_stream_dead_letters_total") == 3
    assert value(values, "logstream_stream_batch_records_sum") == LOGS + len(FOREIGN)
    assert value(values, "logstream_stream_batches_total") == value(values, "logstream_stream_batch_records_count")
    # one observation per stored log, each within the test's lifetime
    assert value(values, "logstream_stream_freshness_seconds_count") == LOGS
    assert 0 < value(values, "logstream_stream_freshness_seconds_sum") < LOGS * 120
    assert value(values, "logstream_stream_insert_seconds_count") >= 1


def test_lag_goes_to_zero_after_the_load(loaded: Stack) -> None:
    def lag_is_zero() -> bool:
        values = samples(loaded.base_url)
        partitions = [v for (n, _), v in values.items() if n == "logstream_stream_consumer_lag"]
        return bool(partitions) and sum(partitions) == 0

    wait_until(lag_is_zero, timeout=30, what="the consumer lag to reach 0 (offsets committed)")
    values = samples(loaded.base_url)
    committed = sum(v for (n, _), v in values.items() if n == "logstream_stream_committed_offset")
    assert committed == LOGS + len(FOREIGN)  # every record of the raw topic, committed


def test_every_process_is_there_with_its_label(loaded: Stack) -> None:
    text = httpx.get(f"{loaded.base_url}/metrics", timeout=10).text
    processes = {sample.labels.get("process") for family in text_string_to_metric_families(text)
                 for sample in family.samples if sample.name == "logstream_process_up" and sample.value == 1}
    assert processes == {"producer", "query", "stream"}


def test_labels_are_route_templates_not_paths(loaded: Stack) -> None:
    httpx.get(f"{loaded.base_url}/v1/users/some-user-id-123/actions", timeout=10)
    text = httpx.get(f"{loaded.base_url}/metrics", timeout=10).text
    assert "some-user-id-123" not in text


def test_each_service_serves_its_own(loaded: Stack) -> None:
    """The query process behind the front door answers /metrics itself, without the `process` label."""
    text = httpx.get(f"{loaded.query_url}/metrics", timeout=10).text
    names = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    assert "logstream_query_rows_returned_total" in names
    assert "logstream_ingest_logs_accepted_total" not in names
    assert 'process="' not in text


def test_docs_list_every_exported_family(loaded: Stack) -> None:
    """docs/operations.md's metric table names every logstream_ family the stack exports."""
    text = httpx.get(f"{loaded.base_url}/metrics", timeout=10).text
    families = {family.name for family in text_string_to_metric_families(text) if family.name.startswith("logstream_")}
    documented = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    assert {name for name in families if f"`{name}" not in documented} == set()


def test_status_json_agrees_with_metrics(loaded: Stack) -> None:
    """`logstream status --json`, against the same (idle) stack: the same figures as /metrics."""
    run = subprocess.run([sys.executable, "-m", "cli.main", "status", "--json", "--url", loaded.base_url,
                          "--interval", "0.2"], capture_output=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    figures = orjson.loads(run.stdout)
    values = samples(loaded.base_url)
    assert figures["ready"] is True
    assert figures["processes"] == {"producer": True, "query": True, "stream": True}
    assert {name for name, check in figures["checks"].items() if check["ok"]} >= {"broker", "clickhouse", "stream"}
    ingest, stream = figures["ingest"], figures["stream"]
    assert ingest["logs_accepted"] == value(values, "logstream_ingest_logs_accepted_total") == LOGS
    assert ingest["actions_accepted"] == value(values, "logstream_ingest_actions_accepted_total") == ACTIONS
    assert ingest["rejected"] == {"invalid_json": 1, "invalid_logs": 3, "unsupported_media_type": 2}
    assert ingest["idempotent_replays"] == 1
    assert ingest["logs_per_s"] == 0  # nothing was sent between its two scrapes
    assert stream["records_consumed"] == value(values, "logstream_stream_records_consumed_total")
    assert stream["rows_inserted"] == value(values, "logstream_stream_rows_inserted_total") == ACTIONS
    assert stream["dead_letters"] == {"schema_violation": 1, "too_large": 0, "unparseable": 2, "unstorable": 0}
    assert stream["lag"] == 0
    buckets = sorted((float(dict(labels)["le"]), v) for (n, labels), v in values.items()
                     if n == "logstream_stream_freshness_seconds_bucket")
    p50 = next(le for le, count in buckets if count >= LOGS / 2)  # the bucket the median falls in
    assert stream["freshness_p50_s"] is not None and stream["freshness_p50_s"] <= p50
    assert stream["freshness_p50_s"] <= stream["freshness_p95_s"]


def test_json_logs_carry_the_request_id_through_the_front_door(loaded: Stack) -> None:
    request_id = "metrics-request-0001"
    answer = httpx.get(f"{loaded.base_url}/v1/actions", params={"limit": "1"},
                       headers={"X-Request-Id": request_id}, timeout=10)
    assert answer.status_code == 200 and answer.headers["X-Request-Id"] == request_id
    made = httpx.get(f"{loaded.base_url}/healthz", timeout=10).headers["X-Request-Id"]
    assert len(made) == 32 and made != request_id

    def lines() -> list[dict[str, object]]:
        text = loaded.service.log_path.read_text(errors="replace")
        return [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]

    def answered() -> list[dict[str, object]]:  # the front door's line and the query process's
        found = [line for line in lines() if line.get("request_id") == request_id
                 and line["message"] == "GET /v1/actions answered 200"]
        return found if len(found) == 2 else []

    wait_until(answered, timeout=10, what="both processes' lines for the request")
    every = lines()
    assert len(every) > 20
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in every)
    assert {line["logger"] for line in every} >= {"logstream.up", "logstream.requests", "stream.sink"}
    text_format = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ", re.M)
    assert not text_format.search(loaded.service.log_path.read_text(errors="replace"))
