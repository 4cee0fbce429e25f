"""The dashboard and /docs in a real browser (Debian's headless Chromium, driven by Playwright),
through the whole stack: the page's numbers are the API's, its filters live in the URL, the live
tail shows a POSTed action, and nothing is loaded from anywhere but logstream itself.

Chromium is required, never skipped: `.ci/run` installs it (`apt-get install chromium`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.support import Stack, wait_until

EDMONTON = "America/Edmonton"
# 2019-11-03 in Edmonton: 25 hours (01:00 to 02:00 happens twice as MDT ends).
DAY_FROM, DAY_TO = "2019-11-03T00:00:00-06:00", "2019-11-04T00:00:00-07:00"
RUN = uuid.uuid4().hex[:6]  # this run's users, sessions and pages: no other test's data matches them
USERS = [f"dash-{RUN}-u{i}" for i in range(4)]
PAGES = [f"home-{RUN}", f"cart-{RUN}", f"pay-{RUN}"]


def day_log(number: int) -> dict[str, Any]:
    """Logs spread over the day's 25 hours, both 01:xx hours included (offsets -06:00 then -07:00)."""
    user = USERS[number % len(USERS)]
    hour = number % 25
    offset = "-06:00" if hour <= 1 else "-07:00"
    local = hour if hour <= 1 else hour - 1  # the second 01:00 is 01:00-07:00
    stamp = f"2019-11-03T{local:02d}:{(number * 7) % 60:02d}:00{offset}"
    page_from, page_to = PAGES[number % 3], PAGES[(number + 1) % 3]
    return {"userId": user, "sessionId": f"{user}-s{number % 3}", "actions": [
        {"time": stamp, "type": "NAVIGATE", "properties": {"pageFrom": page_from, "pageTo": page_to}},
        {"time": stamp, "type": "VIEW", "properties": {"viewedId": f"item-{RUN}-{number % 5}"}},
        {"time": stamp, "type": "CLICK", "properties": {"locationX": number, "locationY": 1}}][: 1 + number % 3]}


LOGS = [day_log(n) for n in range(60)]
ACTIONS = sum(len(entry["actions"]) for entry in LOGS)
DAY = {"from": DAY_FROM, "to": DAY_TO}


def day_url(stack: Stack, **extra: str) -> str:
    query = httpx.QueryParams({"range": "custom", **DAY, "tz": EDMONTON, **extra})
    return f"{stack.base_url}/?{query}"


def api(stack: Stack, path: str, **params: Any) -> Any:
    response = httpx.get(f"{stack.base_url}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> Stack:
    response = httpx.post(f"{stack.base_url}/v1/logs", content=orjson.dumps(LOGS),
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 202, response.text
    wait_until(lambda: api(stack, "/v1/stats/summary", **DAY, userId=USERS[0])["total"] ==
               sum(len(e["actions"]) for e in LOGS if e["userId"] == USERS[0]) and
               sum(api(stack, "/v1/stats/summary", **DAY, userId=u)["total"] for u in USERS) == ACTIONS,
               timeout=30, what="the seeded logs to be queryable")
    return stack


class Watched:
    """A page, with every console error and every request to another origin it made."""

    def __init__(self, page: Page, origin: str):
        self.page, self.errors, self.foreign = page, [], []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("request", lambda r: None if r.url.startswith((origin, "data:")) else self.foreign.append(r.url))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def check(self) -> None:
        assert self.errors == [], self.errors
        assert self.foreign == [], f"loaded from elsewhere than logstream: {self.foreign}"


@pytest.fixture
def watched(browser: Browser, seeded: Stack) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id=EDMONTON, locale="en-CA")
    watched = Watched(context.new_page(), seeded.base_url)
    yield watched
    context.close()
    watched.check()


def loaded(page: Page, url: str | None = None, since: str | None = None) -> None:
    """After the page drew every panel (body[data-loaded] changes each time it has)."""
    if url is not None:
        page.goto(url)
    page.wait_for_selector("body[data-loaded]" if since is None else f"body:not([data-loaded='{since}'])[data-loaded]",
                           state="attached", timeout=20_000)


def tiles(page: Page) -> dict[str, int]:
    return {t.get_attribute("data-tile"): int(t.locator(".value").get_attribute("data-value"))
            for t in page.locator("#tiles .tile").all()}


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def expected_tiles(summary: dict[str, Any]) -> dict[str, int]:
    return {"total": summary["total"], "uniqueUsers": summary["uniqueUsers"],
            "uniqueSessions": summary["uniqueSessions"], **{f"type-{t}": n for t, n in summary["byType"].items()}}


def test_tiles_and_buckets_are_the_apis_on_a_dst_day(watched: Watched, seeded: Stack) -> None:
    page = watched.page
    loaded(page, day_url(seeded))
    assert tiles(page) == expected_tiles(api(seeded, "/v1/stats/summary", **DAY))
    assert page.locator("#series").get_attribute("data-buckets") == "25"
    assert page.locator("#tiles .tile .change").first.inner_text().endswith("against the previous period")
    # times in the chosen zone, with its offset
    assert "GMT-6" in page.locator("#span").inner_text() and EDMONTON in page.locator("#span").inner_text()


def test_choosing_a_type_changes_the_url_and_the_numbers_and_back_undoes_it(watched: Watched, seeded: Stack) -> None:
    page = watched.page
    loaded(page, day_url(seeded))
    before = tiles(page)
    stamp = page.locator("body").get_attribute("data-loaded")
    page.get_by_role("checkbox", name="View", exact=True).uncheck()
    loaded(page, since=stamp)
    stamp = page.locator("body").get_attribute("data-loaded")
    page.get_by_role("checkbox", name="Navigate", exact=True).uncheck()
    loaded(page, since=stamp)
    assert query_of(page)["type"] == ["CLICK"]
    clicks = api(seeded, "/v1/stats/summary", **DAY, type="CLICK")
    assert tiles(page) == expected_tiles(clicks)
    assert tiles(page)["total"] < before["total"]
    stamp = page.locator("body").get_attribute("data-loaded")
    page.go_back()
    page.go_back()
    wait_until(lambda: "type" not in query_of(page), timeout=5, what="back to the unfiltered URL")
    wait_until(lambda: tiles(page) == before, timeout=10, what="the unfiltered numbers again")


def test_clicking_a_page_in_a_top_list_filters_by_it(watched: Watched, seeded: Stack) -> None:
    page = watched.page
    loaded(page, day_url(seeded))
    reached = api(seeded, "/v1/stats/top", **DAY, dimension="pageTo", limit=10)["items"]
    target = next(item["value"] for item in reached if item["value"] in PAGES)
    stamp = page.locator("body").get_attribute("data-loaded")
    page.locator(f"#top-pageTo button[data-value='{target}']").click()
    loaded(page, since=stamp)
    assert query_of(page)["pageTo"] == [target]
    assert page.locator("#chips [data-filter=pageTo]").count() == 1
    step = f"NAVIGATE:pageTo={target}"
    users = api(seeded, "/v1/stats/funnel", **DAY, steps=step, by="user")["steps"][0]["entered"]
    sessions = api(seeded, "/v1/stats/funnel", **DAY, steps=step, by="session")["steps"][0]["entered"]
    assert (tiles(page)["propertyUsers"], tiles(page)["propertySessions"]) == (users, sessions)
    assert users > 0
    # the flows show only transitions from or to that page; the funnel starts there
    flows = api(seeded, "/v1/stats/navigation", **DAY, limit=1000)["transitions"]
    assert page.locator("#flows").get_attribute("data-links") == str(
        min(25, sum(1 for t in flows if target in (t["pageFrom"], t["pageTo"]))))
    assert page.locator("#funnel").get_attribute("data-entered").split(",")[0] == str(users)


def test_a_session_opens_its_timeline(watched: Watched, seeded: Stack) -> None:
    page = watched.page
    loaded(page, day_url(seeded, sessionsUser=USERS[1]))
    first = page.locator("#sessions button[data-session]").first
    session_id = first.get_attribute("data-session")
    stamp = page.locator("body").get_attribute("data-loaded")
    first.click()
    loaded(page, since=stamp)
    assert query_of(page)["session"] == [session_id]
    session = api(seeded, f"/v1/sessions/{session_id}")
    assert page.locator(f"#timeline table[data-session='{session_id}'] tbody tr").count() == session["total"]


def test_an_action_posted_while_the_page_is_open_is_in_the_live_tail_within_2_s(
        watched: Watched, seeded: Stack) -> None:
    page = watched.page
    loaded(page, day_url(seeded))
    wait_until(lambda: "connected" in page.locator("#live-state").inner_text(), timeout=10, what="the live tail")
    user = f"live-{RUN}"
    response = httpx.post(f"{seeded.base_url}/v1/logs", json={"userId": user, "sessionId": "s", "actions": [
        {"time": "2019-11-03T12:00:00-07:00", "type": "CLICK", "properties": {"locationX": 1, "locationY": 2}}]},
        timeout=10)
    assert response.status_code == 202
    posted = time.monotonic()
    page.locator("#live li", has_text=user).wait_for(timeout=2000)
    assert time.monotonic() - posted <= 2.0


def test_docs_render_with_nothing_from_a_cdn(watched: Watched, seeded: Stack) -> None:
    page = watched.page
    page.goto(f"{seeded.base_url}/docs")
    page.locator(".swagger-ui .info .title", has_text="logstream").wait_for(timeout=20_000)
    page.locator(".opblock-summary-path", has_text="/v1/actions/live").first.wait_for(timeout=10_000)


def test_assets_are_compressed_and_cacheable(seeded: Stack) -> None:
    html = httpx.get(f"{seeded.base_url}/", timeout=10)
    assert html.status_code == 200 and "default-src 'self'" in html.headers["content-security-policy"]
    script = next(part.split('"')[0] for part in html.text.split('src="')[1:] if "echarts" in part)
    answer = httpx.get(f"{seeded.base_url}{script}", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = httpx.get(f"{seeded.base_url}{script}", headers={"If-None-Match": answer.headers["etag"]}, timeout=10)
    assert again.status_code == 304


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


def post_clicks(stack: Stack, user: str, count: int) -> None:
    actions = [{"time": "2019-11-03T12:00:00-07:00", "type": "CLICK", "properties": {"locationX": i, "locationY": 0}}
               for i in range(count)]
    response = httpx.post(f"{stack.base_url}/v1/logs", json={"userId": user, "sessionId": "s", "actions": actions},
                          timeout=10)
    assert response.status_code == 202, response.text


def test_the_live_stream_resumes_after_its_last_id_and_tells_a_client_that_fell_behind(seeded: Stack) -> None:
    user, url = f"sse-{RUN}", f"{seeded.base_url}/v1/actions/live"
    with httpx.stream("GET", url, params={"userId": user}, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        assert next(events)["event"] == "ready"
        post_clicks(seeded, user, 1)
        first = next(events)
    assert first["event"] == "actions" and len(orjson.loads(first["data"])["actions"]) == 1
    # while no stream is open, more arrive than one event carries (LOGSTREAM_LIVE_BATCH, 500)
    for _ in range(6):
        post_clicks(seeded, user, 100)
    post_clicks(seeded, f"other-{RUN}", 1)
    wait_until(lambda: len(api(seeded, "/v1/actions", userId=user, limit=1000)["actions"]) == 601, timeout=30,
               what="the 600 actions to be queryable")
    received: list[str] = []
    kinds: list[str] = []
    with httpx.stream("GET", url, params={"userId": user}, headers={"Last-Event-ID": first["id"]},
                      timeout=10) as response:
        for event in sse_events(response):
            kinds.append(event["event"])
            if event["event"] == "actions":
                received += [a["actionId"] for a in orjson.loads(event["data"])["actions"]]
            if len(received) >= 600:
                break
    assert kinds[:4] == ["ready", "actions", "behind", "actions"]
    every = [a["actionId"] for a in api(seeded, "/v1/actions", userId=user, limit=1000)["actions"]]
    first_id = orjson.loads(first["data"])["actions"][0]["actionId"]
    assert sorted(received) == sorted(set(every) - {first_id})  # none skipped, none repeated


@pytest.mark.parametrize(("params", "headers", "code"), [
    ({"type": "SCROLL"}, {}, "invalid_parameter"),
    ({}, {"Last-Event-ID": "not-one-of-ours"}, "invalid_parameter")])
def test_the_live_stream_refuses_bad_input_as_a_problem(seeded: Stack, params: dict[str, str],
                                                        headers: dict[str, str], code: str) -> None:
    answer = httpx.get(f"{seeded.base_url}/v1/actions/live", params=params, headers=headers, timeout=10)
    assert (answer.status_code, answer.headers["content-type"]) == (400, "application/problem+json")
    assert answer.json()["code"] == code
