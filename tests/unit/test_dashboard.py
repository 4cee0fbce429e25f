"""infra/grafana and infra/prometheus against the code: every metric the dashboard queries is one the
services export, the dashboard's datasource is the provisioned one, Prometheus scrapes the front door."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from logstream import metrics as core
from producer_api import metrics as producer
from producer_api.gateway import process_up
from query_api import metrics as query
from stream import metrics as stream

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "infra" / "grafana" / "dashboards" / "logstream.json").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
METRIC_NAME = re.compile(r"\b(logstream_[a-z0-9_]+)")


def exported() -> set[str]:
    """Every series name the services can export (labelled families have no sample until used)."""
    collectors: list[Any] = [core.HTTP_REQUESTS, core.HTTP_DURATION, *producer.FAMILIES, *query.FAMILIES,
                             *stream.FAMILIES, stream.ConsumerLag(lambda: [("raw", 0, 1, 2)])]
    names = {f"{family.name}{suffix}" for collector in collectors for family in collector.collect()
             for suffix in SUFFIXES[family.type]}
    names |= {line.split()[0] for line in process_up(1).splitlines() if not line.startswith("#")}
    return names


def queried() -> set[str]:
    def exprs(panels: list[dict[str, Any]]) -> list[str]:
        return [t["expr"] for p in panels for t in p.get("targets", [])] + \
            [e for p in panels for e in exprs(p.get("panels", []))]

    return {name for expr in exprs(DASHBOARD["panels"]) for name in METRIC_NAME.findall(expr)}


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    names = queried()
    assert len(names) >= 15
    assert names - exported() == set()


def test_the_dashboard_shows_each_signal_the_issue_names() -> None:
    names = queried()
    for signal in ("logstream_ingest_logs_accepted_total", "logstream_ingest_rejected_total",
                   "logstream_stream_consumer_lag", "logstream_stream_freshness_seconds_bucket",
                   "logstream_stream_insert_seconds_bucket", "logstream_stream_dead_letters_total",
                   "logstream_http_request_duration_seconds_bucket"):
        assert signal in names


def test_the_dashboard_uses_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load((ROOT / "infra/grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = provisioned["datasources"]
    assert source["url"] == "http://prometheus:9090"
    uids = {t["datasource"]["uid"] for p in DASHBOARD["panels"] for t in p.get("targets", [])}
    assert uids == {source["uid"]}
    provider = yaml.safe_load((ROOT / "infra/grafana/provisioning/dashboards/logstream.yml").read_text())
    assert "./infra/grafana/dashboards:" + provider["providers"][0]["options"]["path"] + ":ro" in \
        COMPOSE["services"]["grafana"]["volumes"]


def test_prometheus_scrapes_the_front_door_and_both_sit_behind_a_profile() -> None:
    config = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    port = COMPOSE["services"]["producer"]["environment"]["LOGSTREAM_PORT"]
    assert job["static_configs"][0]["targets"] == [f"producer:{port}"]
    assert job["metrics_path"] == core.METRICS_PATH
    for name in ("prometheus", "grafana"):
        assert COMPOSE["services"][name]["profiles"] == ["observability"]
