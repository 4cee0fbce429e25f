"""POST /v1/erasures through `logstream up`: a user with actions over many days, sessions and rollups
is erased while other users' logs keep arriving; afterwards no read path shows anything of them
(v1, stats, sessions, export, each service's compat read), their later logs are dropped (and never
reach the per-action topic), a replay into a fresh database leaves them out, and every other user's
figures are what they would be without them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from logstream.clickhouse import embedded_http_dsn
from logstream.settings import KafkaSettings
from tests.support import Stack, all_actions, produce_raw, wait_until

START = datetime(2021, 6, 3, 9, 30, tzinfo=UTC)  # a range no other test writes to
RANGE = {"from": "2021-06-01T00:00:00Z", "to": "2021-07-01T00:00:00Z"}


def log(user: str, session: str, at: datetime, kinds: tuple[str, ...] = ("CLICK", "VIEW", "NAVIGATE")) -> dict:
    properties = {"CLICK": {"locationX": 1, "locationY": 2}, "VIEW": {"viewedId": f"item-{user}"},
                  "NAVIGATE": {"pageFrom": "home", "pageTo": f"page-{user}"}}
    return {"userId": user, "sessionId": session, "actions": [
        {"time": (at + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"), "type": kind,
         "properties": properties[kind]} for i, kind in enumerate(kinds)]}


def post_visible(base: str, logs: list[dict]) -> dict:
    """Posted with wait=visible; on a loaded machine that may answer 504 (accepted, not yet queryable):
    then the test waits for each user's actions itself."""
    response = httpx.post(f"{base}/v1/logs", params={"wait": "visible"}, json=logs, timeout=30)
    if response.status_code == 504 and response.json()["code"] == "not_visible":
        ids = set(response.json()["eventIds"])
        for user in {entry["userId"] for entry in logs}:
            wait_until(lambda u=user: ids & {a["eventId"] for a in all_actions(base, {"userId": u})}, timeout=120,
                       what=f"{user}'s logs queryable")
        wait_until(lambda: ids <= {a["eventId"] for u in {e["userId"] for e in logs}
                                   for a in all_actions(base, {"userId": u})}, timeout=120, what="every log queryable")
        return response.json()
    assert response.status_code == 202, response.text
    return response.json()


def get(base: str, path: str, **params: Any) -> Any:
    response = httpx.get(f"{base}{path}", params=params, timeout=30)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def compat_reads(base: str, user: str) -> dict[str, Any]:
    """Each old service's read of one user's logs (its own query names)."""
    return {"000": get(base, "/api/v1/retrieve", userId=user)["logs"],
            "001": get(base, "/api/retrievelogs", userId=user),
            "002": get(base, "/log", userId=user)["result"],
            "003": get(base, "/logs/", userId=user),
            "004": get(base, "/logs/", user=user)}


def figures(base: str) -> dict[str, Any]:
    return {"summary": get(base, "/v1/stats/summary", **RANGE),
            "top_pages": get(base, "/v1/stats/top", dimension="pageTo", limit=50, **RANGE)["items"],
            "series": get(base, "/v1/stats/timeseries", interval="day", **RANGE)["buckets"]}


def erase(base: str, user: str) -> dict:
    response = httpx.post(f"{base}/v1/erasures", json={"userId": user}, timeout=30)
    assert response.status_code == 202, response.text
    status = response.json()["status"]
    assert response.headers["Location"] == status
    return wait_until(lambda: (body := get(base, status))["state"] == "done" and body, timeout=180,
                      what=f"erasure of {user} done", interval=0.2)


def suppressed(base: str) -> float:
    """logstream_stream_logs_suppressed_total, summed over the stack's processes."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("logstream_stream_logs_suppressed_total"))


def action_event_ids(bootstrap: str, topic: str) -> set[str]:
    """The eventIds of every record of the per-action topic, read to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    found, at_end = set(), set()
    try:
        while len(at_end) < len(partitions):
            for message in consumer.consume(1000, 5.0) or [None]:
                if message is None:
                    return found
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())
                    continue
                found.add(orjson.loads(message.value())["eventId"])
    finally:
        consumer.close()
    return found


@pytest.mark.also_on_apache_kafka
def test_an_erased_user_leaves_every_read_the_archive_and_replay_while_ingestion_goes_on(stack: Stack) -> None:
    base, run = stack.base_url, uuid.uuid4().hex[:8]
    victim, others = f"victim-{run}", [f"other-{run}-{n}" for n in range(3)]
    victim_logs = [log(victim, f"{victim}-s{day % 3}", START + timedelta(days=day, hours=day)) for day in range(12)]
    other_logs = [log(user, f"{user}-s", START + timedelta(days=day, minutes=7))
                  for day in range(12) for user in others]
    post_visible(base, other_logs)
    # the views fill the rollups just after the insert makes the actions queryable
    without_victim = wait_until(lambda: (f := figures(base))["summary"]["total"] == 3 * len(other_logs) and f,
                                timeout=60, what="the rollups to count every action")
    post_visible(base, victim_logs)

    assert len(all_actions(base, {"userId": victim})) == 36
    wait_until(lambda: get(base, f"/v1/users/{victim}/sessions", **RANGE)["sessions"], timeout=60,
               what="the victim's sessions (a rollup)")
    assert all(compat_reads(base, victim).values()), "each compat read shows the user before the erasure"
    wait_until(lambda: figures(base) != without_victim, timeout=60, what="the victim in the figures")

    during: list[dict] = []
    stop = threading.Event()

    def keep_ingesting() -> None:  # other users' logs, at a later day of the range, while the erasure runs
        while not stop.is_set():
            batch = [log(f"late-{run}", f"late-{run}-s", START + timedelta(days=20, seconds=len(during) * 10))]
            post_visible(base, batch)
            during.extend(batch)

    ingesting = threading.Thread(target=keep_ingesting)
    ingesting.start()
    try:
        done = erase(base, victim)
    finally:
        stop.set()
        ingesting.join()
    assert done["actionsErased"] == 36 and done["userId"] == victim
    # the producer refuses the user's logs once it has re-read the list (LOGSTREAM_ERASED_USERS=refuse);
    # what it accepted before that, and what another producer writes to the raw topic, the stream drops
    late_events: list[str] = []

    def refused() -> bool:
        answer = httpx.post(f"{base}/v1/logs", json=log(victim, f"{victim}-after", START + timedelta(days=5)),
                            timeout=30)
        if answer.status_code == 202:
            late_events.append(answer.json()["eventIds"][0])
            return False
        assert (answer.status_code, answer.json()["code"]) == (422, "user_erased"), answer.text
        return True

    wait_until(refused, timeout=60, what="the producer refusing the erased user's logs", interval=1)
    foreign = {**log(victim, f"{victim}-foreign", START + timedelta(days=6)), "eventId": str(uuid.uuid4())}
    late_events.append(foreign["eventId"])
    dropped = suppressed(base)
    produce_raw(stack.bootstrap, KafkaSettings().raw_topic, [(victim.encode(), orjson.dumps(foreign))])
    wait_until(lambda: suppressed(base) > dropped, timeout=60, what="the stream dropping the foreign record")
    post_visible(base, [log(others[0], f"{others[0]}-after", START + timedelta(days=25))])

    assert all_actions(base, {"userId": victim}) == []
    assert get(base, f"/v1/users/{victim}/sessions", **RANGE)["sessions"] == []
    assert httpx.get(f"{base}/v1/sessions/{victim}-s0", timeout=30).status_code == 404
    assert get(base, "/v1/stats/summary", userId=victim)["total"] == 0
    exported = httpx.get(f"{base}/v1/actions/export", params=RANGE, timeout=60).content.splitlines()
    assert not [line for line in exported if victim.encode() in line]
    assert compat_reads(base, victim) == {"000": [], "001": [], "002": [], "003": [], "004": []}
    top_users = get(base, "/v1/stats/top", dimension="userId", limit=1000, **RANGE)["items"]
    assert victim not in {item["value"] for item in top_users}
    assert not set(late_events) & action_event_ids(stack.bootstrap, KafkaSettings().actions_topic)

    # every other figure: as before the victim's logs, plus what arrived during the erasure and after
    assert during, "logs kept arriving while the erasure ran"
    added = {(START + timedelta(days=20)).date(): len(during), (START + timedelta(days=25)).date(): 1}  # logs/day
    expected = without_victim
    expected["summary"]["total"] += 3 * sum(added.values())
    expected["summary"]["uniqueUsers"] += 1  # late-{run}
    expected["summary"]["uniqueSessions"] += 2
    expected["summary"]["lastTime"] = max(expected["summary"]["lastTime"], "2021-06-28T09:30:02Z")
    for kind in ("CLICK", "VIEW", "NAVIGATE"):
        expected["summary"]["byType"][kind] += sum(added.values())
    pages = {i["value"]: i["count"] for i in expected["top_pages"]}
    pages[f"page-late-{run}"] = len(during)
    pages[f"page-{others[0]}"] += 1
    expected["top_pages"] = [{"value": v, "count": n} for v, n in sorted(pages.items(), key=lambda p: (-p[1], p[0]))]
    for bucket in expected["series"]:
        logs_that_day = added.get(datetime.fromisoformat(bucket["start"]).date(), 0)
        bucket["total"] += 3 * logs_that_day
        bucket["byType"] = {kind: n + logs_that_day for kind, n in bucket["byType"].items()}
    wait_until(lambda: figures(base) == expected, timeout=60, what="every other figure as without the victim")

    # a replay of the archive into a fresh database leaves the user out too
    env = {**os.environ, "LOGSTREAM_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap, "LOGSTREAM_LOG_LEVEL": "WARNING",
           "LOGSTREAM_CLICKHOUSE_DSN": embedded_http_dsn(stack.query_url, stack.internal_key)}
    replayed = subprocess.run([sys.executable, "-m", "cli.main", "replay", "--into", f"erased_{run}"], env=env,
                              capture_output=True, text=True, timeout=300)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    engine = httpx.post(f"{stack.query_url}/clickhouse/", params={"database": f"erased_{run}"}, timeout=30,
                        auth=("logstream", stack.internal_key),
                        content=f"SELECT countIf(user_id = '{victim}'), countIf(user_id LIKE 'other-{run}-%') "
                                "FROM actions FORMAT TSV")
    assert engine.status_code == 200, engine.text
    assert engine.text.split() == ["0", str(3 * len(other_logs) + 3)]
    # the victim's id left id_numbers (the others' stayed)
    numbered = httpx.post(f"{stack.query_url}/clickhouse/", params={"database": "logstream"}, timeout=30,
                          auth=("logstream", stack.internal_key),
                          content=f"SELECT countIf(id = '{victim}'), countIf(id LIKE 'other-{run}-%') "
                                  "FROM id_numbers WHERE kind = 'user' FORMAT TSV")
    assert numbered.status_code == 200, numbered.text
    victim_rows, other_rows = map(int, numbered.text.split())
    assert victim_rows == 0 and other_rows > 0


@pytest.mark.also_on_apache_kafka
def test_erasing_an_unknown_user_or_one_twice_completes(stack: Stack) -> None:
    base = stack.base_url
    unknown = erase(base, f"nobody-{uuid.uuid4().hex}")
    assert (unknown["state"], unknown["actionsErased"]) == ("done", 0)
    user = f"twice-{uuid.uuid4().hex[:8]}"
    post_visible(base, [log(user, f"{user}-s", START + timedelta(days=2))])
    first, second = erase(base, user), erase(base, user)
    assert (first["actionsErased"], second["actionsErased"]) == (3, 0)
    assert httpx.get(f"{base}/v1/erasures/{uuid.uuid4()}", timeout=10).status_code == 404
    refused = httpx.post(f"{base}/v1/erasures", json={"user": "x"}, timeout=10)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_erasure"
