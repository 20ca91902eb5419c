"""controller/events/bus.py: subscribers read shared feeds (an event is appended once, however
many read it), a slow one loses the oldest, and an event's wire form is built once."""

from __future__ import annotations

import asyncio
import json

import pytest

from controller.events.bus import SUBSCRIBER_BUFFER, EventBus
from controller.events.kinds import Chunk, RequestArrived


def arrived(n: int) -> RequestArrived:
    return RequestArrived.from_json({"request_id": f"r{n}"})


async def test_every_subscriber_reads_every_event_in_order() -> None:
    bus = EventBus()
    readers = [bus.subscribe() for _ in range(100)]
    emitted = [bus.emit(arrived(n)).id for n in range(5)]
    for reader in readers:
        assert [reader.get_nowait().id for _ in emitted] == emitted
        assert reader.empty()
        with pytest.raises(asyncio.QueueEmpty):
            reader.get_nowait()


async def test_a_waiting_subscriber_wakes_for_the_next_event() -> None:
    bus = EventBus()
    readers = [bus.subscribe() for _ in range(3)]
    waiting = [asyncio.create_task(reader.get()) for reader in readers]
    await asyncio.sleep(0)  # each is now waiting
    assert not any(task.done() for task in waiting)
    event = bus.emit(arrived(1))
    assert await asyncio.gather(*waiting) == [event, event, event]


async def test_a_cancelled_wait_leaves_the_others_waiting() -> None:
    bus = EventBus()
    gone, staying = bus.subscribe(), bus.subscribe()
    cancelled = asyncio.create_task(gone.get())
    waiting = asyncio.create_task(staying.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    event = bus.emit(arrived(1))
    assert await asyncio.wait_for(waiting, 1) is event


async def test_a_slow_subscriber_loses_the_oldest_and_counts_them() -> None:
    bus = EventBus()
    slow = bus.subscribe()
    ids = [bus.emit(arrived(n)).id for n in range(SUBSCRIBER_BUFFER + 5)]
    assert slow.get_nowait().id == ids[5]
    assert slow.missed == 5
    fresh = bus.subscribe()  # starts after what was emitted before it
    assert fresh.empty()


async def test_live_only_events_take_no_room_from_plain_subscribers() -> None:
    bus = EventBus()
    plain, live = bus.subscribe(), bus.subscribe(live=True)
    for n in range(SUBSCRIBER_BUFFER * 2):
        bus.publish_live(Chunk.from_json({"text": str(n)}))
    event = bus.emit(arrived(1))
    assert plain.get_nowait() is event and plain.missed == 0
    assert live.get_nowait().type == "chunk" and live.missed == SUBSCRIBER_BUFFER + 1


async def test_unsubscribing_counts_a_reader_out_once() -> None:
    bus = EventBus()
    first, second = bus.subscribe(live=True), bus.subscribe(live=True)
    bus.unsubscribe(first)
    bus.unsubscribe(first)
    assert bus.wants_live and bus.subscribers == 1
    bus.unsubscribe(second)
    assert not bus.wants_live and bus.subscribers == 0
    bus.publish_live(Chunk.from_json({"text": "nobody"}))  # built for nobody: dropped
    again = bus.subscribe(live=True)
    event = bus.emit(arrived(1))
    assert again.get_nowait() is event


def test_an_event_is_put_on_the_wire_once() -> None:
    event = EventBus().emit(arrived(1))
    assert event.proto is event.proto
    assert (event.proto.id, event.proto.type) == (event.id, "request")
    assert json.loads(event.proto.data_json) == event.data
