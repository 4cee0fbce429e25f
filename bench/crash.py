"""`logstream bench crash`: what a kill -9 of the whole embedded stack loses, with and without the
archive. Logs are posted at a steady rate; mid-way `logstream up` is SIGKILLed (its children die
with it: the parent-death signal). Then the chDB directory is opened and every eventId answered 202
is looked up among the stored actions and the archive: a 202 found in neither is lost. The memory-
only broker took those records with it; the window is what the stream had not yet written.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import clickhouse_connect
import httpx
import orjson

from bench.common import say
from bench.stack import Stack

DESCRIPTION = "crash: logs answered 202 and lost when the whole embedded stack is killed -9, archive on and off"
EVENT_IDS = "SELECT DISTINCT toString(event_id) FROM {table:Identifier} WHERE event_id IS NOT NULL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=int, default=1000, help="logs per second posted (half the sustained rate)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long logs are posted before the kill")
    parser.add_argument("--batch", type=int, default=50, help="logs per request")


def log_document(user: str, index: int) -> dict:
    return {"userId": user, "sessionId": f"s{index % 97}", "actions": [
        {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": index, "locationY": 1}},
        {"time": "2018-10-18T21:37:30-06:00", "type": "VIEW", "properties": {"viewedId": f"item-{index}"}}]}


def post_then_kill(stack: Stack, rate: int, seconds: float, batch: int) -> list[str]:
    """Posts `rate` logs/s in requests of `batch` for `seconds`, then SIGKILLs `up`; the eventIds answered 202."""
    accepted: list[str] = []
    user = f"crash-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        sent = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            if sent >= due:
                time.sleep(min(0.005, batch / rate))
                continue
            body = orjson.dumps([log_document(user, sent + i) for i in range(batch)])
            response = client.post("/v1/logs", content=body, headers={"content-type": "application/json"})
            if response.status_code == 202:
                accepted += response.json()["eventIds"]
            sent += batch
    assert stack.process is not None
    stack.process.kill()  # SIGKILL: no drain, no spool; the children get SIGKILL from the kernel
    stack.process.wait()
    stack.process = None
    time.sleep(2)  # the children's deaths and chDB's lock
    return accepted


def found(workdir: Path, archive: bool) -> set[str]:
    client = clickhouse_connect.get_client(dsn=f"chdb://{workdir / 'clickhouse'}", database="logstream")
    try:
        tables = ["actions", "raw_events"] if archive else ["actions"]
        return {row[0] for table in tables
                for row in client.query(EVENT_IDS, parameters={"table": table}).result_rows}
    finally:
        client.close()


def run(args: argparse.Namespace) -> int:
    results = {}
    for archive in (True, False):
        workdir = Path(tempfile.mkdtemp(prefix="logstream-crash-"))
        say(f"archive {'on' if archive else 'off'}: posting {args.rate} logs/s for {args.seconds:g} s, then kill -9")
        os.environ["LOGSTREAM_ARCHIVE_ENABLED"] = str(archive).lower()
        with Stack(workdir) as stack:
            accepted = post_then_kill(stack, args.rate, args.seconds, args.batch)
        kept = found(workdir, archive)
        lost = [event for event in accepted if event not in kept]
        results["on" if archive else "off"] = (len(accepted), len(lost))
        say(f"  {len(accepted):,} logs answered 202; {len(lost):,} neither stored nor archived "
            f"= {len(lost) / args.rate:.2f} s of traffic")
    print(orjson.dumps({"rate": args.rate, "seconds": args.seconds, **{
        f"archive_{k}": {"accepted": a, "lost": lost, "lost_seconds": round(lost / args.rate, 3)}
        for k, (a, lost) in results.items()}}, option=orjson.OPT_INDENT_2).decode())
    return 0
