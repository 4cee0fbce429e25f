"""logstream.metrics and `logstream status`'s arithmetic: bounded route labels, the front door's merge,
quantiles from buckets."""

from __future__ import annotations

import math

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cli import status
from logstream import metrics


def requests_by_route() -> dict[tuple[str, str, str], float]:
    return {(s.labels["route"], s.labels["method"], s.labels["status"]): s.value
            for family in metrics.HTTP_REQUESTS.collect() for s in family.samples if s.name.endswith("_total")}


def test_routes_are_counted_by_template_never_by_path() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/v9")

    @router.get("/units/{unit_id}/things")
    async def things(unit_id: str) -> dict[str, str]:
        return {"unit": unit_id}

    app.include_router(router)
    metrics.install(app)
    before = requests_by_route()
    with TestClient(app) as client:
        for unit in ("u-1", "u-2", "secret-user-id"):
            assert client.get(f"/v9/units/{unit}/things").status_code == 200
        assert client.post("/v9/units/u-1/things").status_code == 405
        assert client.get("/nowhere/at/all").status_code == 404
        exposition = client.get("/metrics").text
    after = requests_by_route()
    grew = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert grew == {("/v9/units/{unit_id}/things", "GET", "200"): 3, ("/v9/units/{unit_id}/things", "POST", "405"): 1,
                    ("unmatched", "GET", "404"): 1, ("/metrics", "GET", "200"): 1}
    assert "secret-user-id" not in exposition and "logstream_http_requests_total" in exposition


def test_the_merge_writes_each_family_once_with_a_process_label() -> None:
    one = "# HELP a_total A\n# TYPE a_total counter\na_total{code=\"x\"} 1.0\n# TYPE g gauge\ng 5.0\n"
    two = "# HELP a_total A\n# TYPE a_total counter\na_total{code=\"x\"} 2.0\n"
    merged = metrics.merge({"producer": one, "query": two}).decode()
    assert merged.count("# TYPE a_total counter") == 1
    values = {(s.name, s.labels["process"]): s.value for f in text_string_to_metric_families(merged) for s in f.samples}
    assert values == {("a_total", "producer"): 1.0, ("a_total", "query"): 2.0, ("g", "producer"): 5.0}


def test_quantiles_interpolate_within_a_bucket_as_promql_does() -> None:
    buckets = {0.1: 0.0, 0.5: 50.0, 1.0: 90.0, math.inf: 100.0}
    samples: status.Samples = {"h_bucket": [({"le": str(le), "process": "stream"}, n) for le, n in buckets.items()]}
    assert status.quantile(samples, "h", 0.5) == 0.5
    assert abs(status.quantile(samples, "h", 0.25) - 0.3) < 1e-9  # halfway through (0.1, 0.5]
    assert status.quantile(samples, "h", 0.99) == 1.0  # in +Inf: the highest finite bound
    assert status.quantile({}, "h", 0.5) is None
