"""Unicode edge cases through the whole pipeline (producer, broker, stream, ClickHouse, read API):
what JSON can carry is stored and read back exactly; what it cannot (a lone surrogate) is refused."""

from __future__ import annotations

import uuid

import httpx
import orjson

from tests.fixtures import example
from tests.support import Stack

ODD = ("nul\u0000 rtl\u202egnirts\u200f lrm\u200e zwj\U0001f468\u200d\U0001f469 combining e\u0301 "
       "bom\ufeff nbsp\u00a0 max\U0010ffff private\ue000 bell\u0007 tab\t newline\n quote\" backslash\\")


def test_nul_rtl_marks_and_other_edge_characters_round_trip(stack: Stack) -> None:
    user = f"u\u0000\u202e\u200f\u00e9-{uuid.uuid4()}"
    session = f"s\u0000{ODD[:40]}"
    document = example(userId=user, sessionId=session)
    document["actions"][1]["properties"] = {"viewedId": ODD, ODD: [ODD, {ODD: ODD}]}
    response = httpx.post(f"{stack.base_url}/v1/logs?wait=visible", content=orjson.dumps(document),
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 202, response.text
    found = httpx.get(f"{stack.base_url}/v1/actions", params={"userId": user}, timeout=30).json()["actions"]
    assert [(a["userId"], a["sessionId"]) for a in found] == [(user, session)] * 3
    # two actions share a time, so their order is their actionIds': compare per type
    assert {a["type"]: a["properties"] for a in found} == {a["type"]: a["properties"] for a in document["actions"]}
    by_session = httpx.get(f"{stack.base_url}/v1/logs", params={"sessionId": session}, timeout=30).json()
    assert [log["userId"] for log in by_session["logs"]] == [user]


def test_a_lone_surrogate_is_refused_with_its_own_code(stack: Stack) -> None:
    body = orjson.dumps(example()).replace(b'"FDJKLHSLD"', b'"\\udfff"')
    response = httpx.post(f"{stack.base_url}/v1/logs", content=body, headers={"content-type": "application/json"},
                          timeout=30)
    assert response.status_code == 400 and response.json()["code"] == "invalid_unicode"
