"""Throughput of one read at several concurrencies: N keep-alive connections, each making calls
back to back, against the same server. Every answer is compared with the one the same request
got alone, before: reads side by side must not change results."""

from __future__ import annotations

import http.client
import os
import threading
import time
from typing import Any
from urllib.parse import urlencode

from bench.common import percentile, say


def _call(connection: http.client.HTTPConnection, url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    connection.request("GET", url)
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"GET {url}: {response.status} {body[:200]!r}")
    return elapsed, body


def throughput(port: int, name: str, requests: list[tuple[str, dict[str, Any]]], levels: list[int],
               calls: int) -> list[dict[str, Any]]:
    """One row per concurrency: calls/s, p50/p95 latency, CPU cores this process used, answers unchanged."""
    urls = [path + "?" + urlencode(params, doseq=True) for path, params in requests]
    alone = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    expected = {url: _call(alone, url)[1] for url in urls}  # also the warm-up
    alone.close()
    rows = []
    for level in levels:
        cpu_before, started = os.times(), time.perf_counter()
        latencies, mismatches = _run(port, urls, expected, level, calls)
        wall, cpu_after = time.perf_counter() - started, os.times()
        cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        row = {"case": name, "concurrency": level, "calls": len(latencies), "calls_per_s": len(latencies) / wall,
               "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
               "cores_used": cpu / wall, "answers_changed": mismatches, "load_average": os.getloadavg()}
        rows.append(row)
        say(f"  {name} at {level} connection(s): {row['calls_per_s']:.1f} calls/s, p50 {row['p50_ms']:.1f} ms, "
            f"{row['cores_used']:.2f} cores, {mismatches} answers changed")
    base = rows[0]["calls_per_s"] if rows else 0
    for row in rows:
        row["speedup"] = row["calls_per_s"] / base if base else None
    return rows


def _run(port: int, urls: list[str], expected: dict[str, bytes], level: int, calls: int) -> tuple[list[float], int]:
    """`calls` calls over `level` connections, each call as soon as its connection is free."""
    latencies: list[float] = []
    mismatches = 0
    next_call = iter(range(calls))
    lock = threading.Lock()

    def client() -> None:
        nonlocal mismatches
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        try:
            while True:
                with lock:
                    index = next(next_call, None)
                if index is None:
                    return
                url = urls[index % len(urls)]
                elapsed, body = _call(connection, url)
                with lock:
                    latencies.append(elapsed)
                    mismatches += body != expected[url]
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(level)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, mismatches


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| case | concurrency | calls/s | x of the first | p50 ms | p95 ms | cores used | answers changed |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['case']} | {r['concurrency']} | {r['calls_per_s']:.1f} | {r['speedup']:.2f} | {r['p50_ms']:.1f} | "
              f"{r['p95_ms']:.1f} | {r['cores_used']:.2f} | {r['answers_changed']} |" for r in rows]
    return lines
