"""docs/topics.md's examples, run as a reader would against `logstream up`, their output checked:
the confluent-kafka consumer, the Faust agent, `logstream tail`, and (where Debian's kcat is
installed) the kcat command for the embedded broker. Also the schemas through the front door."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from tests.fixtures import example
from tests.support import Stack, all_actions, wait_until

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "topics.md").read_text()


def snippet(name: str) -> str:
    found = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", DOC, re.S)
    assert found, f"no {name} example in docs/topics.md"
    return found.group(1)


def shell_commands(tool: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC, re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    return [" ".join(line.split()) for line in text.splitlines() if line.strip().startswith(tool)]


@pytest.fixture(scope="module")
def posted(stack: Stack) -> tuple[str, list[dict]]:
    """A log of a user of its own, stored; its actions as the query API answers them."""
    user = f"docs-{uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{stack.base_url}/v1/logs", json=example(userId=user), timeout=30)
    assert response.status_code == 202, response.text
    actions = wait_until(lambda: a if len(a := all_actions(stack.base_url, {"userId": user})) == 3 else None,
                         timeout=60, what="the log's 3 actions")
    return user, actions


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(args, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_confluent_kafka_example(stack: Stack, posted: tuple[str, list[dict]], tmp_path: Path) -> None:
    user, actions = posted
    (tmp_path / "consume.py").write_text(snippet("confluent"))
    started = time.monotonic()
    output = run([sys.executable, "consume.py"], {"KAFKA": stack.bootstrap}, tmp_path)
    mine = [line.split() for line in output.splitlines() if line.startswith(user + " ")]
    # in the log's order on the topic (the query API orders by time, then by arrival)
    assert [(line[3], line[4]) for line in mine] == [("CLICK", "2018-10-18T21:37:28-06:00"),
                                                     ("VIEW", "2018-10-18T21:37:30-06:00"),
                                                     ("NAVIGATE", "2018-10-18T21:37:30-06:00")]
    assert sorted((line[3], line[4]) for line in mine) == sorted((a["type"], a["time"]) for a in actions)
    assert time.monotonic() - started < 60, "the group join took the broker's default time"


def test_the_faust_agent_example(stack: Stack, posted: tuple[str, list[dict]], tmp_path: Path) -> None:
    user, actions = posted
    (tmp_path / "actions_agent.py").write_text(snippet("faust"))
    output = tmp_path / "agent.out"
    with output.open("w") as sink:
        process = subprocess.Popen([sys.executable, "actions_agent.py", "worker", "-l", "info"], cwd=tmp_path,
                                   env={**os.environ, "KAFKA": stack.bootstrap}, stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        def printed() -> list[str] | None:
            assert process.poll() is None, output.read_text()[-3000:]
            found = [line.split(f" {user} ", 1)[1] for line in output.read_text().splitlines() if f" {user} " in line]
            return found if len(found) >= 3 else None

        lines = wait_until(printed, timeout=90, what="the agent's lines", interval=0.5)
    finally:
        process.terminate()
        process.wait(timeout=30)
    mine = [line.split() for line in lines]  # the agent logs "<userId> <type> <actionId>"
    assert sorted((m[0], m[1]) for m in mine) == sorted((a["type"], a["actionId"]) for a in actions), lines[-20:]


def test_logstream_tail(stack: Stack, posted: tuple[str, list[dict]], tmp_path: Path) -> None:
    user, actions = posted
    env = {"LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap}
    tail = [sys.executable, "-m", "cli.main", "tail"]
    records = [orjson.loads(line) for line in run(
        [*tail, "actions", "--from-beginning", "--user", user, "--json", "--idle", "3"], env, tmp_path).splitlines()]
    assert {r["value"]["actionId"] for r in records} == {a["actionId"] for a in actions}
    for record in records:
        assert record["key"] == user and record["topic"] == "logstream.actions.v1"
        assert record["headers"]["logstream.schema"] == "logstream.actions/1"
        assert {k: record["value"][k] for k in actions[0]} in actions
    [raw] = [orjson.loads(line) for line in run(
        [*tail, "raw", "--from-beginning", "--user", user, "--type", "click", "--json", "--idle", "3"], env,
        tmp_path).splitlines()]
    assert raw["headers"]["logstream.route"] == "POST /v1/logs" and raw["value"]["userId"] == user
    text = run([*tail, "actions", "--from-beginning", "--user", user, "--type", "VIEW", "--idle", "3"], env, tmp_path)
    assert re.match(rf"logstream.actions.v1 partition=\d+ offset=\d+ key={user} content-type=application/json ", text)
    assert text.count("\n") == 2


def test_a_compatibility_write_names_its_route(stack: Stack, tmp_path: Path) -> None:
    user = f"compat-{uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{stack.base_url}/api/submitlogs", json=example(userId=user), timeout=60)
    assert response.status_code == 200, response.text
    [raw] = [orjson.loads(line) for line in run(
        [sys.executable, "-m", "cli.main", "tail", "raw", "--from-beginning", "--user", user, "--json", "--idle",
         "3"], {"LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap}, tmp_path).splitlines()]
    assert raw["headers"]["logstream.route"] == "POST /api/submitlogs"
    assert raw["headers"]["logstream.schema"] == "logstream.logs.raw/1"


def test_the_kcat_example_for_the_embedded_broker(stack: Stack, posted: tuple[str, list[dict]],
                                                  tmp_path: Path) -> None:
    assert shutil.which("kcat"), "kcat is not installed: apt-get install kcat (.ci/run does)"
    user, actions = posted
    [command] = [c for c in shell_commands("kcat") if "broker.version.fallback" in c]
    args = shlex.split(command.replace("127.0.0.1:9092", stack.bootstrap))
    output = run(args, {}, tmp_path, timeout=60)
    mine = [line for line in output.splitlines() if line.startswith(f"key={user} ")]
    assert {orjson.loads(line[line.index(" {") + 1:])["actionId"] for line in mine} == {a["actionId"] for a in actions}
    assert all("logstream.schema=logstream.actions/1" in line for line in mine)


def test_the_schemas_through_the_front_door(stack: Stack) -> None:
    listing = httpx.get(f"{stack.base_url}/v1/schemas", timeout=10).json()
    assert [s["name"] for s in listing["schemas"]] == ["logstream.actions.v1", "logstream.erasures.v1",
                                                       "logstream.logs.dlq.v1", "logstream.logs.raw.v1"]
    document = yaml.safe_load(httpx.get(f"{stack.base_url}/asyncapi.yaml", timeout=10).text)
    for channel in document["channels"].values():
        assert httpx.get(f"{stack.base_url}/v1/schemas/{channel['address']}", timeout=10).status_code == 200
