"""`logstream dlq list|show|redrive` against the real stack's dead-letter topic."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

from tests.fixtures import example
from tests.support import Stack, all_actions, produce_raw, wait_until

pytestmark = pytest.mark.also_on_apache_kafka


def dlq(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap}
    return subprocess.run([sys.executable, "-m", "cli.main", "dlq", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_list_show_and_redrive_a_fixed_letter_once(stack: Stack, tmp_path: Path) -> None:
    user = f"dlq-{uuid.uuid4()}"
    broken = example(userId=user)
    broken["actions"][0]["properties"].pop("locationX")
    huge = orjson.dumps({**example(userId=user), "padding": "x" * (1 << 20)})
    produce_raw(stack.bootstrap, "logstream.logs.raw.v1", [(user.encode(), orjson.dumps(broken)),
                                                           (user.encode(), huge)])

    def mine() -> list[dict]:
        listed = [orjson.loads(line) for line in dlq(stack, "list", "--json").stdout.splitlines()]
        return [entry for entry in listed if entry["bytes"] in (len(orjson.dumps(broken)), len(huge))]

    letters = wait_until(lambda: m if len(m := mine()) == 2 else None, timeout=30, what="two dead letters",
                         interval=1)
    reasons = {entry["reason"]: entry for entry in letters}
    assert set(reasons) == {"schema_violation", "too_large"}
    violation = reasons["schema_violation"]
    assert violation["errors"][0] == {"path": "actions[0].properties.locationX", "code": "missing_property",
                                      "message": "Field required"}
    assert violation["source"].startswith("logstream.logs.raw.v1/")

    shown = orjson.loads(dlq(stack, "show", violation["letter"]).stdout)
    assert shown["original"] == broken

    refused = dlq(stack, "redrive", violation["letter"])  # as it is: still invalid
    assert refused.returncode == 3 and "still invalid" in refused.stderr

    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(orjson.dumps(example(userId=user)))
    for _ in range(2):  # redriving twice stores nothing twice
        result = dlq(stack, "redrive", violation["letter"], "--value-file", str(fixed))
        assert result.returncode == 0, result.stderr
        assert "redrove 1 dead letter(s)" in result.stderr
    wait_until(lambda: len(all_actions(stack.base_url, {"userId": user})) >= 3, timeout=15, what="the fixed log")
    time.sleep(2)
    assert len(all_actions(stack.base_url, {"userId": user})) == 3
