"""The benchmarks run in a quick mode so they never rot (no assertion on any timing)."""

from __future__ import annotations

import subprocess
import sys

import orjson

from bench.ingest import TARGETS


def test_bench_ingest_quick_runs_and_reports_every_figure(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "cli.main", "bench", "ingest", "--quick", "--json",
                             "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = orjson.loads(result.stdout)
    figures = report["figures"]
    for name in ("one_log_requests_per_s", "e2e_logs_per_s", "freshness_p95_s", "producer_peak_rss_mb",
                 "stream_peak_rss_mb", "broker_cpu_s", "empty_agent_per_s", "stream_worker_per_s",
                 "raw_produce_per_s", "http_floor_requests_per_s", "clickhouse_insert_rows_per_s",
                 "compat_write_p50_ms", "compat_writes_per_s", "wait_visible_p99_ms", "freshness_light_p50_s",
                 "e2e_vs_stream_worker", "empty_agent_cpu_us_per_record", "stream_worker_cpu_us_per_record",
                 "freshness_sent_p95_s", "freshness_light_sent_p50_s"):
        assert figures[name]["median"] > 0, name
    for name in ("freshness_light", "freshness"):  # the read that found a log was sent before its answer came
        assert figures[f"{name}_sent_p50_s"]["median"] < figures[f"{name}_p50_s"]["median"], name
    assert figures["non_202_responses"]["median"] == 0
    assert figures["compat_write_not_ok"]["median"] == figures["wait_visible_not_ok"]["median"] == 0
    assert set(report["targets"]) == set(TARGETS)
    assert "100-log requests" in result.stderr  # progress was shown


def test_bench_ingest_ceilings_only_reports_both_ceilings_side_by_side(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "cli.main", "bench", "ingest", "--ceilings-only", "--quick",
                             "--records", "3000", "--json", "--workdir", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = orjson.loads(result.stdout)
    for name in ("empty_agent_per_s", "stream_worker_per_s", "stream_vs_empty_agent", "stream_vs_empty_agent_cpu",
                 "empty_agent_cpu_us_per_record", "stream_worker_cpu_us_per_record"):
        assert report["figures"][name]["median"] > 0, name
    assert set(report["targets"]) == {"stream_vs_empty_agent"}
    assert report["broker"] == "tansu"  # the broker `up` started: the figures depend on it


def test_bench_ingest_latency_only_measures_the_idle_phases_alone(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "cli.main", "bench", "ingest", "--latency-only", "--quick",
                             "--json", "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = orjson.loads(result.stdout)
    figures = report["figures"]
    for name in ("compat_write_p50_ms", "compat_write_p99_ms", "wait_visible_p50_ms", "wait_visible_per_s",
                 "freshness_light_p50_s", "freshness_light_sent_p50_s"):
        assert figures[name]["median"] > 0, name
    assert figures["compat_write_not_ok"]["median"] == figures["wait_visible_not_ok"]["median"] == 0
    assert "one_log_requests_per_s" not in figures  # no load phase ran
    assert set(report["targets"]) == {"compat_write_p50_ms", "compat_write_p99_ms", "compat_writes_per_s",
                                      "wait_visible_p50_ms", "wait_visible_p99_ms", "wait_visible_per_s",
                                      "freshness_light_p50_s", "freshness_light_sent_p50_s"}
