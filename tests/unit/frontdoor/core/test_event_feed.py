"""frontdoor/core/event_feed.py: the read-ahead every answer's events pass through.

Bounded (a slow reader stops the reading), waits with a time limit that lose nothing, a cut or
an end that drops what was not delivered, and a failing source that still ends its reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from frontdoor.core.event_feed import ReadAhead


class Source:
    """Yields 0, 1, 2, ... and records how far it was read; `gate` holds it before `hold_at`."""

    def __init__(self, count: int, hold_at: int = -1, fail_at: int = -1) -> None:
        self.count = count
        self.hold_at = hold_at
        self.fail_at = fail_at
        self.gate = asyncio.Event()
        self.read = 0
        self.reached_hold = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[int]:
        for n in range(self.count):
            if n == self.hold_at:
                self.reached_hold.set()
                await self.gate.wait()
            if n == self.fail_at:
                raise RuntimeError("broken stream")
            self.read = n + 1
            yield n


async def settle(feed: ReadAhead[int], buffered: int) -> None:
    """Let the pump run until `buffered` items are waiting (it never blocks on anything else)."""
    for _ in range(1000):
        if feed.buffered == buffered:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{feed.buffered} items buffered, not {buffered}")


async def test_items_arrive_in_order_then_the_end() -> None:
    feed = ReadAhead(Source(5))
    assert [await feed.next() for _ in range(5)] == [0, 1, 2, 3, 4]
    assert await feed.next() is None
    await feed.close()


async def test_the_bound_stops_the_reading_until_the_reader_takes_an_item() -> None:
    source = Source(100)
    feed = ReadAhead(source, size=4)
    await settle(feed, 4)
    for _ in range(50):
        await asyncio.sleep(0)
    assert source.read == 5  # the fifth is read and waits for room; no further
    assert await feed.next() == 0
    await settle(feed, 4)
    assert source.read == 6
    await feed.close()


async def test_a_wait_that_times_out_loses_nothing() -> None:
    source = Source(3, hold_at=1)
    feed = ReadAhead(source)
    assert await feed.next(1) == 0
    await source.reached_hold.wait()
    with pytest.raises(TimeoutError):
        await feed.next(0.01)
    source.gate.set()
    assert await feed.next(5) == 1
    assert await feed.next(5) == 2
    assert await feed.next(5) is None
    await feed.close()


async def test_a_zero_wait_still_delivers_what_is_already_read() -> None:
    feed = ReadAhead(Source(2))
    await settle(feed, 3)
    assert await feed.next(0) == 0
    assert await feed.next(-1) == 1
    assert await feed.next(0) is None
    await feed.close()


async def test_a_zero_wait_with_nothing_read_times_out_at_once() -> None:
    source = Source(2, hold_at=0)
    feed = ReadAhead(source)
    await source.reached_hold.wait()
    with pytest.raises(TimeoutError):
        await feed.next(0)
    await feed.close()


async def test_a_waiting_reader_is_woken_by_the_next_item() -> None:
    source = Source(2, hold_at=1)
    feed = ReadAhead(source)
    assert await feed.next() == 0
    waiting = asyncio.create_task(feed.next(10))
    await source.reached_hold.wait()
    assert not waiting.done()
    source.gate.set()
    assert await waiting == 1
    await feed.close()


async def test_a_cut_drops_what_was_not_delivered_and_ends_with_its_item() -> None:
    source = Source(10, hold_at=5)
    feed = ReadAhead(source)
    await source.reached_hold.wait()
    await settle(feed, 5)
    feed.cut(-1)
    assert await feed.next() == -1
    assert await feed.next() is None
    source.gate.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert feed.buffered == 0  # the reading stopped: nothing after the cut
    await feed.close()


async def test_an_end_wakes_a_waiting_reader() -> None:
    source = Source(2, hold_at=0)
    feed = ReadAhead(source)
    waiting = asyncio.create_task(feed.next())
    await source.reached_hold.wait()
    feed.end()
    assert await asyncio.wait_for(waiting, 5) is None
    await feed.close()


async def test_a_failing_source_ends_with_the_error_item() -> None:
    feed = ReadAhead(Source(5, fail_at=2), on_error=lambda exc: -len(str(exc)))
    assert [await feed.next() for _ in range(3)] == [0, 1, -len("broken stream")]
    assert await feed.next() is None
    await feed.close()


async def test_a_failing_source_without_on_error_just_ends() -> None:
    feed = ReadAhead(Source(5, fail_at=1))
    assert await feed.next() == 0
    assert await feed.next() is None
    await feed.close()


async def test_ready_takes_what_was_read_and_makes_room() -> None:
    source = Source(10)
    feed = ReadAhead(source, size=3)
    await settle(feed, 3)
    assert feed.ready() == [0, 1, 2]
    assert feed.buffered == 0
    await settle(feed, 3)  # the pump went on once there was room
    assert feed.ready() == [3, 4, 5]
    while (item := await feed.next()) is not None:
        assert item >= 6
    assert feed.ready() == []
    await feed.close()


async def test_ready_hands_over_the_end_marker_last() -> None:
    feed = ReadAhead(Source(2))
    await settle(feed, 3)
    assert feed.ready() == [0, 1, None]
    await feed.close()
