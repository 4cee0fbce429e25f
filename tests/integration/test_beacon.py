"""POST /v1/beacon (what navigator.sendBeacon sends: a text/plain JSON envelope) and GET /logstream.js,
through the real producer on the real broker, with API keys on (the write key in the envelope)."""

from __future__ import annotations

import gzip

import orjson
from fastapi.testclient import TestClient

from tests.fixtures import README_EXAMPLE, example
from tests.support import consume_all

WRITE, READ = "beacon-write-key-0123456789", "beacon-read-key-0123456789"
PRODUCER_SETTINGS = {"write_keys": (WRITE,), "read_keys": (READ,), "rate_limit_per_s": 0}
TEXT = {"content-type": "text/plain;charset=UTF-8"}


def beacon(client: TestClient, envelope: object, headers: dict[str, str] = TEXT):
    return client.post("/v1/beacon", content=orjson.dumps(envelope), headers=headers)


def test_a_beacon_publishes_its_logs_as_post_v1_logs_does(producer_client: TestClient, broker: str,
                                                          topic: str) -> None:
    logs = [example(userId="beacon-user", sessionId="s1"), example(userId="beacon-user", sessionId="s2")]
    answer = beacon(producer_client, {"logs": logs, "writeKey": WRITE})
    assert answer.status_code == 202, answer.text
    assert answer.json()["logs"] == 2 and answer.json()["actions"] == 6
    values = [orjson.loads(message.value()) for message in consume_all(broker, topic, expect=2)]
    assert sorted(v["sessionId"] for v in values if v["userId"] == "beacon-user") == ["s1", "s2"]


def test_invalid_logs_get_the_same_problems_as_from_post_v1_logs(producer_client: TestClient) -> None:
    bad = example(actions=[{"time": "2018-10-18T21:37:28", "type": "CLICK", "properties": {"locationX": "52"}}])
    from_beacon = beacon(producer_client, {"logs": bad, "writeKey": WRITE})
    from_logs = producer_client.post("/v1/logs", content=orjson.dumps(bad),
                                     headers={"content-type": "application/json", "authorization": f"Bearer {WRITE}"})
    assert from_beacon.status_code == from_logs.status_code == 400
    assert from_beacon.json()["code"] == "invalid_logs"
    assert from_beacon.json()["errors"] == from_logs.json()["errors"]


def test_what_is_not_an_envelope_is_refused_with_a_code(producer_client: TestClient) -> None:
    not_envelope = beacon(producer_client, [README_EXAMPLE])
    assert not_envelope.status_code == 400 and not_envelope.json()["code"] == "invalid_beacon"
    bad_key = beacon(producer_client, {"logs": README_EXAMPLE, "writeKey": WRITE, "idempotencyKey": 7})
    assert bad_key.status_code == 400 and bad_key.json()["code"] == "invalid_beacon"
    not_json = producer_client.post("/v1/beacon", content=b"{logs", headers=TEXT)
    assert not_json.status_code == 400 and not_json.json()["code"] == "invalid_json"
    form = beacon(producer_client, {"logs": README_EXAMPLE}, {"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"


def test_the_write_key_is_read_from_the_envelope_or_the_headers(producer_client: TestClient) -> None:
    missing = beacon(producer_client, {"logs": README_EXAMPLE})
    assert missing.status_code == 401 and missing.json()["code"] == "missing_api_key"
    invalid = beacon(producer_client, {"logs": README_EXAMPLE, "writeKey": "not-a-key-0123456789"})
    assert invalid.status_code == 401 and invalid.json()["code"] == "invalid_api_key"
    read_key = beacon(producer_client, {"logs": README_EXAMPLE, "writeKey": READ})
    assert read_key.status_code == 403 and read_key.json()["code"] == "insufficient_scope"
    in_header = beacon(producer_client, {"logs": README_EXAMPLE}, {**TEXT, "x-api-key": WRITE})
    assert in_header.status_code == 202, in_header.text


def test_the_browser_client_is_served_without_a_key_and_small(producer_client: TestClient) -> None:
    for path in ("/logstream.js", "/logstream.mjs"):
        script = producer_client.get(path)
        assert script.status_code == 200
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert len(gzip.compress(script.content)) <= 5 * 1024
    assert b"sendBeacon" in producer_client.get("/logstream.js").content
