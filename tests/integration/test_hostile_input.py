"""Hostile bodies through the real producer app and the real embedded broker: gzip (and bombs),
sizes, limits, unicode, clocks. Each is a 4xx problem with its own code, never a 500 or a 503."""

from __future__ import annotations

import gzip
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.fixtures import README_EXAMPLE, example
from tests.support import consume_all

JSON = {"content-type": "application/json"}
GZIP = {**JSON, "content-encoding": "gzip"}


PRODUCER_SETTINGS = {"max_body_bytes": 256 * 1024, "max_decompressed_bytes": 512 * 1024,
                     "max_logs_per_request": 50, "max_record_bytes": 100_000}


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status
    return body


def records_of(broker: str, topic: str, user: str) -> list[dict]:
    return [orjson.loads(m.value()) for m in consume_all(broker, topic, expect=100_000, timeout=3)
            if m.key() == user.encode()]


def bomb(inflated: int) -> bytes:
    """A gzip body of `inflated` bytes of spaces (a valid JSON prefix), built without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    return b"".join([packer.compress(b"[")] + [packer.compress(block) for _ in range(inflated >> 20)]
                    + [packer.flush()])


# ---------------------------------------------------------------- gzip


def test_a_gzip_body_is_accepted_and_published_as_the_log(producer_client: TestClient, broker: str, topic: str) -> None:
    user = f"gz-{uuid.uuid4()}"
    response = producer_client.post("/v1/logs", content=gzip.compress(orjson.dumps(example(userId=user))), headers=GZIP)
    assert response.status_code == 202, response.text
    [value] = records_of(broker, topic, user)
    assert {k: value[k] for k in README_EXAMPLE} == example(userId=user)


def test_several_gzip_members_are_one_body(producer_client: TestClient) -> None:
    text = orjson.dumps([README_EXAMPLE, README_EXAMPLE])
    body = gzip.compress(text[:40]) + gzip.compress(text[40:])
    assert producer_client.post("/v1/logs", content=body, headers=GZIP).json()["logs"] == 2


def test_a_gzip_bomb_is_413_at_once_without_inflating_it(producer_client: TestClient) -> None:
    body = bomb(1 << 30)  # 1 GiB of spaces in about 1 MiB... over the wire limit, so first the wire:
    assert len(body) > 256 * 1024
    problem(producer_client.post("/v1/logs", content=body, headers=GZIP), 413, "payload_too_large")
    small = bomb(200 << 20)  # 200 MiB inflated from ~200 KiB on the wire
    assert len(small) < 256 * 1024
    started = time.monotonic()
    body = problem(producer_client.post("/v1/logs", content=small, headers=GZIP), 413, "decompressed_too_large")
    assert time.monotonic() - started < 5
    assert str(512 * 1024) in body["detail"]


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (b"not gzip at all", GZIP, 400, "invalid_gzip"),
    (gzip.compress(orjson.dumps(README_EXAMPLE), mtime=0)[:-12], GZIP, 400, "invalid_gzip"),  # truncated
    (gzip.compress(orjson.dumps(README_EXAMPLE), mtime=0) + b"junk", GZIP, 400, "invalid_gzip"),
    (gzip.compress(b"{not json", mtime=0), GZIP, 400, "invalid_json"),
    (orjson.dumps(README_EXAMPLE), {**JSON, "content-encoding": "br"}, 415, "unsupported_content_encoding"),
    (orjson.dumps(README_EXAMPLE), {**JSON, "content-encoding": "gzip, gzip"}, 415, "unsupported_content_encoding"),
    (gzip.compress(orjson.dumps(README_EXAMPLE), mtime=0), JSON, 400, "invalid_json"),  # gzip, undeclared
])
def test_bad_encodings(producer_client: TestClient, body: bytes, headers: dict, status: int, code: str) -> None:
    problem(producer_client.post("/v1/logs", content=body, headers=headers), status, code)


def test_identity_is_no_encoding(producer_client: TestClient) -> None:
    response = producer_client.post("/v1/logs", content=orjson.dumps(README_EXAMPLE),
                           headers={**JSON, "content-encoding": "identity"})
    assert response.status_code == 202


def test_compatibility_writes_read_gzip_too_and_refuse_bombs_in_their_shape(producer_client: TestClient) -> None:
    response = producer_client.post("/api/submitlogs", content=bomb(200 << 20), headers=GZIP)
    assert response.status_code == 413 and response.json() == {"error": "the body inflates to more than 524288 bytes"}
    assert response.headers["logstream-error"].startswith("decompressed_too_large")


# ---------------------------------------------------------------- sizes and counts


def test_too_many_logs_is_413_before_validating_them(producer_client: TestClient) -> None:
    body = problem(producer_client.post("/v1/logs", content=orjson.dumps([{"junk": 1}] * 51), headers=JSON),
                   413, "too_many_logs")
    assert "50" in body["detail"]
    fifty = orjson.dumps([README_EXAMPLE] * 50)
    assert producer_client.post("/v1/logs", content=fifty, headers=JSON).status_code == 202


def test_a_log_larger_than_a_record_is_413_not_a_503(producer_client: TestClient) -> None:
    actions = [{"time": "2018-10-18T21:37:30Z", "type": "VIEW", "properties": {"viewedId": "v" * 8000}}] * 13
    body = problem(producer_client.post("/v1/logs", content=orjson.dumps([README_EXAMPLE, example(actions=actions)]),
                               headers=JSON), 413, "log_too_large")
    assert body["errors"][0]["path"] == "[1]" and body["errors"][0]["code"] == "log_too_large"


def test_deeply_nested_unknown_members_are_a_400_not_a_500(producer_client: TestClient) -> None:
    deep = "[" * 300 + "]" * 300
    body = orjson.dumps(README_EXAMPLE)[:-1] + b',"extra":' + deep.encode() + b"}"
    found = problem(producer_client.post("/v1/logs", content=body, headers=JSON), 400, "invalid_logs")
    assert found["errors"][0]["code"] == "too_deep"
    deeper = b"[" * 5000 + b"]" * 5000  # deeper than the JSON parser goes
    problem(producer_client.post("/v1/logs", content=deeper, headers=JSON), 400, "invalid_json")


def test_shape_limits_are_listed_with_their_paths(producer_client: TestClient) -> None:
    bad = example()
    bad["actions"][1]["properties"]["blob"] = "x" * 9000
    bad["actions"][2]["properties"]["deep"] = [[[[[[[[[1]]]]]]]]]
    found = problem(producer_client.post("/v1/logs", content=orjson.dumps(bad), headers=JSON), 400, "invalid_logs")
    assert [(e["path"], e["code"]) for e in found["errors"]] == [
        ("actions[1].properties.blob", "too_long"), ("actions[2].properties.deep" + "[0]" * 7, "too_deep")]


# ---------------------------------------------------------------- unicode


def test_lone_surrogates_are_refused_clearly(producer_client: TestClient) -> None:
    for text in (b'"\\ud800"', b'"\\udc00x"', b'"\\ud800\\u0041"'):
        body = orjson.dumps(README_EXAMPLE).replace(b'"FDJKLHSLD"', text)
        found = problem(producer_client.post("/v1/logs", content=body, headers=JSON), 400, "invalid_unicode")
        assert "surrogate" in found["detail"]


def test_nul_rtl_marks_and_other_edge_characters_are_kept_byte_for_byte(producer_client: TestClient, broker: str,
                                                                        topic: str) -> None:
    user = f"u\u0000\u202e\u200f-{uuid.uuid4()}"
    odd = "nul\u0000 rtl\u202egnirts\u200f zwj\U0001f468\u200d\U0001f469 combining e\u0301 bom\ufeff \U0010ffff"
    document = example(userId=user, sessionId="s\u0000")
    document["actions"][1]["properties"] = {"viewedId": odd, odd: [odd]}
    assert producer_client.post("/v1/logs", content=orjson.dumps(document), headers=JSON).status_code == 202
    [value] = records_of(broker, topic, user)
    assert {k: value[k] for k in README_EXAMPLE} == document


# ---------------------------------------------------------------- clocks


def test_actions_far_in_the_future_are_refused(producer_client: TestClient) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=23)).isoformat(timespec="seconds")
    later = (datetime.now(UTC) + timedelta(hours=25)).isoformat(timespec="seconds")
    document = example()
    document["actions"][0]["time"] = soon
    assert producer_client.post("/v1/logs", content=orjson.dumps(document), headers=JSON).status_code == 202
    document["actions"][2]["time"] = later
    found = problem(producer_client.post("/v1/logs", content=orjson.dumps(document), headers=JSON), 400, "invalid_logs")
    assert [(e["path"], e["code"]) for e in found["errors"]] == [("actions[2].time", "time_in_future")]


def test_received_at_and_event_id_are_the_servers(producer_client: TestClient, broker: str, topic: str) -> None:
    user = f"clock-{uuid.uuid4()}"
    forged = {**example(userId=user), "receivedAt": "2099-01-01T00:00:00Z", "eventId": str(uuid.uuid4())}
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = producer_client.post("/v1/logs", content=orjson.dumps(forged), headers=JSON)
    [value] = records_of(broker, topic, user)
    assert value["eventId"] == response.json()["eventIds"][0] != forged["eventId"]
    received = datetime.fromisoformat(value["receivedAt"])
    assert before <= received <= datetime.now(UTC) + timedelta(seconds=1)
