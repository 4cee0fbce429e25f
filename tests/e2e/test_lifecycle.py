"""`logstream up` as a user runs it: Ctrl-C drains every accepted log into ClickHouse, leaves no
process behind, and the data is there after a restart; killing it leaves no orphans either."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.fixtures import example
from tests.support import Service, all_actions, free_port, stack_env, wait_until


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def start_up(workdir: Path, data: Path, **extra: str) -> tuple[Service, str]:
    port = free_port()
    env = stack_env(f"127.0.0.1:{free_port()}", data, LOGSTREAM_PORT=str(port),
                    LOGSTREAM_QUERY_PORT=str(free_port()), **extra)
    base = f"http://127.0.0.1:{port}"
    return Service(["up"], env, workdir, "up").start().wait_ready(f"{base}/readyz", timeout=90), base


@pytest.mark.parametrize("stream_process", [True, False], ids=["stream-process", "stream-in-query"])
def test_ctrl_c_drains_everything_accepted_and_the_data_survives_a_restart(tmp_path: Path,
                                                                           stream_process: bool) -> None:
    user = f"drain-{uuid.uuid4()}"
    layout = {"LOGSTREAM_UP_STREAM_PROCESS": str(stream_process).lower()}
    up, base = start_up(tmp_path, tmp_path / "data", **layout)
    children = children_of(up.process.pid)  # type: ignore[union-attr]
    assert len(children) == (4 if stream_process else 3)  # broker, query, [stream,] producer
    keyed = []
    for start in range(0, 300, 100):
        logs = [example(userId=user, sessionId=f"s{i}") for i in range(start, start + 100)]
        key = f"batch-{start}-{user}"
        response = httpx.post(f"{base}/v1/logs", content=orjson.dumps(logs), timeout=30,
                              headers={"content-type": "application/json", "Idempotency-Key": key})
        assert response.status_code == 202
        keyed.append((key, logs, response.json()))
    up.signal(signal.SIGINT)  # at once: most of it is still on its way to ClickHouse
    assert up.process.wait(timeout=120) == 0, up.log_tail()  # type: ignore[union-attr]
    assert [pid for pid in children if alive(pid)] == []
    assert "drained" in up.log_path.read_text()

    up, base = start_up(tmp_path, tmp_path / "data", **layout)  # a new, empty broker; the same ClickHouse data
    try:
        actions = all_actions(base, {"userId": user})
        assert len(actions) == 900 and len({a["actionId"] for a in actions}) == 900
        for key, logs, first in keyed:  # Idempotency-Keys survive the restart of every process
            retry = httpx.post(f"{base}/v1/logs", content=orjson.dumps(logs), timeout=30,
                               headers={"content-type": "application/json", "Idempotency-Key": key})
            assert retry.status_code == 202 and retry.json() == first
            assert retry.headers["idempotent-replayed"] == "true"
        assert len(all_actions(base, {"userId": user})) == 900
    finally:
        assert up.stop(120) == 0


def test_killing_up_leaves_no_orphan(tmp_path: Path) -> None:
    up, _ = start_up(tmp_path, tmp_path / "data")
    children = children_of(up.process.pid)  # type: ignore[union-attr]
    try:
        assert len(children) == 4  # broker, query, stream, producer
    finally:
        up.kill()  # a failed assertion must not leave the stack running
    wait_until(lambda: not [pid for pid in children if alive(pid)], timeout=30, what="the children to exit")


def command_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_killing_up_during_a_drain_that_cannot_finish_leaves_no_orphan(tmp_path: Path) -> None:
    up, base = start_up(tmp_path, tmp_path / "data")
    children = children_of(up.process.pid)  # type: ignore[union-attr]
    try:
        query = next(pid for pid in children if " query" in command_of(pid))
        os.kill(query, signal.SIGSTOP)  # the engine stops answering: the stream's inserts hang, retried
        logs = [example(userId=f"stuck-{i}") for i in range(100)]
        assert httpx.post(f"{base}/v1/logs", content=orjson.dumps(logs), timeout=30,
                          headers={"content-type": "application/json"}).status_code == 202
        up.signal(signal.SIGINT)  # the stream worker now drains, and cannot
        wait_until(lambda: "draining" in up.log_path.read_text() or "stopping stream" in up.log_path.read_text(),
                   timeout=30, what="the drain to begin")
    finally:
        up.kill()
    wait_until(lambda: not [pid for pid in children if alive(pid)], timeout=5, what="every child to exit")
    # and the next start finds its ports free
    again = Service(["up"], up.env, tmp_path, "up-again").start()
    try:
        again.wait_ready(f"{base}/readyz", timeout=90)
    finally:
        assert again.stop(120) == 0, again.log_tail()


def test_what_a_stop_could_not_drain_is_kept_and_stored_at_the_next_start(tmp_path: Path) -> None:
    user = f"spooled-{uuid.uuid4()}"
    up, base = start_up(tmp_path, tmp_path / "data")
    children = children_of(up.process.pid)  # type: ignore[union-attr]
    stream = next(pid for pid in children if " stream" in command_of(pid))
    try:
        os.kill(stream, signal.SIGSTOP)  # the worker takes nothing more: what is posted stays in the broker
        logs = [example(userId=user, sessionId=f"s{i}") for i in range(100)]
        accepted = httpx.post(f"{base}/v1/logs", content=orjson.dumps(logs), timeout=30,
                              headers={"content-type": "application/json"})
        assert accepted.status_code == 202
        os.kill(stream, signal.SIGKILL)  # and dies: `up` stops the rest
        assert up.process.wait(timeout=120) == 1, up.log_tail()  # type: ignore[union-attr]
    finally:
        if up.process.poll() is None:  # type: ignore[union-attr]
            up.kill()
    text = up.log_path.read_text()
    assert "100 accepted records were NOT stored before the stop" in text, up.log_tail()
    assert len(list((tmp_path / "data" / "spool").glob("raw-*.jsonl"))) == 1

    up, base = start_up(tmp_path, tmp_path / "data")  # in the same directory: the spool is found
    try:
        actions = wait_until(lambda: (a := all_actions(base, {"userId": user})) and len(a) >= 300 and a,
                             timeout=30, what="the 300 spooled actions")
        assert len(actions) == 300 == len({a["actionId"] for a in actions})
        assert {a["eventId"] for a in actions} == set(accepted.json()["eventIds"])
        assert list((tmp_path / "data" / "spool").glob("raw-*.jsonl")) == []
    finally:
        assert up.stop(120) == 0, up.log_tail()


def test_ingest_is_refused_before_the_embedded_broker_outgrows_its_bound(tmp_path: Path) -> None:
    user = f"bounded-{uuid.uuid4()}"
    limit_mb = 40  # the broker starts at about 34 MiB
    up, base = start_up(tmp_path, tmp_path / "data", LOGSTREAM_BROKER_MAX_RSS_MB=str(limit_mb))
    broker = next(pid for pid in children_of(up.process.pid) if "tansu" in command_of(pid))  # type: ignore[union-attr]
    event_ids: list[str] = []
    try:
        for request in range(200):  # ~3 KB a log that does not compress: the bound is crossed within ~5,000
            logs = [{"userId": user, "sessionId": f"s{request}",
                     "actions": [{"time": "2018-10-18T21:37:28Z", "type": "VIEW",
                                  "properties": {"viewedId": os.urandom(1500).hex()}}]} for _ in range(200)]
            response = httpx.post(f"{base}/v1/logs", content=orjson.dumps(logs), timeout=30,
                                  headers={"content-type": "application/json"})
            if response.status_code == 503:
                break
            assert response.status_code == 202, response.text
            event_ids += response.json()["eventIds"]
        else:
            pytest.fail("ingest was never refused")
        problem = response.json()
        assert problem["code"] == "broker_memory_full" and "Restart `logstream up`" in problem["detail"]
        assert response.headers["retry-after"] == "60"
        resident_mb = int(Path(f"/proc/{broker}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
        assert resident_mb < limit_mb + 16  # past the bound by at most what one second of requests adds
        actions = wait_until(lambda: (a := all_actions(base, {"userId": user})) and len(a) >= len(event_ids) and a,
                             timeout=60, what="every accepted log")
        assert sorted(a["eventId"] for a in actions) == sorted(event_ids), "every 202 stored once"
    finally:
        assert up.stop(120) == 0, up.log_tail()
