"""controller/scheduling/request_run.py: an attempt's Run goes out before `started` goes back.

Passing `started` on waits for its write to the frontdoor (a loop pass or more while a burst
arrives), and the worker's call used to wait behind it. A fake worker client (the pool's gRPC
channels are never called) records when its Run is made and when it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest

from common.paths import StatePaths
from common.workers import WorkerSpec
from controller.config import ControllerConfig
from controller.events.bus import EventBus
from controller.scheduling.ratelimit import DEFAULT_LIMITS
from controller.scheduling.request_run import RequestRun
from controller.scheduling.scheduler import Scheduler
from controller.workers.client import WorkerClient, WorkerUnavailable
from controller.workers.pool import WorkerPool
from protos import common_pb2 as pb

ANSWER = [
    pb.Event(text=pb.TextDelta(text="hello")),
    pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="m")),
]


class FakeClient:
    """A worker's client: `made` once its Run is made, `ended` once that Run is over."""

    def __init__(self, events: list[pb.Event], fail: bool = False, hang: bool = False) -> None:
        self.events = events
        self.fail = fail
        self.hang = hang
        self.made = 0
        self.ended = asyncio.Event()

    async def run(
        self,
        request: pb.ChatRequest,
        attempt: int,
        conversation_key: str = "",
        opened_at: float = 0.0,
    ) -> AsyncIterator[pb.Event]:
        self.made += 1
        try:
            if self.fail:
                raise WorkerUnavailable("worker stream failed: UNAVAILABLE")
            if self.hang:
                await asyncio.Event().wait()  # a worker still thinking
            for event in self.events:
                yield event
        finally:
            self.ended.set()


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[StatePaths]:
    yield StatePaths(tmp_path)


async def scheduler_with(paths: StatePaths, clients: dict[str, FakeClient]) -> Scheduler:
    specs = tuple(WorkerSpec(name=name, mode="api", max_concurrent=4) for name in clients)
    config = ControllerConfig(
        paths=paths,
        workers=specs,
        max_concurrent=10,
        max_queue_total=100,
        max_queue_per_source=20,
        queue_timeout_ms=5_000,
        primary_worker=specs[0].name,
        health_interval_ms=1_000,
        rate_limits=dict(DEFAULT_LIMITS),
        overflow_to_api=False,
        affinity_ttl_s=1800.0,
        max_attempts=3,
    )
    pool = WorkerPool(specs, paths)
    for name, handle in pool.handles.items():
        handle.up = handle.seen_up = True
        handle.client = cast(WorkerClient, clients[name])
    return Scheduler(config, pool, EventBus(ring_size=100))


def chat(request_id: str) -> pb.ChatRequest:
    message = pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hi")])
    return pb.ChatRequest(request_id=request_id, model="sonnet", messages=[message], stream=True)


async def test_the_run_is_made_before_started_is_passed_on(paths: StatePaths) -> None:
    worker = FakeClient(ANSWER)
    scheduler = await scheduler_with(paths, {"1": worker})
    events = RequestRun(scheduler, chat("r1")).events()

    first = await anext(events)

    assert first.WhichOneof("kind") == "started"
    assert worker.made == 1  # the upstream call did not wait for `started` to be written
    rest = [event async for event in events]
    assert [e.text.text for e in rest if e.HasField("text")] == ["hello"]
    assert scheduler.in_flight == 0


async def test_a_client_gone_at_started_ends_the_run_it_made(paths: StatePaths) -> None:
    worker = FakeClient(ANSWER, hang=True)
    scheduler = await scheduler_with(paths, {"1": worker})
    events = cast(AsyncGenerator[pb.Event, None], RequestRun(scheduler, chat("r2")).events())

    assert (await anext(events)).WhichOneof("kind") == "started"
    await events.aclose()

    await asyncio.wait_for(worker.ended.wait(), 5)  # the Run was cancelled, not left running
    assert scheduler.in_flight == 0


async def test_a_run_that_fails_at_once_is_still_retried_elsewhere(paths: StatePaths) -> None:
    broken, healthy = FakeClient([], fail=True), FakeClient(ANSWER)
    scheduler = await scheduler_with(paths, {"1": broken, "2": healthy})

    events = [event async for event in RequestRun(scheduler, chat("r3")).events()]

    assert [e.started.worker for e in events if e.HasField("started")] == ["1", "2"]
    assert [e.text.text for e in events if e.HasField("text")] == ["hello"]
    assert not any(e.HasField("error") for e in events)
    assert scheduler.in_flight == 0
