"""The controller's own CPU per request, measured in one process over fake workerds.

`python -m bench.controller_cpu` assembles the controller as `controller.server.serve` does
(EventBus with the accounting and live-stats sinks, the real SQLite writer, scheduler ticks,
quota store, health polling) over in-process fake workerds (real `Worker` gRPC servers on unix
sockets, tests/middle/inprocess.py) that answer every run like an api worker's non-streaming
answer. It then drives requests closed-loop and reports `time.process_time()` per request (all
threads, the database writer's included):

    baseline   the fake workerd hop alone: `WorkerClient.run` driven directly
    direct     `RequestRun.events()`: admission, events, accounting, retries logic, and the hop
    grpc       `Controller.Complete` over the controller's own gRPC server, as the frontdoor calls
    own        `RequestRun.events()` over stub worker clients (no gRPC at all): the controller's
               own work alone, with far less noise than a difference of two gRPC runs

`direct - baseline` is the controller's own per-request work with the hop's interplay; `own`
measures the work alone. Each mode runs at concurrency 10 and with 1,000 in flight (most of them
queued behind MAX_CONCURRENT=128, as `make bench` does). `--profile C` adds a cProfile of the own
mode at concurrency C (top functions by own and cumulative time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from common.rpc import StandardServer, open_channel
from common.workers import WorkerSpec
from controller.scheduling.ratelimit import Limit
from controller.scheduling.request_run import RequestRun
from controller.scheduling.scheduler import Scheduler
from controller.server import _build_server, open_event_log
from controller.services.admin import AdminServicer
from controller.services.conversations import ConversationsServicer
from controller.storage.accounting import Accounting
from controller.storage.quota_store import QuotaStore
from controller.workers.client import WorkerClient
from controller.workers.pool import WorkerPool
from protos import common_pb2 as pb
from protos import controller_pb2_grpc, worker_pb2, worker_pb2_grpc
from tests.middle.inprocess import FakeWorker, controller_config

MAX_CONCURRENT = 128  # as bench/sides.py runs the proxy
ROOM = 5_000
UNLIMITED = Limit(rpm=10**9, tpm=10**12)
WARMUP = 200
TOP = 30


def api_answer() -> list[pb.Event]:
    """What an api worker sends for a short non-streaming answer (text joined after the first)."""
    return [
        pb.Event(text=pb.TextDelta(text="Hello")),
        pb.Event(text=pb.TextDelta(text=" there, how can I help you today?")),
        pb.Event(usage=pb.Usage(input_tokens=12, output_tokens=9)),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet-4-5")),
    ]


@dataclass(frozen=True)
class Traffic:
    """What the requests look like: one conversation or a new one each, from how many sources."""

    distinct: bool = False
    sources: int = 1


def chat_request(n: int, traffic: Traffic) -> pb.ChatRequest:
    prompt = f"hello {n}" if traffic.distinct else "hello"
    return pb.ChatRequest(
        request_id=f"req-{n:08d}",
        source=f"bench-{n % traffic.sources}",
        model="sonnet",
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text=prompt)])],
    )


@dataclass
class Controller:
    """The controller's services as `serve` wires them, and their background tasks."""

    scheduler: Scheduler
    accounting: Accounting
    quota_store: QuotaStore
    servers: list[StandardServer]
    tasks: list[asyncio.Task[None]]

    @property
    def pool(self) -> WorkerPool:
        return self.scheduler.pool

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for server in self.servers:
            await server.stop(0)
        await self.pool.close()
        await self.quota_store.flush()
        await self.accounting.close()


async def start_controller(root: Path, workers: int) -> Controller:
    specs = [
        WorkerSpec(name=str(n), mode="api", max_concurrent=MAX_CONCURRENT)
        for n in range(1, workers + 1)
    ]
    config = controller_config(
        root,
        specs,
        max_concurrent=MAX_CONCURRENT,
        max_queue_total=ROOM,
        max_queue_per_source=ROOM,
        queue_timeout_ms=120_000,
        health_interval_ms=1_000,
        rate_limits={f: UNLIMITED for f in ("sonnet", "opus", "haiku", "other")},
    )
    servers = []
    for spec in specs:
        fake = FakeWorker(spec.name, "api")
        fake.script = api_answer()
        fake.runs = _Forgetful()  # a long run must not keep every request it served
        name = worker_pb2.DESCRIPTOR.services_by_name["Worker"].full_name
        server = StandardServer(config.paths.worker_socket(spec.name), [name])
        worker_pb2_grpc.add_WorkerServicer_to_server(fake, server.server)
        await server.start()
        servers.append(server)
    events, accounting, live, _ = await open_event_log(config)
    pool = WorkerPool(config.workers, config.paths)
    scheduler = Scheduler(config, pool, events)
    quota_store = QuotaStore(accounting)
    scheduler.restore_quota(await quota_store.load())
    scheduler.on_quota = quota_store.note
    for handle in pool.handles.values():
        await pool._check(handle, 1.0)  # up before the first request, as after start-up
    admin = AdminServicer(scheduler, accounting, live, time.time())
    front = _build_server(config, scheduler, admin, ConversationsServicer(accounting))
    await front.start()
    servers.append(front)
    tasks = [
        asyncio.create_task(pool.watch_health(config.health_interval_ms / 1000)),
        asyncio.create_task(scheduler.run_ticks()),
        asyncio.create_task(accounting.run()),
        asyncio.create_task(quota_store.run()),
    ]
    return Controller(scheduler, accounting, quota_store, servers, tasks)


class _Forgetful(list[worker_pb2.RunRequest]):
    def append(self, item: worker_pb2.RunRequest) -> None:
        pass


Drive = Callable[[pb.ChatRequest], Awaitable[None]]


def baseline_driver(controller: Controller) -> Drive:
    client = next(iter(controller.pool.handles.values())).client

    async def drive(request: pb.ChatRequest) -> None:
        async for _ in client.run(request, 1, "key"):
            pass

    return drive


def direct_driver(controller: Controller) -> Drive:
    async def drive(request: pb.ChatRequest) -> None:
        async for event in RequestRun(controller.scheduler, request).events():
            assert not event.HasField("error"), event.error.message

    return drive


class _StubClient:
    """A worker client that answers every run from memory; the rest goes to the real one."""

    def __init__(self, real: WorkerClient) -> None:
        self._real = real
        self._script = api_answer()

    async def run(
        self, request: pb.ChatRequest, attempt: int, conversation_key: str = ""
    ) -> AsyncIterator[pb.Event]:
        for event in self._script:
            await asyncio.sleep(0)  # each message of a stream is a wait for the socket
            yield event

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@contextlib.contextmanager
def stub_workers(controller: Controller) -> Iterator[Drive]:
    """The direct driver over stub clients, for as long as the block lasts."""
    handles = list(controller.pool.handles.values())
    real = [handle.client for handle in handles]
    for handle in handles:
        handle.client = _StubClient(handle.client)  # type: ignore[assignment]
    try:
        yield direct_driver(controller)
    finally:
        for handle, client in zip(handles, real, strict=True):
            handle.client = client


@contextlib.asynccontextmanager
async def grpc_driver(controller: Controller) -> AsyncIterator[Drive]:
    channel = open_channel(controller.scheduler.config.paths.controller_socket)
    stub = controller_pb2_grpc.ControllerStub(channel)

    async def drive(request: pb.ChatRequest) -> None:
        async for event in stub.Complete(request):
            assert not event.HasField("error"), event.error.message

    try:
        yield drive
    finally:
        await channel.close()


async def closed_loop(drive: Drive, requests: int, concurrency: int, traffic: Traffic) -> None:
    """`concurrency` clients, each sending its next request as soon as the last one ends."""
    numbers = iter(range(requests))

    async def client() -> None:
        for n in numbers:
            await drive(chat_request(n, traffic))

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def settle(controller: Controller) -> None:
    """Let the accounting writer finish what the run left, so it is counted in the run."""
    await controller.accounting.flush()
    await controller.quota_store.flush()


async def cpu_ms_per_request(
    controller: Controller, drive: Drive, requests: int, concurrency: int, traffic: Traffic
) -> tuple[float, float]:
    """(CPU ms, wall ms) per request over a measured run, after a warm-up."""
    await closed_loop(drive, WARMUP, min(concurrency, WARMUP), traffic)
    await settle(controller)
    cpu, wall = time.process_time(), time.perf_counter()
    await closed_loop(drive, requests, concurrency, traffic)
    await settle(controller)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / requests, wall * 1000 / requests


async def profiled(
    controller: Controller, drive: Drive, requests: int, concurrency: int, traffic: Traffic
) -> str:
    await closed_loop(drive, WARMUP, min(concurrency, WARMUP), traffic)
    profile = cProfile.Profile()
    profile.enable()
    await closed_loop(drive, requests, concurrency, traffic)
    await settle(controller)
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(TOP)
    stats.sort_stats("cumulative").print_stats(TOP)
    return out.getvalue()


async def measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="ccp-cpu-", dir="/tmp") as root:
        controller = await start_controller(Path(root), args.workers)
        try:
            print(f"CPU ms per request (all threads), least of {args.rounds} runs")
            for concurrency in args.concurrency:
                await _measure_at(controller, args, concurrency)
            if args.profile:
                with stub_workers(controller) as drive:
                    print(
                        await profiled(
                            controller, drive, args.requests, args.profile, _traffic(args)
                        )
                    )
        finally:
            await controller.stop()


async def _measure_at(controller: Controller, args: argparse.Namespace, concurrency: int) -> None:
    """Each mode `args.rounds` times, interleaved; the least CPU of its rounds counts (the
    machine is shared: interference only ever adds)."""
    figures: dict[str, tuple[float, float]] = {}

    async def run(mode: str, drive: Drive) -> None:
        got = await cpu_ms_per_request(
            controller, drive, args.requests, concurrency, _traffic(args)
        )
        figures[mode] = min(figures.get(mode, got), got)

    for _ in range(args.rounds):
        await run("baseline", baseline_driver(controller))
        await run("direct", direct_driver(controller))
        async with grpc_driver(controller) as drive:
            await run("grpc", drive)
        with stub_workers(controller) as drive:
            await run("own", drive)
    own = figures["direct"][0] - figures["baseline"][0]
    line = "  ".join(f"{mode} {cpu:.3f} ({wall:.2f} wall)" for mode, (cpu, wall) in figures.items())
    print(f"c{concurrency:<5} {line}  | controller's own: {own:.3f} ms", flush=True)


def _traffic(args: argparse.Namespace) -> Traffic:
    return Traffic(args.distinct, max(args.sources, 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 1_000])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="the least of this many runs")
    parser.add_argument("--distinct", action="store_true", help="a new conversation each time")
    parser.add_argument("--sources", type=int, default=1, help="clients the queue is fair between")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="C", help="cProfile the direct mode at C"
    )
    args = parser.parse_args(argv)
    uvloop.run(measure(args))


if __name__ == "__main__":
    main()
