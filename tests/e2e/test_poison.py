"""No single record, from any producer, stops the pipeline: thousands of foreign records of random
shape written straight to the raw topic, interleaved with valid logs posted to the producer."""

from __future__ import annotations

import random
import uuid

import httpx
import orjson

from tests.fixtures import example
from tests.support import Stack, all_actions, consume_all, produce_raw, wait_until

RAW, DLQ = "logstream.logs.raw.v1", "logstream.logs.dlq.v1"


def foreign_record(rng: random.Random, index: int) -> bytes:
    """A record the contract refuses, of one of many shapes (each refused by construction)."""
    log = example(userId=f"foreign-{index}")
    kind = index % 10
    if kind == 0:  # 36 characters, a hyphen at index 8, no UUID: once stopped every insert
        log["eventId"] = "12345678-" + "".join(rng.choice("0123456789abcdef") for _ in range(27))
    elif kind == 1:
        return orjson.dumps(rng.choice([[1, 2], "log", 3.5, None, {"nested": {"userId": "x"}}]))
    elif kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))) + b"\xff\xfe"
    elif kind == 3:  # 1e400 parses to infinity
        return orjson.dumps(log).replace(b'"locationX":52', b'"locationX":1e400')
    elif kind == 4:
        log["actions"][0]["type"] = rng.choice(["SCROLL", "", 7, None])
    elif kind == 5:
        deep: object = 1
        for _ in range(12):
            deep = [deep]
        log["actions"][1]["properties"]["deep"] = deep
    elif kind == 6:
        del log[rng.choice(["userId", "sessionId", "actions"])]
    elif kind == 7:
        log["actions"] = []
    elif kind == 8:
        log["receivedAt"] = rng.choice(["yesterday", "2018-10-18T21:37:28", "99999-01-01T00:00:00Z", 12])
    else:
        log["actions"][2]["properties"]["k" * 9000] = "odd key"
    return orjson.dumps(log)


def test_foreign_records_never_stop_valid_logs(stack: Stack) -> None:
    rng = random.Random(11)
    marker = uuid.uuid4().hex
    user = f"valid-{marker}"
    foreign_count, rounds, logs_per_round = 2000, 20, 10
    per_round = foreign_count // rounds
    event_ids: list[str] = []
    for round_ in range(rounds):
        produce_raw(stack.bootstrap, RAW, [(f"{marker}-{i}".encode(), foreign_record(rng, i))
                                           for i in range(round_ * per_round, (round_ + 1) * per_round)])
        logs = [example(userId=user, sessionId=f"s{round_}-{i}") for i in range(logs_per_round)]
        accepted = httpx.post(f"{stack.base_url}/v1/logs", content=orjson.dumps(logs),
                              headers={"content-type": "application/json"}, timeout=30)
        assert accepted.status_code == 202, accepted.text
        event_ids += accepted.json()["eventIds"]
        ready = httpx.get(f"{stack.base_url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text

    expected = rounds * logs_per_round * 3
    actions = wait_until(lambda: (a := all_actions(stack.base_url, {"userId": user})) and len(a) >= expected and a,
                         timeout=60, what=f"{expected} valid actions")
    assert len(actions) == expected == len({a["actionId"] for a in actions}), "each valid action stored once"
    assert {a["eventId"] for a in actions} == set(event_ids)

    def letters() -> dict[bytes, bytes]:
        found = {m.key(): dict(m.headers())["logstream.dlq.reason"]
                 for m in consume_all(stack.bootstrap, DLQ, expect=1_000_000, timeout=5)
                 if (m.key() or b"").startswith(marker.encode())}
        return found if len(found) >= foreign_count else {}

    by_key = wait_until(letters, timeout=60, what=f"{foreign_count} dead letters", interval=1)
    assert set(by_key) == {f"{marker}-{i}".encode() for i in range(foreign_count)}, "every foreign record, once"
    assert set(by_key.values()) <= {b"schema_violation", b"unparseable"}
    assert httpx.get(f"{stack.base_url}/readyz", timeout=10).status_code == 200
