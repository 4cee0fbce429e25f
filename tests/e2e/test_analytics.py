"""The analyst side end to end: through `logstream up`, the export's memory under a million rows,
and the seed and benchmark commands as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import orjson

from tests.fixtures import example
from tests.support import Service, Stack, free_port, wait_until


def test_logs_posted_to_the_front_door_reach_the_rollups(stack: Stack) -> None:
    user = f"user-{uuid.uuid4()}"
    response = httpx.post(f"{stack.base_url}/v1/logs", content=orjson.dumps(example(userId=user)),
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 202, response.text

    def sessions() -> list:
        body = httpx.get(f"{stack.base_url}/v1/users/{user}/sessions", timeout=10).json()
        return body["sessions"]

    listed = wait_until(sessions, timeout=10, what="the user's session in the user_sessions rollup")
    assert listed[0]["sessionId"] == "XYZ456ABC" and listed[0]["total"] == 3
    def top() -> list:  # the summaries' rollups are fed just after the rows (docs/architecture.md)
        items = httpx.get(f"{stack.base_url}/v1/stats/top", params={"dimension": "userId", "limit": 1000},
                          timeout=10).json()["items"]
        return [item for item in items if item["value"] == user]

    assert wait_until(top, timeout=10, what="the user in the sessions_per_day rollup") == [{"value": user, "count": 3}]
    summary = httpx.get(f"{stack.base_url}/v1/stats/summary", params={"userId": user}, timeout=10).json()
    assert summary["byType"] == {"CLICK": 1, "VIEW": 1, "NAVIGATE": 1} and summary["uniqueSessions"] == 1
    paths = httpx.get(f"{stack.base_url}/openapi.json", timeout=10).json()["paths"]
    assert {"/v1/stats/timeseries", "/v1/stats/summary", "/v1/actions/export", "/v1/sessions/{sessionId}"} <= set(paths)


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env={**os.environ, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_export_streams_a_million_rows_in_constant_memory(tmp_path: Path) -> None:
    env = {"LOGSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp_path}/clickhouse", "LOGSTREAM_LOG_LEVEL": "WARNING"}
    seeded = run_cli(["seed-data", "--actions", "1000000", "--users", "20000", "--days", "30", "--end", "2025-01-01"],
                     env, tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    query = Service(["query"], {**env, "LOGSTREAM_QUERY_PORT": str(port)}, tmp_path, "query").start()
    try:
        base = f"http://127.0.0.1:{port}"
        query.wait_ready(f"{base}/readyz", timeout=120)
        assert query.process is not None
        pid = query.process.pid
        warm = httpx.get(f"{base}/v1/actions/export", params={"from": "2024-12-31"}, timeout=60)
        assert warm.status_code == 200 and warm.content.count(b"\n") > 1000
        baseline = rss_mb(pid)
        peak, stop = [baseline], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak.append(rss_mb(pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        lines = size = 0
        try:
            with httpx.stream("GET", f"{base}/v1/actions/export", timeout=300) as response:
                assert response.status_code == 200
                for chunk in response.iter_bytes():
                    lines += chunk.count(b"\n")
                    size += len(chunk)
        finally:
            stop.set()
            sampler.join()
        assert lines == 1_000_000
        growth = max(peak) - baseline
        # The body is ~260 MB; holding it (or sorting all of it) would grow the process by more than that.
        assert size > 200 * 2**20
        assert growth < 150, f"RSS grew {growth:.0f} MB while streaming {size / 2**20:.0f} MB (baseline {baseline:.0f})"
    finally:
        # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught: -15 is a clean stop
        assert query.stop(30) in (0, -signal.SIGTERM), query.log_tail()


def test_bench_query_quick_runs_end_to_end(tmp_path: Path) -> None:
    result = run_cli(["bench", "query", "--quick", "--data-dir", str(tmp_path / "data"),
                      "--output", str(tmp_path / "results")], {"LOGSTREAM_LOG_LEVEL": "WARNING"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "| timeseries hour, 30 days, America/Edmonton |" in result.stdout
    assert "| one session's timeline (/v1/sessions/{id}) |" in result.stdout
    saved = json.loads(next((tmp_path / "results").glob("query-20000-*.json")).read_text())
    assert saved["actions"] == 20_000 and all(case["calls"] == 5 for case in saved["cases"])
    assert all(case["sql_p50_ms"] > 0 and case["http_p50_ms"] > 0 for case in saved["cases"])
    # the dataset is reused, and seed-data refuses to add to it
    again = run_cli(["bench", "query", "--quick", "--data-dir", str(tmp_path / "data"),
                     "--output", str(tmp_path / "results")], {"LOGSTREAM_LOG_LEVEL": "WARNING"}, tmp_path)
    assert again.returncode == 0 and "reusing the 20,000-action dataset" in again.stdout
    refused = run_cli(["seed-data", "--actions", "10"],
                      {"LOGSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp_path}/data/clickhouse-20000"}, tmp_path)
    assert refused.returncode == 1 and "already holds 20,000 actions" in refused.stderr
