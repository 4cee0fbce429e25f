"""Schemathesis against the OpenAPI document of every route (the one base URL's merged document:
ingest, reads, compatibility routes, health), over HTTP on a stack of its own (`logstream up`, its
keys on), so its made-up logs meet no other test's. Zero 5xx, zero responses outside the schema."""

from __future__ import annotations

import uuid

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from playwright.sync_api import Browser
from schemathesis import GenerationMode, checks

from tests.fixtures import README_EXAMPLE
from tests.support import KEYED_STACK_KEY as KEY
from tests.support import Stack

EXAMPLES = 40  # per operation and mode: about 30 s in all (150 found nothing more)
# What the answers must be: never a 5xx, and each status, content type, header and body as documented.
# Not whether the schema of a request says all the contract says (positive_data_acceptance,
# negative_data_rejection): JSON Schema cannot state a time's bounds relative to the server's clock,
# whole-minute offsets, or limits on nested totals; the hypothesis tests of the contract cover those.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance]


def test_every_route_answers_within_its_schema(keyed_stack: Stack) -> None:
    """Each operation in turn (schemathesis' pytest plugin does not run under pytest 9), with valid and
    invalid data; every failure is collected, then reported together."""
    base, service = keyed_stack.base_url, keyed_stack.service
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    # GET /v1/actions/live streams until the client leaves: every valid call would wait out its timeout
    # (tests/e2e/test_dashboard_browser.py holds it to its description)
    operations = [op for op in (result.ok() for result in api.get_all_operations()) if op.path != "/v1/actions/live"]
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


def test_keys_under_up_reach_through_the_front_door(keyed_stack: Stack) -> None:
    """The same stack: keys checked at the front door and again by the query process, and the compatibility
    writes' read-your-writes through /internal/ with the key `up` made for its two processes."""
    base = keyed_stack.base_url
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


def test_the_dashboard_asks_for_a_read_key_and_never_puts_it_in_a_url(keyed_stack: Stack, browser: Browser) -> None:
    """The same stack (keys on): the page is public, its API calls are not; it asks for a key once, keeps
    it in the tab's sessionStorage and sends it as a header."""
    context = browser.new_context()
    page = context.new_page()
    requests: list[tuple[str, str | None]] = []
    page.on("request", lambda r: requests.append((r.url, r.headers.get("x-api-key"))))
    page.goto(f"{keyed_stack.base_url}/?range=1h")
    page.locator("#key-dialog").wait_for(state="visible", timeout=20_000)
    page.fill("#key", KEY)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("body[data-loaded]", state="attached", timeout=20_000)
    assert page.locator("#status").inner_text() == ""
    assert page.locator("#tiles .tile").count() >= 6
    assert page.evaluate("() => sessionStorage.getItem('logstream.readKey')") == KEY
    assert not any(KEY in url for url, _ in requests)
    assert any(url.startswith(f"{keyed_stack.base_url}/v1/stats/summary") and key == KEY for url, key in requests)
    context.close()
