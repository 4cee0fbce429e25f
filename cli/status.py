"""`logstream status`: one screen with a running stack's signals, read from its /metrics and /readyz.

Totals are the counters as /metrics shows them (summed over processes and labels); rates are their
increase between two scrapes `--interval` seconds apart (the previous screen's, with `--watch`);
freshness and latency quantiles are estimated from the histograms' buckets as PromQL's
histogram_quantile does (linear within a bucket)."""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]  # sample name -> (labels, value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the stack's base URL (default: http://LOGSTREAM_HOST:LOGSTREAM_PORT)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object, for scripts")
    parser.add_argument("--watch", action="store_true", help="refresh the screen every --interval seconds")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between the scrapes rates come from")


def scrape(client: httpx.Client) -> tuple[float, Samples]:
    response = client.get("/metrics")
    response.raise_for_status()
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return time.monotonic(), samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for sample_labels, v in samples.get(name, []) if labels.items() <= sample_labels.items())


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for labels, v in samples.get(name, []):
        out[labels.get(label, "")] += v
    return dict(sorted(out.items()))


def quantile(samples: Samples, name: str, q: float, **labels: str) -> float | None:
    """histogram_quantile over the `name` histogram's buckets, summed over the other labels."""
    buckets: dict[float, float] = defaultdict(float)
    for sample_labels, v in samples.get(f"{name}_bucket", []):
        if labels.items() <= sample_labels.items():
            buckets[float(sample_labels["le"])] += v
    if not buckets or buckets.get(math.inf, 0) == 0:
        return None
    bounds = sorted(buckets)
    rank = q * buckets[math.inf]
    lower, below = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == math.inf:
                return lower
            return lower + (bound - lower) * (rank - below) / max(buckets[bound] - below, 1e-12)
        lower, below = bound, buckets[bound]
    return lower


def readiness(client: httpx.Client) -> tuple[bool, dict[str, Any]]:
    try:
        body = client.get("/readyz").json()
    except (httpx.HTTPError, ValueError) as exc:
        return False, {"front door": {"ok": False, "detail": f"unreachable: {exc.__class__.__name__}"}}
    checks = {name: {"ok": bool(c.get("ok")), "detail": str(c.get("detail", ""))}
              for name, c in body.get("checks", {}).items()}
    return bool(body.get("ready")), checks


def summary(url: str, before: tuple[float, Samples], after: tuple[float, Samples], ready: bool,
            checks: dict[str, Any]) -> dict[str, Any]:
    (t0, s0), (t1, s1) = before, after
    elapsed = max(t1 - t0, 1e-9)

    def rate(name: str, **labels: str) -> float:
        return round(max(0.0, total(s1, name, **labels) - total(s0, name, **labels)) / elapsed, 3)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    lag = {labels.get("partition", ""): int(v) for labels, v in s1.get("logstream_stream_consumer_lag", [])}
    return {
        "url": url,
        "ready": ready,
        "checks": checks,
        "processes": {labels.get("process", ""): v == 1 for labels, v in s1.get("logstream_process_up", [])},
        "ingest": {
            "logs_accepted": int(total(s1, "logstream_ingest_logs_accepted_total")),
            "actions_accepted": int(total(s1, "logstream_ingest_actions_accepted_total")),
            "rejected": {k: int(v) for k, v in by_label(s1, "logstream_ingest_rejected_total", "code").items()},
            "unavailable": {k: int(v) for k, v in by_label(s1, "logstream_ingest_unavailable_total", "cause").items()},
            "idempotent_replays": int(total(s1, "logstream_ingest_idempotent_replays_total")),
            "queue_depth": int(total(s1, "logstream_ingest_queue_depth")),
            "logs_per_s": rate("logstream_ingest_logs_accepted_total"),
            "rejected_per_s": rate("logstream_ingest_rejected_total"),
            "publish_p95_s": rounded(quantile(s1, "logstream_ingest_publish_seconds", 0.95)),
        },
        "stream": {
            "records_consumed": int(total(s1, "logstream_stream_records_consumed_total")),
            "rows_inserted": int(total(s1, "logstream_stream_rows_inserted_total")),
            "duplicates_skipped": int(total(s1, "logstream_stream_duplicates_skipped_total")),
            "dead_letters": {k: int(v) for k, v in
                             by_label(s1, "logstream_stream_dead_letters_total", "reason").items()},
            "retries": int(total(s1, "logstream_stream_retries_total")),
            "records_per_s": rate("logstream_stream_records_consumed_total"),
            "rows_per_s": rate("logstream_stream_rows_inserted_total"),
            "lag": sum(lag.values()),
            "lag_by_partition": dict(sorted(lag.items())),
            "freshness_p50_s": rounded(quantile(s1, "logstream_stream_freshness_seconds", 0.50)),
            "freshness_p95_s": rounded(quantile(s1, "logstream_stream_freshness_seconds", 0.95)),
            "insert_p95_s": rounded(quantile(s1, "logstream_stream_insert_seconds", 0.95)),
        },
        "query": {
            "requests_per_s": rate("logstream_http_requests_total", process="query"),
            "latency_p95_s": rounded(quantile(s1, "logstream_http_request_duration_seconds", 0.95, process="query")),
            "clickhouse_errors": {k: int(v) for k, v in
                                  by_label(s1, "logstream_query_clickhouse_errors_total", "code").items()},
            "exports_in_progress": int(total(s1, "logstream_query_exports_in_progress")),
        },
    }


def render(figures: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"

    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in values.items() if v) or "none"

    ready = Table.grid(padding=(0, 2))
    for name, check in figures["checks"].items():
        ready.add_row(name, "[green]ok[/]" if check["ok"] else "[red]NOT READY[/]", check["detail"])
    for name, up in figures["processes"].items():
        ready.add_row(f"process {name}", "[green]up[/]" if up else "[red]DOWN[/]", "")
    ingest, stream, query = figures["ingest"], figures["stream"], figures["query"]
    signals = Table(show_header=False, box=None, padding=(0, 2))
    signals.add_row("ingest", f"{ingest['logs_per_s']:.1f} logs/s", f"{ingest['logs_accepted']} logs, "
                    f"{ingest['actions_accepted']} actions accepted", f"queue {ingest['queue_depth']}")
    signals.add_row("refused", f"{ingest['rejected_per_s']:.1f} /s", counts(ingest["rejected"]),
                    f"503s: {counts(ingest['unavailable'])}")
    signals.add_row("stream", f"{stream['rows_per_s']:.1f} rows/s", f"{stream['rows_inserted']} rows stored, "
                    f"{stream['duplicates_skipped']} duplicates skipped", f"{stream['retries']} retries")
    signals.add_row("lag", f"{stream['lag']} records", " ".join(f"p{p}:{n}" for p, n in
                                                                 stream["lag_by_partition"].items()), "")
    signals.add_row("freshness", f"p50 {seconds(stream['freshness_p50_s'])}",
                    f"p95 {seconds(stream['freshness_p95_s'])}", f"insert p95 {seconds(stream['insert_p95_s'])}")
    signals.add_row("dead letters", str(sum(stream["dead_letters"].values())), counts(stream["dead_letters"]), "")
    signals.add_row("query", f"{query['requests_per_s']:.1f} req/s", f"p95 {seconds(query['latency_p95_s'])}",
                    f"errors: {counts(query['clickhouse_errors'])}; exports {query['exports_in_progress']}")
    title = f"logstream at {figures['url']}: " + ("[green]ready[/]" if figures["ready"] else "[red]NOT READY[/]")
    return Panel(Group(signals, "", ready), title=title, title_align="left")


def main(args: argparse.Namespace, default_url: str) -> int:
    url = (args.url or default_url).rstrip("/")
    with httpx.Client(base_url=url, timeout=10) as client:
        try:
            before = scrape(client)
        except httpx.HTTPError as exc:
            print(f"logstream status: cannot read {url}/metrics: {exc}")
            return 1
        if not args.watch:
            time.sleep(args.interval)
            after = scrape(client)
            figures = summary(url, before, after, *readiness(client))
            if args.json:
                print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
            else:
                from rich.console import Console

                Console().print(render(figures))
            return 0 if figures["ready"] else 1
        return watch(client, url, before, args)


def watch(client: httpx.Client, url: str, before: tuple[float, Samples], args: argparse.Namespace) -> int:
    from rich.live import Live

    with Live(auto_refresh=False, screen=False) as live:
        try:
            while True:
                time.sleep(args.interval)
                try:
                    after = scrape(client)
                except httpx.HTTPError as exc:
                    live.update(f"[red]cannot read {url}/metrics: {exc}[/]", refresh=True)
                    continue
                figures = summary(url, before, after, *readiness(client))
                live.update(orjson.dumps(figures).decode() if args.json else render(figures), refresh=True)
                before = after
        except KeyboardInterrupt:
            return 0
