"""One huge legal request against one in-process workerd: is the worker still answering?

The real WorkerServicer on its gRPC unix socket (as workerd/server.py assembles it), in cli mode
with the fake CLI (tests/fakes/fake_claude.py) or in api mode against the mock Messages API (in
a process of its own).
One Run of N tiny messages (user and assistant alternating, so the CLI path rebuilds a long
history) while a probe calls the worker's gRPC health check every PROBE_EVERY_S with the
controller's deadline. Reported: the Run's wall time, the health checks' latencies counted from
when each was due (a loop too busy to send or answer it shows), how many took longer than the
controller's deadline, and the process's peak RSS and its RSS after the run.

    python -m bench.huge_request [--mode cli|api] [--messages 580000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.paths import StatePaths
from common.rpc import StandardServer, open_channel
from common.workers import WorkerSpec
from protos import common_pb2 as pb
from protos import worker_pb2, worker_pb2_grpc
from tests.stack import FAKE_CLAUDE
from workerd.api.runner import ApiRunner
from workerd.cli.engine import SessionEngine
from workerd.cli.process import ProcessTable
from workerd.config import WorkerdConfig
from workerd.servicer import WorkerServicer

PROBE_EVERY_S = 0.05
HEALTH_DEADLINE_S = 1.0  # the controller's: max(HEALTH_INTERVAL, 0.5 s), 1 s by default


@dataclass
class Probe:
    latencies: list[float] = field(default_factory=list)
    missed: int = 0


def huge_request(messages: int) -> pb.ChatRequest:
    request = pb.ChatRequest(request_id="huge", model="sonnet", stream=True)
    for n in range(messages - 1 if messages % 2 == 0 else messages):
        role = pb.ROLE_USER if n % 2 == 0 else pb.ROLE_ASSISTANT
        request.messages.add(role=role).content.add(text=f"m{n}")
    return request


def config(root: Path, mode: str, base_url: str) -> WorkerdConfig:
    spec = WorkerSpec(name="b", mode=mode, api_key="sk-ant-api03-bench" if mode == "api" else "")
    return WorkerdConfig(
        spec=spec,
        paths=StatePaths(root),
        claude_bin=str(FAKE_CLAUDE),
        anthropic_base_url=base_url,
        stream_timeout_ms=600_000,
        sync_timeout_ms=600_000,
        max_process_age_ms=600_000,
        max_idle_ms=600_000,
        cli_max_retries=0,
        stop_grace_ms=500,
    )


async def probe(socket: Path, probe: Probe, stop: asyncio.Event) -> None:
    channel = open_channel(socket)
    stub = health_pb2_grpc.HealthStub(channel)
    due = time.perf_counter()
    try:
        while not stop.is_set():
            try:
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_DEADLINE_S)
            except Exception:
                probe.missed += 1
            # From when the check was due: a loop too busy to even send it counts too.
            ended = time.perf_counter()
            probe.latencies.append(ended - due)
            probe.missed += ended - due > HEALTH_DEADLINE_S
            due = ended + PROBE_EVERY_S
            await asyncio.sleep(PROBE_EVERY_S)
    finally:
        await channel.close()


@contextlib.contextmanager
def mock_upstream() -> Iterator[str]:
    """The mock Messages API in a process of its own: its parse of the huge body must not
    take this process's GIL from the worker being measured."""
    code = (
        "import sys, time\n"
        "from tests.mock_upstream import MockUpstream\n"
        "print(MockUpstream().start(), flush=True)\n"
        "time.sleep(3600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        child.kill()
        child.wait()


async def measure(mode: str, messages: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="ccp-", dir="/tmp") as tmp, mock_upstream() as url:
        cfg = config(Path(tmp), mode, url)
        cfg.ensure_dirs()
        table = ProcessTable()
        engine = SessionEngine(cfg, table)
        api = ApiRunner(cfg) if mode == "api" else None
        socket = cfg.paths.worker_socket("b")
        name = worker_pb2.DESCRIPTOR.services_by_name["Worker"].full_name
        server = StandardServer(socket, [name])
        worker_pb2_grpc.add_WorkerServicer_to_server(
            WorkerServicer(cfg, table, api, None, engine), server.server
        )
        await server.start()
        # Serialized before the probe starts: the client's side costs the loop almost nothing.
        payload = worker_pb2.RunRequest(chat=huge_request(messages), attempt=1).SerializeToString()
        gc.collect()
        rss_before = psutil.Process().memory_info().rss
        stop, seen = asyncio.Event(), Probe()
        probing = asyncio.create_task(probe(socket, seen, stop))
        await asyncio.sleep(0.3)  # a few quiet checks first
        channel = open_channel(socket)
        began = time.perf_counter()
        kinds: list[str] = []
        run = channel.unary_stream(f"/{name}/Run", response_deserializer=pb.Event.FromString)
        async for event in run(payload):
            kinds.append(event.WhichOneof("kind") or "")
        took = time.perf_counter() - began
        stop.set()
        await probing
        await channel.close()
        del payload
        gc.collect()
        rss_after = psutil.Process().memory_info().rss
        await engine.close()
        await table.stop_all(0.5)
        if api is not None:
            await api.aclose()
        await server.server.stop(0)
    latencies = sorted(seen.latencies)
    return {
        "mode": mode,
        "messages": messages,
        "run_s": round(took, 2),
        "ended_with": kinds[-1] if kinds else "",
        "health_checks": len(latencies),
        "health_max_ms": round(latencies[-1] * 1000, 1),
        "health_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "health_median_ms": round(statistics.median(latencies) * 1000, 1),
        "health_missed": seen.missed,
        "rss_before_mb": rss_before // 2**20,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "rss_after_mb": rss_after // 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.huge_request")
    parser.add_argument("--mode", choices=["cli", "api"], default="cli")
    parser.add_argument("--messages", type=int, default=580_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.mode, args.messages)), indent=1))


if __name__ == "__main__":
    main()
