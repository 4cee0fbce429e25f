"""The hot routes (logstream/hot_routes.py) answer exactly as FastAPI's routing does: hypothesis sends the
same request to a service with the layer on and to one with it off (LOGSTREAM_HOT_ROUTES=false), and
compares status, the headers that matter, and body, for POST /v1/logs and GET /v1/stats/timeseries."""

from __future__ import annotations

import gzip
import re
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer_api.app import create_app as create_producer_app
from producer_api.settings import ProducerSettings
from query_api.app import create_app as create_query_app
from query_api.settings import QuerySettings
from tests.fixtures import README_EXAMPLE, example

QUERY_RECORDS = [orjson.dumps({**example(userId="hot", sessionId=f"s{i}"), "eventId": str(uuid.uuid4())})
                 for i in range(3)]
PRODUCER_SETTINGS = {"max_body_bytes": 4096, "max_decompressed_bytes": 8192, "max_logs_per_request": 3}
# Headers that say something (date and server aside, which are the server's own).
COMPARED = ("content-type", "content-length", "retry-after", "logstream-error", "idempotent-replayed",
            "www-authenticate", "location", "allow")
EVENT_ID = re.compile(rb'"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"')
EXAMPLES = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def answer(response) -> tuple[int, dict[str, str], bytes]:
    headers = {name: response.headers[name] for name in COMPARED if name in response.headers}
    return response.status_code, headers, EVENT_ID.sub(b'"<eventId>"', response.content)


@pytest.fixture(scope="module")
def producers(producer_settings: ProducerSettings) -> Iterator[tuple[TestClient, TestClient]]:
    off = producer_settings.model_copy(update={"hot_routes": False})
    with TestClient(create_producer_app(producer_settings), raise_server_exceptions=False) as hot, \
            TestClient(create_producer_app(off), raise_server_exceptions=False) as routed:
        yield hot, routed


@pytest.fixture(scope="module")
def queries(query_client: TestClient, query_settings: QuerySettings) -> Iterator[tuple[TestClient, TestClient]]:
    off = query_settings.model_copy(update={"hot_routes": False})
    with TestClient(create_query_app(off), raise_server_exceptions=False) as routed:
        yield query_client, routed


def test_the_layer_is_on_by_default_and_a_setting_turns_it_off(producer_settings: ProducerSettings) -> None:
    assert ProducerSettings().hot_routes and QuerySettings().hot_routes
    assert not producer_settings.model_copy(update={"hot_routes": False}).hot_routes


# --- POST /v1/logs: bodies valid and not, content types and encodings, query strings, idempotency keys
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                      max_size=3), max_leaves=8)
documents = st.one_of(
    st.just(README_EXAMPLE),
    st.lists(st.just(README_EXAMPLE), min_size=0, max_size=5),  # over max_logs_per_request too
    st.builds(lambda user, time: example(userId=user, actions=[{**README_EXAMPLE["actions"][0], "time": time}]),
              st.text(max_size=4), st.sampled_from(["2018-10-18T21:37:28", "2018-10-18T21:37:28Z", "nonsense",
                                                    "2999-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])),
    json_values,
)
bodies = st.one_of(documents.map(orjson.dumps), st.binary(max_size=64),
                   st.just(b'{"userId": "x"' + b" " * 5000 + b"}"), st.just(b'["\\ud800"]'))
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "application/problem+json",
                                 "text/plain", None])
encodings = st.sampled_from([None, "gzip", "identity", "br"])
query_strings = st.sampled_from(["", "wait=visible", "wait=never", "wait=", "other=1", "wait=visible&wait=x"])
keys = st.sampled_from([None, "6f0b2c8e-1b7e-4a51-9d7e-2f4c9a3b5d10", "", "\u00e9t\u00e9", "k" * 300])


@EXAMPLES
@given(body=bodies, content_type=content_types, encoding=encodings, query=query_strings, key=keys)
def test_post_logs_answers_the_same_either_way(producers: tuple[TestClient, TestClient], body: bytes,
                                               content_type: str | None, encoding: str | None, query: str,
                                               key: str | None) -> None:
    headers: dict[str, str | bytes] = {}
    if content_type:
        headers["content-type"] = content_type
    if encoding:
        headers["content-encoding"] = encoding
        body = gzip.compress(body) if encoding == "gzip" else body
    if key is not None:
        headers["idempotency-key"] = key.encode()
    url = "/v1/logs" + (f"?{query}" if query else "")
    hot, routed = (answer(client.post(url, content=body, headers=headers)) for client in producers)
    assert hot == routed


LONG_ID = "u" * 257
TIMESERIES_QUERIES = [
    "interval=hour&tz=America/Edmonton&from=2018-10-18T21:00:00-06:00&to=2018-10-19T00:00:00-06:00",
    "interval=day&tz=America/Edmonton&from=2018-10-01&to=2018-12-01&type=click,VIEW",
    "interval=hour&tz=America/Edmonton&from=2018-11-03&to=2018-11-06&userId=carol",
    "interval=minute&from=2018-10-19T10:30:00Z&to=2018-10-19T11:00:00Z&sessionId=b1&type=NAVIGATE",
    "interval=week&tz=Asia/Kolkata&from=2018-10-01&to=2018-12-01", "interval=month&from=2018-01-01&to=2019-01-01",
    "from=2018-10-18&to=2018-10-21", "from=2018-10-18&to=2018-10-18", "from=2018-10-18&to=2018-10-21&other=1",
    "interval=day&interval=hour&from=2018-10-18&to=2018-10-21",
    "interval=hour&from=2018-10-18&to=2018-10-21&from=2018-10-20", "interval=&from=2018-10-18&to=2018-10-21",
    "tz=&from=2018-10-18&to=2018-10-21", "userId=&from=2018-10-18&to=2018-10-21",
    "type=&from=2018-10-18&to=2018-10-21", "from=&to=2018-10-21", "interval=HOUR&from=2018-10-18&to=2018-10-21",
    "interval=fortnight&from=2018-10-18&to=2018-10-21", f"userId={LONG_ID}&from=2018-10-18&to=2018-10-21",
    f"sessionId={LONG_ID}&from=nonsense&to=2018-10-21", f"interval=year&userId={LONG_ID}&from=nonsense",
    "from=nonsense&to=2018-10-21&interval=fortnight", "type=CLICK,bogus&from=2018-10-18&to=2018-10-21",
    "tz=Mars/Olympus_Mons&from=2018-10-18&to=2018-10-21", "interval=minute&from=2018-01-01&to=2018-03-01",
    "from=2018-10-21&to=2018-10-18", "from=1999-12-31&to=2000-01-02", "from=2018-10-18", "",
]


@pytest.mark.parametrize("query", TIMESERIES_QUERIES)
def test_timeseries_answers_the_same_either_way_for_these(queries: tuple[TestClient, TestClient], query: str) -> None:
    hot, routed = (answer(client.get(f"/v1/stats/timeseries?{query}")) for client in queries)
    assert hot == routed, query


# --- GET /v1/stats/timeseries: every parameter valid, invalid, repeated, empty, too long or missing
VALUES = {
    "interval": ["hour", "day", "minute", "week", "month", "HOUR", "fortnight", ""],
    "tz": ["UTC", "America/Edmonton", "Asia/Kolkata", "Mars/Olympus_Mons", "../../etc/passwd", ""],
    "from": ["2018-10-18", "2018-10-18T21:00:00-06:00", "2018-01-01", "1999-12-31", "nonsense", ""],
    "to": ["2018-10-19", "2018-10-21", "2018-03-01", "2000-01-02", "2100-01-02", ""],
    "type": ["CLICK", "click,VIEW", "CLICK,bogus", "", "NAVIGATE,navigate"],
    "userId": ["hot", "u" * 256, "u" * 257, ""],
    "sessionId": ["s1", "s" * 257, ""],
    "other": ["1"],
}
parameters = st.lists(st.sampled_from(sorted(VALUES)).flatmap(
    lambda name: st.tuples(st.just(name), st.sampled_from(VALUES[name]) | st.text(max_size=6))), max_size=6)


@EXAMPLES
@given(pairs=parameters)
def test_timeseries_answers_the_same_either_way(queries: tuple[TestClient, TestClient],
                                                pairs: list[tuple[str, str]]) -> None:
    query = "&".join(f"{quote(name)}={quote(value, safe='')}" for name, value in pairs)
    hot, routed = (answer(client.get(f"/v1/stats/timeseries?{query}")) for client in queries)
    assert hot == routed, query


def test_the_hot_app_answers_beneath_the_routing_and_the_other_does_not(
        queries: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparisons above compare two ways, not one way twice."""
    from logstream import hot_routes

    calls: list[str] = []
    original = hot_routes.answer

    async def counted(route, request):  # noqa: ANN001, ANN202
        calls.append(route.path)
        return await original(route, request)

    monkeypatch.setattr(hot_routes, "answer", counted)
    hot, routed = queries
    assert routed.get("/v1/stats/timeseries?from=2018-10-18&to=2018-10-19").status_code == 200 and calls == []
    assert hot.get("/v1/stats/timeseries?from=2018-10-18&to=2018-10-19").status_code == 200
    assert calls == ["/v1/stats/timeseries"]
