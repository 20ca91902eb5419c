"""Where the time goes at concurrency 1: the same non-streaming request entering the proxy at
each of its doors in turn, from the upstream inwards.

The mock directly (HTTP), the workerd's `Worker.Run` (gRPC on its unix socket), the
controller's `Controller.Complete` (gRPC) and the frontdoor (HTTP, OpenAI chat completions):
each step's p50 minus the one before is what that hop adds, its own work plus one transport.
Rounds alternate between the doors so they share the machine's state.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import aiohttp

from bench.sides import Side
from common.paths import StatePaths
from common.rpc import REQUEST_ID_KEY, open_channel
from protos import common_pb2 as pb
from protos import controller_pb2_grpc, worker_pb2, worker_pb2_grpc

ROUNDS = 3
CALLS_PER_ROUND = 200
WARM_UP = 30

Call = Callable[[], Awaitable[None]]


def _chat() -> pb.ChatRequest:
    message = pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hello")])
    return pb.ChatRequest(request_id="ladder", model="sonnet", messages=[message])


async def measure(mock: Side, proxy: Side) -> dict[str, float]:
    """p50 ms of a request entering at each door (mock, workerd, controller, frontdoor)."""
    assert proxy.stack is not None
    paths = StatePaths(proxy.stack.state_dir)
    worker_channel = open_channel(paths.worker_socket("1"))
    controller_channel = open_channel(paths.controller_socket)
    worker = worker_pb2_grpc.WorkerStub(worker_channel)
    controller = controller_pb2_grpc.ControllerStub(controller_channel)
    chat = _chat()
    metadata = ((REQUEST_ID_KEY, "ladder"),)
    try:
        async with aiohttp.ClientSession() as session:

            def http(side: Side) -> Call:
                async def call() -> None:
                    body, headers = side.target.body(False), side.target.headers
                    async with session.post(side.target.url, data=body, headers=headers) as got:
                        await got.read()

                return call

            async def run() -> None:
                async for _ in worker.Run(worker_pb2.RunRequest(chat=chat)):
                    pass

            async def complete() -> None:
                async for _ in controller.Complete(chat, metadata=metadata):
                    pass

            doors = {
                "mock (HTTP)": http(mock),
                "workerd (Worker.Run)": run,
                "controller (Controller.Complete)": complete,
                "frontdoor (chat completions)": http(proxy),
            }
            samples: dict[str, list[float]] = {name: [] for name in doors}
            for _ in range(ROUNDS):
                for name, call in doors.items():
                    samples[name] += await _timed(call)
    finally:
        await worker_channel.close()
        await controller_channel.close()
    return {name: sorted(times)[len(times) // 2] * 1000 for name, times in samples.items()}


async def _timed(call: Call) -> list[float]:
    for _ in range(WARM_UP):
        await call()
    times = []
    for _ in range(CALLS_PER_ROUND):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times
