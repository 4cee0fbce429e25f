"""The ceiling of the stream worker: a Faust agent that does nothing with `take(1000)` batches.

Run as `python -m bench.empty_agent BOOTSTRAP TOPIC GROUP COUNT`; prints one JSON line
with the records it consumed, the seconds from its first batch to its last, and the CPU seconds the
process used meanwhile."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

import faust
import orjson


def main() -> None:
    bootstrap, topic_name, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    app = faust.App(group, broker=f"kafka://{bootstrap}", value_serializer="raw", key_serializer="raw",
                    web_enabled=False, consumer_auto_offset_reset="earliest", broker_session_timeout=6,
                    datadir=tempfile.mkdtemp(prefix="logstream-empty-agent-"),
                    broker_heartbeat_interval=1, broker_rebalance_timeout=6, topic_allow_declare=False)
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes)
    seen = {"records": 0, "first": 0.0, "last": 0.0, "first_cpu": 0.0, "last_cpu": 0.0}
    done = asyncio.Event()

    @app.agent(topic)
    async def nothing(stream: faust.StreamT[bytes]) -> None:
        async for values in stream.take(1000, within=0.2):
            if not seen["records"]:
                seen["first"], seen["first_cpu"] = time.time(), time.process_time()
            seen["records"] += len(values)
            seen["last"], seen["last_cpu"] = time.time(), time.process_time()
            if seen["records"] >= count:
                done.set()

    async def run() -> None:
        await app.start()
        try:
            await asyncio.wait_for(done.wait(), timeout=600)
        finally:
            await app.stop()

    asyncio.run(run())
    print(orjson.dumps(seen).decode())  # noqa: T201


if __name__ == "__main__":
    main()
