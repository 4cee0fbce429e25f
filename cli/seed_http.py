"""`logstream seed-data --via-http URL`: synthetic logs made in Python and sent through logstream's
Python client (logstream.client) to a running logstream, as clients would send them: validated,
published, streamed and stored like any other log, so slower than the default, which has ClickHouse
generate the rows in place. Deterministic for a seed; the same shape as the default's data (sessions of
a geometric length, users drawn by a power law each with a UTC offset among 8, 50% CLICK, 30% VIEW,
20% NAVIGATE), though not the same rows."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from logstream.client import Client, DeliveryError
from logstream.progress import Progress
from logstream.seed import MEAN_SESSION_ACTIONS, SeedPlan

OFFSETS = [timedelta(0), timedelta(hours=-6), timedelta(hours=-5), timedelta(hours=-8), timedelta(hours=1),
           timedelta(hours=2), timedelta(hours=5, minutes=30), timedelta(hours=9)]
PAGES = ["home", "search", "inventory", "communities", "profile", "settings", "cart", "checkout", "item", "feed"]
ACTIONS_PER_LOG = 5  # a client sends a session's actions a few at a time


def synthetic_logs(plan: SeedPlan) -> Iterator[dict[str, Any]]:
    """`plan.actions` actions in logs of up to ACTIONS_PER_LOG, every time before `plan.end`."""
    rng = random.Random(plan.seed)  # noqa: S311 (synthetic data, not secrets)
    left = plan.actions
    while left:
        user = int(rng.random() ** 2 * plan.users)
        zone = timezone(OFFSETS[user % len(OFFSETS)])
        length = min(left, 1 + int(rng.expovariate(1 / (MEAN_SESSION_ACTIONS - 1))))
        start = plan.end - timedelta(days=rng.random() * plan.days) - timedelta(seconds=20 * length + 20)
        session = f"{rng.getrandbits(64):016x}"
        actions = [action(rng, (start + timedelta(seconds=20 * i + rng.random() * 20)).astimezone(zone))
                   for i in range(length)]
        for i in range(0, length, ACTIONS_PER_LOG):
            yield {"userId": f"user-{user:08d}", "sessionId": session, "actions": actions[i:i + ACTIONS_PER_LOG]}
        left -= length


def action(rng: random.Random, moment: datetime) -> dict[str, Any]:
    draw = rng.random()
    if draw < 0.5:
        kind, properties = "CLICK", {"locationX": rng.randrange(1920), "locationY": rng.randrange(1080)}
    elif draw < 0.8:
        kind, properties = "VIEW", {"viewedId": f"item-{int(rng.random() ** 3 * 20000)}"}
    else:
        kind, properties = "NAVIGATE", {"pageFrom": rng.choice(PAGES), "pageTo": rng.choice(PAGES)}
    return {"time": moment.isoformat(timespec="milliseconds"), "type": kind, "properties": properties}


def seed_via_http(url: str, plan: SeedPlan, write_key: str | None) -> int:
    progress = Progress().counter(plan.actions, "sending actions")
    started, done = time.perf_counter(), 0
    with Client(url, write_key=write_key, batch_size=200) as client:
        try:
            batch: list[dict[str, Any]] = []
            for log in synthetic_logs(plan):
                batch.append(log)
                if len(batch) == 1000:
                    done += client.send(batch).actions
                    progress(done)
                    batch = []
            done += client.send(batch).actions if batch else 0
        except DeliveryError as exc:
            sys.stderr.write(f"logstream: {exc} ({done + exc.sent.actions:,} actions were stored before it)\n")
            return 1
    seconds = time.perf_counter() - started
    sys.stdout.write(f"sent {done:,} actions to {url} in {seconds:.1f} s ({done / seconds:,.0f}/s)\n")
    return 0
