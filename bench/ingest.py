"""`logstream bench ingest`: the ingest path against its engines' ceilings, side by side in one run.

Each run starts the embedded stack (or targets `--url`), drives it on loopback with 1-log and
100-log requests, measures the end-to-end rate into ClickHouse and the freshness at half of it,
the CPU and peak RSS of every process, and then the ceilings on the same broker and records.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import ceilings
from bench.loadgen import percentile, run_load
from bench.procstats import peak_rss_mb, rss_file_mb
from bench.stack import Stack
from embedded.supervisor import UpSettings
from logstream.contract import LogIn
from logstream.progress import Progress

SAMPLE: dict[str, Any] = LogIn.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]


@dataclass(frozen=True)
class Profile:
    read_your_writes_s: float  # one client, one log at a time, each answered once queryable
    one_log_s: float
    burst_s: float  # 100-log requests, unpaced: what the producer accepts
    sustained_s: float  # 100-log requests paced at --rate: does the pipeline keep up?
    freshness_s: float
    ceiling_records: int
    floor_s: float
    runs: int


PROFILES = {"full": Profile(15, 15, 5, 60, 20, 200_000, 10, 3), "quick": Profile(2, 2, 1, 3, 3, 20_000, 2, 1)}
# A compatibility write route (seed 001's) and its answer: stored through the pipeline, answered once queryable.
COMPAT_ROUTE, COMPAT_STATUS = "/api/submitlogs", 200

# (figure, target, higher is better)
TARGETS: dict[str, tuple[float, bool]] = {
    "compat_write_p50_ms": (50, False),
    "compat_write_p99_ms": (200, False),
    "compat_writes_per_s": (20, True),
    "wait_visible_p50_ms": (50, False),
    "wait_visible_p99_ms": (200, False),
    "wait_visible_per_s": (20, True),
    "freshness_light_p50_s": (0.05, False),
    "freshness_light_sent_p50_s": (0.05, False),
    "e2e_vs_stream_worker": (0.85, True),
    "stream_vs_empty_agent": (0.85, True),
    "e2e_logs_per_s": (8000, True),
    "one_log_requests_per_s": (4000, True),
    "freshness_p95_s": (1.0, False),
    "freshness_sent_p95_s": (1.0, False),
    "producer_peak_rss_mb": (250, False),
    "stream_peak_rss_mb": (400, False),
}


def body_of(logs: int, tag: str) -> bytes:
    if logs == 1:
        return orjson.dumps({**SAMPLE, "userId": tag})
    return orjson.dumps([{**SAMPLE, "userId": f"{tag}-{i}"} for i in range(logs)])


def load_phase(stack: Stack, logs: int, seconds: float, connections: int, progress: Progress,
               rate_per_s: float | None = None) -> Any:
    bodies = [body_of(logs, f"bench-{uuid.uuid4().hex[:8]}") for _ in range(64)]
    ticker = {"done": 0}

    def on_response(*_: Any) -> None:
        ticker["done"] += 1
        if ticker["done"] % 500 == 0:
            progress(f"{logs}-log requests: {ticker['done']:,} answered")

    return asyncio.run(run_load(f"{stack.url}/v1/logs", lambda i: bodies[i % 64], connections=connections,
                                duration_s=seconds, max_requests=50_000_000, rate_per_s=rate_per_s,
                                on_response=on_response))


def read_your_writes(stack: Stack, path: str, status: int, seconds: float, progress: Progress) -> dict[str, float]:
    """One client posting one log at a time (each of its own user) to `path`, which answers only once
    the log is queryable: the latency of each answer, and the rate one client gets."""
    result = asyncio.run(run_load(f"{stack.url}{path}", lambda i: body_of(1, f"ryw-{uuid.uuid4().hex[:8]}-{i}"),
                                  connections=1, duration_s=seconds, max_requests=50_000_000))
    ok = result.latencies_s
    progress.done(f"read your writes, {path}: {result.accepted(status):,} answered {status}, "
                  f"p50 {percentile(ok, 0.5) * 1000:.1f} ms, p99 {percentile(ok, 0.99) * 1000:.1f} ms")
    return {"p50_ms": percentile(ok, 0.5) * 1000, "p99_ms": percentile(ok, 0.99) * 1000,
            "per_s": result.accepted(status) / result.elapsed_s,
            "not_ok": sum(n for s, n in result.by_status.items() if s != status) + result.errors}


@dataclass
class Freshness:
    """Per probe, seconds from its 202 to the answer of the first read of /v1/actions that holds its
    actions (`answered`), and to when that read was sent (`sent`): the log was queryable by then, and
    the reads before it, each sent ~5 ms after the last answer, had not found it."""

    answered: list[float] = dataclasses.field(default_factory=list)
    sent: list[float] = dataclasses.field(default_factory=list)


async def freshness(stack: Stack, seconds: float, rate_logs_per_s: float, progress: Progress) -> Freshness:
    """While 100-log requests run at `rate_logs_per_s` (none at 0), probes one at a time (a one-log
    request of its own user, then a read every 5 ms after the last answer)."""
    delays = Freshness()
    background = asyncio.ensure_future(run_load(
        f"{stack.url}/v1/logs", lambda _: body_of(100, "fresh-load"), connections=4, duration_s=seconds,
        max_requests=50_000_000 if rate_logs_per_s else 0, rate_per_s=rate_logs_per_s / 100 or None))
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        while time.perf_counter() - started < seconds:
            user = f"probe-{uuid.uuid4().hex}"
            response = await client.post("/v1/logs", content=body_of(1, user),
                                         headers={"content-type": "application/json"})
            accepted = time.perf_counter()
            while response.status_code == 202 and time.perf_counter() - accepted < 30:
                sent = time.perf_counter()
                found = await client.get("/v1/actions", params={"userId": user, "limit": 1})
                if found.json()["actions"]:
                    delays.answered.append(time.perf_counter() - accepted)
                    delays.sent.append(sent - accepted)
                    progress(f"freshness: {len(delays.sent)} probes, last {delays.answered[-1] * 1000:.0f} ms")
                    break
                await asyncio.sleep(0.005)
    await background
    return delays


def freshness_figures(name: str, delays: Freshness) -> dict[str, float]:
    """p50 and p95 of both measures: `{name}_p50_s` to the answer, `{name}_sent_p50_s` to the read sent."""
    return {f"{name}{measure}_{label}_s": percentile(values, q)
            for measure, values in (("", delays.answered), ("_sent", delays.sent))
            for label, q in (("p50", 0.5), ("p95", 0.95))}


def idle_phases(stack: Stack, profile: Profile, progress: Progress) -> dict[str, float]:
    """On the idle stack, as `make run` starts it: read your writes, then freshness at light load."""
    figures: dict[str, float] = {}
    for name, path, status in (("compat_write", COMPAT_ROUTE, COMPAT_STATUS),
                               ("wait_visible", "/v1/logs?wait=visible", 202)):
        measured = read_your_writes(stack, path, status, profile.read_your_writes_s, progress)
        figures.update({f"{name}_{key}": value for key, value in measured.items()})
        figures["compat_writes_per_s" if name == "compat_write" else "wait_visible_per_s"] = measured["per_s"]
    light = asyncio.run(freshness(stack, profile.freshness_s, 0, progress))
    figures.update(freshness_figures("freshness_light", light))
    p50, sent = figures["freshness_light_p50_s"] * 1000, figures["freshness_light_sent_p50_s"] * 1000
    progress.done(f"freshness at light load (one probe at a time): p50 {p50:.0f} ms to the answer, "
                  f"{sent:.0f} ms to the read that found it")
    return figures


def run_once(profile: Profile, url: str | None, workdir: Path, progress: Progress, rate: float) -> dict[str, float]:
    with Stack(workdir, url) as stack:
        tracked = stack.tracked()
        for process in tracked:
            process.start()
        figures = idle_phases(stack, profile, progress)
        rows = stack.stream_status().get("rows_written", 0)

        one = load_phase(stack, 1, profile.one_log_s, 64, progress)
        figures["one_log_requests_per_s"] = one.accepted() / one.elapsed_s
        figures["one_log_p95_ms"] = percentile(one.latencies_s, 0.95) * 1000
        rows += one.accepted() * 3
        figures["one_log_catch_up_s"] = stack.wait_rows(rows, 600, progress)
        progress.done(f"1-log requests: {figures['one_log_requests_per_s']:,.0f}/s accepted")

        started = time.monotonic()
        burst = load_phase(stack, 100, profile.burst_s, 8, progress)
        figures["hundred_logs_accepted_logs_per_s"] = burst.accepted() * 100 / burst.elapsed_s
        rows += burst.accepted() * 300
        stack.wait_rows(rows, 900, progress)
        # unpaced: what the whole pipeline stores per second, next to the stream worker's own ceiling
        figures["e2e_unpaced_logs_per_s"] = burst.accepted() * 100 / (time.monotonic() - started)
        progress.done(f"100-log requests, unpaced: {figures['hundred_logs_accepted_logs_per_s']:,.0f} logs/s accepted")

        started = time.monotonic()
        sustained = load_phase(stack, 100, profile.sustained_s, 8, progress, rate_per_s=rate / 100)
        accepted_logs = sustained.accepted() * 100
        figures["sustained_offered_logs_per_s"] = rate
        figures["sustained_accepted_logs_per_s"] = accepted_logs / sustained.elapsed_s
        rows += accepted_logs * 3
        figures["sustained_catch_up_s"] = stack.wait_rows(rows, 900, progress)
        elapsed = time.monotonic() - started
        figures["e2e_logs_per_s"] = accepted_logs / elapsed
        figures["e2e_actions_per_s"] = 3 * accepted_logs / elapsed
        figures["e2e_seconds"] = elapsed
        statuses = one.by_status | burst.by_status | sustained.by_status
        figures["non_202_responses"] = sum(n for s, n in statuses.items() if s != 202)
        progress.done(f"100-log requests at {rate:,.0f} logs/s for {sustained.elapsed_s:.0f} s: {accepted_logs:,} "
                      f"accepted, all in ClickHouse {figures['sustained_catch_up_s']:.1f} s after the load "
                      f"({figures['e2e_logs_per_s']:,.0f} logs/s end to end)")

        delays = asyncio.run(freshness(stack, profile.freshness_s, figures["e2e_logs_per_s"] / 2, progress))
        figures.update(freshness_figures("freshness", delays))
        figures["freshness_probes"] = len(delays.sent)
        progress.done(f"freshness at half load: p50 {figures['freshness_p50_s'] * 1000:.0f} ms, "
                      f"p95 {figures['freshness_p95_s'] * 1000:.0f} ms")

        for process in tracked:  # with the worker inside the query process, its figures are the stream's
            name = "stream" if process.name == "query+stream" else process.name
            figures[f"{name}_cpu_s"] = process.cpu_used()
            figures[f"{name}_peak_rss_mb"] = peak_rss_mb(process.pid)
            figures[f"{name}_rss_file_mb"] = rss_file_mb(process.pid)

        figures.update(stream_ceilings(stack, profile.ceiling_records, workdir, progress))
        figures["e2e_vs_stream_worker"] = figures["e2e_unpaced_logs_per_s"] / figures["stream_worker_per_s"]
    figures["http_floor_requests_per_s"] = ceilings.http_floor(body_of(1, "floor"), connections=64,
                                                               duration_s=profile.floor_s)
    figures["one_log_vs_http_floor"] = figures["one_log_requests_per_s"] / figures["http_floor_requests_per_s"]
    progress.done(f"ceiling, HTTP floor: {figures['http_floor_requests_per_s']:,.0f} requests/s")
    return figures


def stream_ceilings(stack: Stack, count: int, workdir: Path, progress: Progress) -> dict[str, float]:
    """The raw produce rate, then the empty Faust agent and the stream worker over the same records."""
    figures: dict[str, float] = {}
    records = [ceilings.log_record(i, SAMPLE) for i in range(count)]
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    figures["raw_produce_per_s"] = ceilings.raw_produce(stack.bootstrap, topic, records)
    progress.done(f"ceiling, raw produce: {figures['raw_produce_per_s']:,.0f} records/s")
    empty = ceilings.empty_agent(stack.bootstrap, topic, len(records))
    figures["empty_agent_per_s"], figures["empty_agent_cpu_us_per_record"] = empty.per_s, empty.cpu_us_per_record
    progress.done(f"ceiling, empty Faust agent: {empty.per_s:,.0f} records/s, "
                  f"{empty.cpu_us_per_record:.0f} us CPU each")
    worker = ceilings.stream_worker(stack.bootstrap, topic, len(records), workdir, progress, stack.engine_dsn)
    figures["stream_worker_per_s"], figures["stream_worker_cpu_us_per_record"] = worker.per_s, worker.cpu_us_per_record
    figures["stream_vs_empty_agent"] = worker.per_s / empty.per_s
    # the same ratio in CPU per record: steadier than the rates when other work shares the cores
    figures["stream_vs_empty_agent_cpu"] = empty.cpu_us_per_record / worker.cpu_us_per_record
    progress.done(f"stream worker on the same records: {worker.per_s:,.0f} records/s "
                  f"({figures['stream_vs_empty_agent']:.0%} of the empty agent), "
                  f"{worker.cpu_us_per_record:.0f} us CPU each")
    return figures


def latency_only(profile: Profile, url: str | None, workdir: Path, progress: Progress) -> dict[str, float]:
    """`--latency-only`: the idle stack's phases alone (read your writes, freshness at light load)."""
    with Stack(workdir, url) as stack:
        return idle_phases(stack, profile, progress)


def ceilings_only(profile: Profile, url: str | None, workdir: Path, progress: Progress) -> dict[str, float]:
    """`--ceilings-only`: the stack idle, only the stream ceilings (a quick check of the worker's cost)."""
    with Stack(workdir, url) as stack:
        return stream_ceilings(stack, profile.ceiling_records, workdir, progress)


def insert_ceiling(profile: Profile, workdir: Path, progress: Progress) -> dict[str, float]:
    records = [ceilings.log_record(i, SAMPLE) for i in range(max(profile.ceiling_records, 10_000))]
    rows_per_s = ceilings.clickhouse_insert(records, workdir)
    progress.done(f"ceiling, ClickHouse columnar insert: {rows_per_s:,.0f} rows/s")
    return {"clickhouse_insert_rows_per_s": rows_per_s}


Measure = Callable[[Path], dict[str, float]]


def mode(args: argparse.Namespace, profile: Profile, progress: Progress) -> tuple[Measure, Measure]:
    """What each run measures (in its work directory), and what is measured once after the runs (one
    chDB path per process: the insert ceiling comes last, in the base directory)."""
    if args.ceilings_only:
        return lambda workdir: ceilings_only(profile, args.url, workdir, progress), lambda _: {}
    if args.latency_only:
        return lambda workdir: latency_only(profile, args.url, workdir, progress), lambda _: {}
    return (lambda workdir: run_once(profile, args.url, workdir, progress, args.rate),
            lambda base: insert_ceiling(profile, base, progress))


def summarize(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {name: {"median": statistics.median(r[name] for r in runs), "min": min(r[name] for r in runs),
                   "max": max(r[name] for r in runs)} for name in runs[0]}


def verdicts(summary: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, (target, higher) in TARGETS.items():
        if name in summary:
            value = summary[name]["median"]
            out[name] = {"target": target, "median": value, "met": value >= target if higher else value <= target}
    return out


DESCRIPTION = "ingest: req/s, logs/s end to end, freshness, CPU and RSS, next to the engines' ceilings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="target a running stack instead of starting one")
    parser.add_argument("--quick", action="store_true", help="seconds-long phases: proves it runs, measures little")
    parser.add_argument("--runs", type=int, help="runs to take the median of (default 3, quick 1)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")
    parser.add_argument("--rate", type=float, default=9000,
                        help="logs/s offered in 100-log requests in the sustained phase (default 9000)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--ceilings-only", action="store_true",
                      help="only the empty Faust agent and the stream worker over the same records, side by side")
    only.add_argument("--latency-only", action="store_true",
                      help="only the idle stack's phases: read your writes and freshness at light load")
    parser.add_argument("--records", type=int, help="records for the ceilings (default 200,000, quick 20,000)")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temporary one)")


def run(args: argparse.Namespace) -> int:
    profile = PROFILES["quick" if args.quick else "full"]
    if args.records:
        profile = dataclasses.replace(profile, ceiling_records=args.records)
    progress = Progress(enabled=True)
    each_run, after_runs = mode(args, profile, progress)
    runs = []
    with tempfile.TemporaryDirectory(prefix="logstream-bench-") as scratch:
        base = args.workdir or Path(scratch)
        for index in range(args.runs or profile.runs):
            progress.done(f"== run {index + 1} of {args.runs or profile.runs}")
            workdir = base / f"run-{index}"
            workdir.mkdir(parents=True, exist_ok=True)
            runs.append(each_run(workdir))
        once = after_runs(base)
    return report(args, runs, once)


def report(args: argparse.Namespace, runs: list[dict[str, float]], once: dict[str, float]) -> int:
    summary = summarize(runs)
    summary.update({name: {"median": value, "min": value, "max": value} for name, value in once.items()})
    broker = None if args.url else started_broker()
    result = {"profile": "quick" if args.quick else "full", "runs": len(runs), "broker": broker,
              "figures": summary, "targets": verdicts(summary)}
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())  # noqa: T201
    else:
        print(render(result))  # noqa: T201
    return 0


def started_broker() -> str | None:
    """The broker `up` started for the runs; None when it started none (LOGSTREAM_EMBEDDED_BROKER=false)."""
    settings = UpSettings()
    return settings.broker if settings.embedded_broker else None


def render(report: dict[str, Any]) -> str:
    lines = [f"broker: {report['broker'] or 'none started by up (--url, or LOGSTREAM_EMBEDDED_BROKER=false)'}", "",
             f"{'figure':<36} {'median':>14} {'min':>14} {'max':>14}"]
    for name, value in report["figures"].items():
        lines.append(f"{name:<36} {value['median']:>14,.3f} {value['min']:>14,.3f} {value['max']:>14,.3f}")
    lines.append("")
    for name, verdict in report["targets"].items():
        lines.append(f"{name:<36} target {verdict['target']:>10,} median {verdict['median']:>12,.3f} "
                     f"{'MET' if verdict['met'] else 'NOT MET'}")
    return "\n".join(lines)
