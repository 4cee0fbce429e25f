"""Batches as soon as nothing more is buffered: Faust's `Stream.take_events`, but flushed when the
stream's queue runs dry instead of when a fixed window ends.

Faust's `take_events(n, within=t)` hands over a partial batch only when `t` has passed, so on a quiet
topic every record waited up to `t` (0.2 s) for nothing. Here a batch is handed over once the
consumer has delivered every record it holds (the queue is empty after the consumer had a turn of
the event loop), or at `max_` records. Under load batches stay large on their own: while one is
stored, the queue fills up, and the next batch takes all of it. `within` still bounds the wait of a
partial batch if records trickle in without the queue ever running dry.

It follows `take_events`' own protocol (a processor fills the buffer, the stream is drained passively,
acks only after the batch was processed); Faust offers no hook for the flush condition.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from faust.types import EventT

DRY_TURNS = 3  # turns of the event loop the consumer gets to refill a queue that ran dry


async def delivers_more(queue: Any) -> bool:
    """Whether the consumer, given a few turns of the event loop, puts more records in the queue (it
    delivers a fetched batch record by record, so the queue may run dry between two of them)."""
    for _ in range(DRY_TURNS):
        await asyncio.sleep(0)
        if not queue.empty():
            return True
    return False


async def ack_when_done(stream: Any, batch: list[EventT], pending: asyncio.Future[None] | None,
                        previous: asyncio.Future[bool] | None) -> bool:
    """Ack `batch` once `pending` succeeded and the batch before it was acked (Faust may commit past
    an unacked offset if a later one is acked first); never, if `pending` fails or is cancelled (the
    worker is stopping), nor when the batch before it was not: their offsets are then not committed
    and Kafka delivers them again. Whether `batch` was acked."""
    try:
        if previous is not None and not await asyncio.shield(previous):
            return False
        if pending is not None:
            await asyncio.shield(pending)
        for event in batch:
            await stream.ack(event)
    except BaseException:  # stopping: an unacked batch is delivered again, and the sink's dedup takes it
        return False
    return True


async def take_buffered(stream: Any, max_: int, within: float,
                        ack_after: dict[int, asyncio.Future[None]] | None = None) -> AsyncIterator[list[EventT]]:
    """With `ack_after`: a batch whose id the consumer put there (while the batch was its) is acked
    only once that future is done, while the next batch is taken."""
    events: list[EventT] = []
    ready = asyncio.Event()  # the batch is full, or the queue ran dry
    consumed = asyncio.Event()
    consuming: asyncio.Future[None] | None = None
    queue = stream.channel.queue
    enable_acks = stream.enable_acks
    last_ack: asyncio.Task[bool] | None = None  # the latest deferred ack: later acks wait for it

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        if consuming is not None:  # a batch is being processed: hold the next record until it is done
            try:
                await consuming
            finally:
                consuming = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_buffered found no current event")
        events.append(event)
        if len(events) >= max_:
            ready.set()
            consumed.clear()
            await stream.wait(consumed)  # never more than max_ in one batch
        elif queue.empty():
            ready.set()
        return value

    stream.enable_acks = False  # acked below, once the batch is processed
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(ready, timeout=within)
            if not events:
                ready.clear()
                continue
            if len(events) < max_ and await delivers_more(queue):
                ready.clear()
                if len(events) < max_:
                    await stream.wait_for_stopped(ready, timeout=within)
            consuming = asyncio.get_running_loop().create_future()
            batch = list(events)
            try:
                yield batch
            finally:
                events.clear()
                pending = ack_after.pop(id(batch), None) if ack_after is not None else None
                if last_ack is not None and last_ack.done():
                    last_ack = None
                if pending is None and last_ack is None:
                    for event in batch:
                        await stream.ack(event)
                else:
                    last_ack = asyncio.ensure_future(ack_when_done(stream, batch, pending, last_ack))
                if not consuming.done():
                    consuming.set_result(None)
                ready.clear()
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
