"""The producer's metrics: what ingest accepted, refused and could not take (logstream.metrics has
the HTTP families). Counted where the work is decided: accepted logs and actions once the broker
acked them (publisher), replays in the idempotency path, refusals from the problem an answer carries.

Registered by the app when it is built (logstream.metrics.register), so that a process that merely
imports this module exports nothing it does not do."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from logstream.metrics import LATENCY_BUCKETS, LoopCounter, LoopHistogram

# per request, on the event loop: the lock-free kinds (logstream.metrics)
LOGS_ACCEPTED = LoopCounter("logstream_ingest_logs_accepted", "Logs the broker acknowledged (one record each)")
ACTIONS_ACCEPTED = LoopCounter("logstream_ingest_actions_accepted", "Actions in the logs the broker acknowledged")
PUBLISH_SECONDS = LoopHistogram("logstream_ingest_publish_seconds",
                                "Time from producing a request's records to the broker's last ack",
                                buckets=LATENCY_BUCKETS)
REJECTED = Counter("logstream_ingest_rejected", "Ingest requests refused (4xx), by problem code", ["code"],
                   registry=None)
UNAVAILABLE = Counter("logstream_ingest_unavailable", "Ingest requests answered 503, by cause (problem code)",
                      ["cause"], registry=None)
REPLAYS = Counter("logstream_ingest_idempotent_replays",
                  "Requests with an Idempotency-Key already done: the first answer again, nothing published",
                  registry=None)
VISIBLE_BY = Counter("logstream_ingest_visible_by",
                     "Read-your-writes answers, by how visibility was confirmed: the stream's stored watermark, "
                     "or counting the actions in ClickHouse (no watermark in time, or the broker's life changed)",
                     ["how"], registry=None)
QUEUE_DEPTH = Gauge("logstream_ingest_queue_depth", "Records in the producer's queue, not yet acknowledged",
                    registry=None)
FAMILIES = (LOGS_ACCEPTED, ACTIONS_ACCEPTED, REJECTED, UNAVAILABLE, REPLAYS, VISIBLE_BY, PUBLISH_SECONDS, QUEUE_DEPTH)


class IngestAnswers:
    """Called by logstream.metrics.HttpMetrics for every answer: refusals of the write routes, counted
    by their problem code (a refusal with no problem body, e.g. a bare 404, is `unknown`)."""

    def __init__(self, write_routes: frozenset[tuple[str, str]]):
        self._write_routes = write_routes

    def __call__(self, route: str, method: str, status: int, code: str | None) -> None:
        if status < 400 or (method, route) not in self._write_routes:
            return
        if status == 503:
            UNAVAILABLE.labels(code or "unknown").inc()
        elif status < 500:
            REJECTED.labels(code or "unknown").inc()
