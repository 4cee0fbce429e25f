"""Deferred acks (stream/take.py): in batch order, and never past a batch that was not acked."""

from __future__ import annotations

import asyncio

from stream.take import ack_when_done


class Stream:
    def __init__(self) -> None:
        self.acked: list[int] = []

    async def ack(self, event: int) -> None:
        self.acked.append(event)


def test_a_batch_is_acked_after_its_feed_and_after_the_batch_before_it() -> None:
    async def scenario() -> None:
        stream, loop = Stream(), asyncio.get_running_loop()
        fed = loop.create_future()
        first = asyncio.ensure_future(ack_when_done(stream, [1, 2], fed, None))
        second = asyncio.ensure_future(ack_when_done(stream, [3], None, first))  # nothing of its own to feed
        await asyncio.sleep(0.01)
        assert stream.acked == []
        fed.set_result(None)
        assert await second is True and stream.acked == [1, 2, 3]

    asyncio.run(scenario())


def test_no_batch_is_acked_after_one_whose_feed_did_not_finish() -> None:
    async def scenario() -> None:
        stream, loop = Stream(), asyncio.get_running_loop()
        fed = loop.create_future()
        first = asyncio.ensure_future(ack_when_done(stream, [1], fed, None))
        second = asyncio.ensure_future(ack_when_done(stream, [2], None, first))
        fed.cancel()  # the worker stopped before the feed
        assert await first is False and await second is False and stream.acked == []

    asyncio.run(scenario())
