"""Cost of the controller's fair queue per waiting request, at 10 and at 1,000 queued."""

from __future__ import annotations

import asyncio
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.report import write_result
from common.paths import StatePaths
from common.workers import WorkerSpec
from controller.config import ControllerConfig
from controller.events.bus import EventBus
from controller.scheduling.ratelimit import DEFAULT_LIMITS, Limit
from controller.scheduling.scheduler import Lease, Scheduler, Waiter
from controller.workers.pool import WorkerPool
from protos import common_pb2 as pb

SOURCES = 20


def _config(paths: StatePaths, workers: tuple[WorkerSpec, ...]) -> ControllerConfig:
    return ControllerConfig(
        paths=paths,
        workers=workers,
        max_concurrent=2,
        max_queue_total=100_000,
        max_queue_per_source=100_000,
        queue_timeout_ms=600_000,
        primary_worker="1",
        health_interval_ms=1000,
        rate_limits={family: Limit(10**9, 10**12) for family in DEFAULT_LIMITS},
        overflow_to_api=False,
        affinity_ttl_s=1800,
        max_attempts=3,
    )


async def _measure(queued: int) -> dict[str, float]:
    """Fill the queue behind two busy slots, then drain it; time and memory per request."""
    paths = StatePaths(Path(tempfile.mkdtemp(prefix="ccp-bench-")))
    workers = tuple(WorkerSpec(name=str(n), mode="cli", max_concurrent=1) for n in (1, 2))
    pool = WorkerPool(workers, paths)
    for handle in pool.handles.values():
        handle.up = handle.seen_up = True
    scheduler = Scheduler(_config(paths, workers), pool, EventBus(ring_size=10))
    holders = [await scheduler.admit(_waiter(f"hold{n}", "holder")) for n in range(2)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.process_time()
    tasks = [
        asyncio.ensure_future(scheduler.admit(_waiter(f"r{n}", f"s{n % SOURCES}")))
        for n in range(queued)
    ]
    await asyncio.sleep(0)  # every admit runs up to its wait in the queue
    assert len(scheduler.queue) == queued
    enqueue_cpu = time.process_time() - started
    memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    started = time.process_time()
    for held in holders:
        scheduler.release(held, None)
    for task in tasks:
        lease: Lease = await task
        scheduler.release(lease, None)
    drain_cpu = time.process_time() - started
    await pool.close()
    return {
        "queued": queued,
        "bytes_per_request": memory / queued,
        "enqueue_us_per_request": enqueue_cpu / queued * 1e6,
        "dispatch_us_per_request": drain_cpu / queued * 1e6,
    }


def _waiter(request_id: str, source: str) -> Waiter:
    request = pb.ChatRequest(request_id=request_id, model="sonnet", source=source)
    request.messages.add(role=pb.ROLE_USER).content.add(text="hello " * 20)
    return Waiter(request, key=f"k-{request_id}", tokens=30)


def main() -> None:
    small = asyncio.run(_measure(10))
    large = asyncio.run(_measure(1000))

    def ratio(key: str) -> str:
        return f"{large[key] / max(small[key], 1e-9):.1f}x"

    write_result(
        "queue_cost",
        {"at_10": small, "at_1000": large},
        [
            (
                "memory per queued request, 1,000 queued",
                f"{large['bytes_per_request'] / 1024:.1f} KiB",
            ),
            (
                "CPU to enqueue one request, 1,000 queued",
                f"{large['enqueue_us_per_request']:.0f} µs",
            ),
            (
                "CPU to dispatch one request, 1,000 queued",
                f"{large['dispatch_us_per_request']:.0f} µs",
            ),
            ("enqueue cost, 1,000 vs 10 queued", ratio("enqueue_us_per_request")),
            ("dispatch cost, 1,000 vs 10 queued", ratio("dispatch_us_per_request")),
        ],
    )


if __name__ == "__main__":
    main()
