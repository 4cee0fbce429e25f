"""Schemathesis against the OpenAPI document of every route (the one base URL's merged document:
ingest, reads, compatibility routes, health), over HTTP on a stack of its own (`logstream up`, its
keys on), so its made-up logs meet no other test's. Zero 5xx, zero responses outside the schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from tests.conftest import stack_env
from tests.fixtures import README_EXAMPLE
from tests.support import Service, free_port

KEY = "schemathesis-key-0123456789"  # both a read and a write key
EXAMPLES = 40  # per operation and mode: about 30 s in all (150 found nothing more)
# What the answers must be: never a 5xx, and each status, content type, header and body as documented.
# Not whether the schema of a request says all the contract says (positive_data_acceptance,
# negative_data_rejection): JSON Schema cannot state a time's bounds relative to the server's clock,
# whole-minute offsets, or limits on nested totals; the hypothesis tests of the contract cover those.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance]
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def keyed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service]]:
    workdir = tmp_path_factory.mktemp("schemathesis")
    port, bootstrap = free_port(), f"127.0.0.1:{free_port()}"
    env = stack_env(bootstrap, workdir / "data", LOGSTREAM_PORT=str(port), LOGSTREAM_QUERY_PORT=str(free_port()),
                    LOGSTREAM_WRITE_KEYS=KEY, LOGSTREAM_READ_KEYS=KEY, LOGSTREAM_RATE_LIMIT_PER_S="0",
                    LOGSTREAM_VISIBLE_TIMEOUT_S="10")
    service = Service(["up"], env, workdir, "up").start()
    base = f"http://127.0.0.1:{port}"
    try:
        service.wait_ready(f"{base}/readyz", timeout=90)
        yield base, service
    finally:
        assert service.stop(120) == 0, service.log_tail()


def test_every_route_answers_within_its_schema(keyed_stack: tuple[str, Service]) -> None:
    """Each operation in turn (schemathesis' pytest plugin does not run under pytest 9), with valid and
    invalid data; every failure is collected, then reported together."""
    base, service = keyed_stack
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate], database=None)
            def call(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {KEY}"},
                                       timeout=30, checks=CHECKS)

            try:
                call()
            except Unsatisfiable:  # nothing in this operation's request can be made invalid
                pass
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, not only the first
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    # nor an error that never became an answer (an exception after the response started)
    assert "Traceback" not in service.log_path.read_text(), service.log_tail(80)


def test_keys_under_up_reach_through_the_front_door(keyed_stack: tuple[str, Service]) -> None:
    """The same stack: keys checked at the front door and again by the query process, and the compatibility
    writes' read-your-writes through /internal/ with the key `up` made for its two processes."""
    base, _ = keyed_stack
    user = f"keys-{uuid.uuid4()}"
    key = {"Authorization": f"Bearer {KEY}"}
    log = {**README_EXAMPLE, "userId": user}
    assert httpx.post(f"{base}/api/submitlogs", json=log, timeout=30).status_code == 401
    stored = httpx.post(f"{base}/api/submitlogs", json=log, headers=key, timeout=30)
    assert stored.status_code == 200, stored.text  # answered once queryable: /internal/visible took the key
    assert httpx.get(f"{base}/v1/actions", params={"userId": user}, timeout=30).json()["code"] == "missing_api_key"
    found = httpx.get(f"{base}/v1/actions", params={"userId": user}, headers={"X-API-Key": KEY}, timeout=30)
    assert len(found.json()["actions"]) == 3
    assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
    document = httpx.get(f"{base}/openapi.json", timeout=30).json()
    assert set(document["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert "401" in document["paths"]["/v1/actions"]["get"]["responses"]
    assert "401" not in document["paths"]["/healthz"]["get"]["responses"]
