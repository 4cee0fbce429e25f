"""logstream.js in headless Chromium against the real stack: a page on another origin (CORS) loads the
script from logstream itself, and what it tracks arrives once each, with the browser's UTC offset,
through network cuts, a page closed with its queue unsent, a 429, and API keys."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from tests.support import Stack, start_stack, stop_stack, wait_until

READ = "browser-read-key-0123456789"
WRITE = {name: f"browser-write-{name}-0123456789" for name in ("actions", "cut", "close", "rate", "key")}
KOLKATA = "Asia/Kolkata"  # +05:30: an offset no machine clock here has by accident
RATE_PER_S, BURST = 0.2, 10  # per key: a 429 says Retry-After: 5


@dataclass
class App:
    """The shop's web server: another origin than logstream's (a real one: Chromium refuses a page it
    cannot place on the network, such as an intercepted one, access to loopback addresses)."""

    origin: str
    pages: dict[str, str] = field(default_factory=dict)  # path -> HTML


@pytest.fixture(scope="module")
def app() -> Iterator[App]:
    pages: dict[str, str] = {}

    class Pages(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            html = pages.get(self.path.split("?", 1)[0].rsplit("/", 1)[0])
            self.send_response(200 if html else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((html or "not found").encode())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield App(f"http://127.0.0.1:{server.server_address[1]}", pages)
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def cors_stack(app: App, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack with keys on, a low rate limit per key (each test its own write key) and the shop's origin
    allowed by CORS."""
    running = start_stack(tmp_path_factory.mktemp("browser"), None, LOGSTREAM_WRITE_KEYS=",".join(WRITE.values()),
                          LOGSTREAM_READ_KEYS=READ, LOGSTREAM_CORS_ORIGINS=app.origin,
                          LOGSTREAM_RATE_LIMIT_PER_S=str(RATE_PER_S), LOGSTREAM_RATE_LIMIT_BURST=str(BURST))
    yield running
    stop_stack(running)


def page_html(stack: Stack, config: dict[str, Any]) -> str:
    return f"""<!doctype html><html><head><title>shop</title>
<script src="{stack.base_url}/logstream.js"></script></head>
<body><button id="buy" style="position:absolute;left:40px;top:30px;width:80px;height:40px">Buy</button>
<script>
  window.refusals = [];
  logstream.init(Object.assign({{endpoint: "{stack.base_url}", onError: function (e) {{ window.refusals.push(e); }}}},
                               {json.dumps(config)}));
  document.getElementById("buy").addEventListener("click", function (e) {{
    logstream.track.click(e.clientX, e.clientY, {{target: "buy"}});
  }});
</script></body></html>"""


@dataclass
class Shop:
    """A browser context (its own localStorage) on the shop, whose pages under `base` init logstream so."""

    context: BrowserContext
    base: str

    def open(self) -> Page:
        page = self.context.new_page()
        page.goto(f"{self.base}/shop")
        page.wait_for_function("typeof logstream === 'object'")
        return page


def app_context(browser: Browser, stack: Stack, app: App, config: dict[str, Any]) -> Shop:
    prefix = f"/{uuid.uuid4().hex[:8]}"
    app.pages[prefix] = page_html(stack, config)
    return Shop(browser.new_context(timezone_id=KOLKATA), app.origin + prefix)


def stored(stack: Stack, user: str) -> list[dict[str, Any]]:
    """The user's actions, from the query service behind the front door (no rate limit there)."""
    response = httpx.get(f"{stack.query_url}/v1/actions", params={"userId": user, "limit": 1000},
                         headers={"X-API-Key": READ}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["actions"]


def settled(stack: Stack, user: str, expected: int) -> list[dict[str, Any]]:
    """Once `expected` actions are queryable, and a moment later (for a wrong duplicate to show too)."""
    wait_until(lambda: len(stored(stack, user)) >= expected, timeout=30, what=f"{expected} actions of {user}")
    time.sleep(1.0)
    return stored(stack, user)


def config(name: str, user: str, **extra: Any) -> dict[str, Any]:
    return {"userId": user, "sessionId": f"s-{user}", "writeKey": WRITE[name], **extra}


def logs_requests(page: Page) -> list[dict[str, Any]]:
    """Every POST /v1/logs the page makes: its Idempotency-Key, and when, as it happens."""
    seen: list[dict[str, Any]] = []
    page.on("request", lambda r: seen.append({"key": r.headers.get("idempotency-key"), "at": time.monotonic()})
            if r.url.endswith("/v1/logs") and r.method == "POST" else None)
    return seen


def test_clicks_views_and_navigations_arrive_once_each_with_the_pages_offset(browser: Browser, app: App,
                                                                               cors_stack: Stack) -> None:
    user = f"web-{uuid.uuid4().hex[:8]}"
    context = app_context(browser, cors_stack, app,
                          config("actions", user, trackNavigation=True, flushIntervalMs=60_000))
    page = context.open()
    page.click("#buy")
    page.evaluate("""() => {
        logstream.track.view("item-42");
        logstream.track.navigate("shop", "cart");
        history.pushState({}, "", "/cart?step=1");
        return logstream.flush();
    }""")
    actions = settled(cors_stack, user, 4)
    assert page.evaluate("window.refusals") == []
    context.context.close()
    assert len(actions) == 4
    by_type = sorted((a["type"], json.dumps(a["properties"], sort_keys=True)) for a in actions)
    click = json.loads(next(p for t, p in by_type if t == "CLICK"))
    assert click["target"] == "buy" and 40 <= click["locationX"] <= 120 and 30 <= click["locationY"] <= 70
    assert ("VIEW", '{"viewedId": "item-42"}') in by_type
    navigations = {(json.loads(p)["pageFrom"], json.loads(p)["pageTo"]) for t, p in by_type if t == "NAVIGATE"}
    shop_path = context.base.removeprefix(app.origin) + "/shop"
    assert navigations == {("shop", "cart"), (shop_path, "/cart?step=1")}
    assert all(a["time"].endswith("+05:30") for a in actions), [a["time"] for a in actions]
    assert {a["sessionId"] for a in actions} == {f"s-{user}"}


def test_a_network_cut_mid_batch_then_restored_loses_and_doubles_nothing(browser: Browser, app: App,
                                                                         cors_stack: Stack) -> None:
    user = f"cut-{uuid.uuid4().hex[:8]}"
    context = app_context(browser, cors_stack, app, config("cut", user, batchSize=3, flushIntervalMs=60_000,
                                                      maxRetryDelayMs=1000))
    page = context.open()
    requests = logs_requests(page)
    replayed: list[str | None] = []
    page.on("response", lambda r: replayed.append(r.headers.get("idempotent-replayed"))
            if r.url.endswith("/v1/logs") and r.request.method == "POST" else None)
    batches: list[str] = []  # their keys, in the order they were first sent

    def cut(route: Route) -> None:
        key = route.request.headers["idempotency-key"]
        first_try = key not in batches
        if first_try:
            batches.append(key)
        if first_try and len(batches) == 1:  # the batch reaches logstream, its answer is lost on the way back
            route.fetch()
            route.abort("connectionreset")
        elif first_try and len(batches) == 2:  # the network is down: the batch never leaves
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route(f"{cors_stack.base_url}/v1/logs", cut)
    page.evaluate("() => { for (let i = 0; i < 7; i++) logstream.track.click(i, i); return logstream.flush(); }")
    queued = "() => Object.keys(localStorage).filter(k => k.startsWith('logstream:' + 'queue:')).length"
    # generous: on a loaded machine a first attempt may fail its publish, and its retry then waits out
    # the Retry-After of a key in progress
    wait_until(lambda: page.evaluate(queued) == 0, timeout=120,
               what=lambda: f"the queue to drain (sent {[r['key'] for r in requests]}, answers {replayed})")
    actions = settled(cors_stack, user, 7)
    context.context.close()
    assert sorted(a["properties"]["locationX"] for a in actions) == list(range(7))
    keys = [r["key"] for r in requests]
    assert len(batches) == 3, "three batches (3 + 3 + 1), each with its own key"
    assert keys == [batches[0], batches[0], batches[1], batches[1], batches[2]], "each cut batch sent again"
    # the first batch's retry found it stored: the first answer again, nothing stored twice
    assert replayed == ["true", None, None], replayed

def test_closing_the_page_flushes_its_queue_once(browser: Browser, app: App, cors_stack: Stack) -> None:
    user = f"close-{uuid.uuid4().hex[:8]}"
    context = app_context(browser, cors_stack, app, config("close", user, batchSize=100, flushIntervalMs=60_000))
    page = context.open()
    sent = logs_requests(page)
    page.evaluate("() => { logstream.track.view('a'); logstream.track.view('b'); logstream.track.click(5, 6); }")
    page.close(run_before_unload=True)
    actions = settled(cors_stack, user, 3)  # by the beacon: no page of the shop is open any more
    assert sent == []
    assert sorted(a["type"] for a in actions) == ["CLICK", "VIEW", "VIEW"]
    # the queue stayed in localStorage (a beacon's fate is unknown): the next page sends it again, with
    # the beacon's Idempotency-Key, and logstream answers with the first answer, storing nothing twice
    replayed: list[str | None] = []
    context.context.on("response", lambda r: replayed.append(r.headers.get("idempotent-replayed"))
                       if r.url.endswith("/v1/logs") else None)
    again = context.open()  # it sends what it adopted at once
    wait_until(lambda: again.evaluate("() => logstream.flush()") is None and replayed, timeout=10,
               what="the adopted batch to be sent")
    assert replayed == ["true"]
    assert len(settled(cors_stack, user, 3)) == 3
    context.context.close()


def test_a_429_is_retried_after_its_retry_after(browser: Browser, app: App, cors_stack: Stack) -> None:
    user = f"rate-{uuid.uuid4().hex[:8]}"
    context = app_context(browser, cors_stack, app, config("rate", user, flushIntervalMs=60_000))
    page = context.open()
    with httpx.Client(base_url=cors_stack.base_url, headers={"X-API-Key": WRITE["rate"]}) as client:
        wait_until(lambda: client.post("/v1/logs", content=b"{}").status_code == 429, timeout=30,
                   what="the key's bucket to run dry")
    answers: list[tuple[int, str | None, float]] = []
    page.on("response", lambda r: answers.append((r.status, r.headers.get("retry-after"), time.monotonic()))
            if r.url.endswith("/v1/logs") and r.request.method == "POST" else None)
    page.evaluate("() => { logstream.track.view('limited'); return logstream.flush(); }")
    assert len(settled(cors_stack, user, 1)) == 1
    context.context.close()
    assert answers[0][0] == 429 and answers[-1][0] == 202, answers
    waited = answers[1][2] - answers[0][2]
    assert waited >= int(answers[0][1] or "x") - 0.1, (answers, waited)


def test_a_write_key_works_and_a_read_key_is_refused(browser: Browser, app: App, cors_stack: Stack) -> None:
    user = f"key-{uuid.uuid4().hex[:8]}"
    refused = app_context(browser, cors_stack, app, {**config("key", user), "writeKey": READ})
    page = refused.open()
    page.evaluate("() => { logstream.track.view('nope'); return logstream.flush(); }")
    refusals = page.evaluate("window.refusals")
    assert [(r["reason"], r["status"], r["problem"]["code"]) for r in refusals] == \
        [("rejected", 403, "insufficient_scope")]
    assert page.evaluate("() => logstream.flush()") is None  # nothing left to retry
    refused.context.close()
    allowed = app_context(browser, cors_stack, app, config("key", user))
    page = allowed.open()
    page.evaluate("() => { logstream.track.view('yes'); return logstream.flush(); }")
    actions = settled(cors_stack, user, 1)
    allowed.context.close()
    assert [a["properties"]["viewedId"] for a in actions] == ["yes"]


def test_the_script_is_one_tag_with_no_other_origin(browser: Browser, app: App, cors_stack: Stack) -> None:
    shop = app_context(browser, cors_stack, app, config("key", "nobody"))
    origins: list[str] = []
    shop.context.on("request", lambda r: origins.append(r.url.split("/", 3)[2]))
    shop.open()
    shop.context.close()
    assert set(origins) == {app.origin.split("/", 3)[2], cors_stack.base_url.split("/", 3)[2]}
