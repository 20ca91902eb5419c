"""The floor of one gRPC hop as the proxy uses it: a bare grpc.aio server-streaming call.

`python -m bench.grpc_floor SOCKET N` serves Worker.Run on a unix socket, answering every call
with N small events and nothing else (uvloop, as the proxy's processes run). `measure` drives it
from this process at concurrency 10 and returns the CPU milliseconds per call of the server and
of the client: what a hop costs before the proxy does any work of its own.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import uvloop

from common.rpc import open_channel, unix_target
from protos import common_pb2 as pb
from protos import worker_pb2, worker_pb2_grpc
from tests.stack import REPO, wait_until

CONCURRENCY = 10


class _Servicer(worker_pb2_grpc.WorkerServicer):
    def __init__(self, events: int) -> None:
        self._events = [pb.Event(text=pb.TextDelta(text=f"piece {n} ")) for n in range(events)]

    async def Run(self, request: worker_pb2.RunRequest, context: Any) -> AsyncIterator[pb.Event]:
        for event in self._events:
            yield event


async def _serve(socket: str, events: int) -> None:
    server = grpc.aio.server()
    servicer = _Servicer(events)  # type: ignore[abstract]  # only Run is served here
    worker_pb2_grpc.add_WorkerServicer_to_server(servicer, server)
    server.add_insecure_port(unix_target(Path(socket)))
    await server.start()
    await server.wait_for_termination()


async def _drive(socket: Path, seconds: float) -> tuple[int, float, float]:
    channel = open_channel(socket)
    stub = worker_pb2_grpc.WorkerStub(channel)
    request = worker_pb2.RunRequest(chat=pb.ChatRequest(request_id="floor", model="sonnet"))
    calls = 0
    alone = []
    for _ in range(300):  # one call at a time: the hop's own latency
        started = time.perf_counter()
        async for _ in stub.Run(request):
            pass
        alone.append(time.perf_counter() - started)

    async def client(stop_at: float) -> None:
        nonlocal calls
        while time.perf_counter() < stop_at:
            async for _ in stub.Run(request):
                pass
            calls += 1

    await asyncio.gather(*(client(time.perf_counter() + 0.5) for _ in range(CONCURRENCY)))
    calls = 0
    started = time.process_time()
    await asyncio.gather(*(client(time.perf_counter() + seconds) for _ in range(CONCURRENCY)))
    client_cpu = time.process_time() - started
    await channel.close()
    return calls, client_cpu, sorted(alone)[len(alone) // 2]


def measure(events: int, seconds: float = 3.0) -> dict[str, float]:
    """CPU ms per call of a bare server (N events a call) and of its client at concurrency 10,
    and the p50 of a call made alone."""
    socket = Path(tempfile.mkdtemp(prefix="ccp-bench-grpc-")) / "floor.sock"
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.grpc_floor", str(socket), str(events)], cwd=REPO
    )
    try:
        wait_until(socket.exists, 20, "the bare gRPC server")
        proc = psutil.Process(server.pid)
        before = proc.cpu_times()
        calls, client_cpu, p50 = uvloop.run(_drive(socket, seconds))
        after = proc.cpu_times()
    finally:
        server.terminate()
        server.wait(10)
    server_cpu = (after.user + after.system) - (before.user + before.system)
    return {
        "events_per_call": events,
        "calls": calls,
        "p50_ms_alone": p50 * 1000,
        "server_cpu_ms_per_call": server_cpu * 1000 / max(calls, 1),
        "client_cpu_ms_per_call": client_cpu * 1000 / max(calls, 1),
    }


if __name__ == "__main__":
    uvloop.run(_serve(sys.argv[1], int(sys.argv[2])))
