"""The frontdoor's own CPU per request, measured in process: `python -m bench.frontdoor_cpu`.

This process serves the real frontdoor app (create_app with server_options, production logging
with the access log, uvloop) and is the only one measured: a fake controller that answers every
Complete at once (tests/middle/fake_controller.py) and the HTTP client driving the load each run
in a process of their own, so neither one's CPU is counted. Per mode (non-streaming `json`,
streaming `stream`) it prints the server's CPU milliseconds per request (time.process_time over
the load; the best of --repeat loads, as other work on the machine only ever adds to it) and,
with --profile, the top functions of a cProfile (CPU time) of the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import uvloop
from aiohttp import web

from common.logs import configure_logging
from frontdoor.app import create_app, server_options
from protos import common_pb2 as pb

TOKEN = "bench-frontdoor-token-5c1d"
TEXT_DELTAS = ["mock says: ", "hello from ", "the bench"]  # as bench/mock_server.py streams
MODES = ("json", "stream")


def script() -> list[pb.Event]:
    """What the fake controller answers: the events an api run sends (7, as the bench's)."""
    return [
        pb.Event(started=pb.Started(worker="w1", mode="api", attempt=1)),
        pb.Event(model_info=pb.ModelInfo(model="claude-sonnet-4-5")),
        *(pb.Event(text=pb.TextDelta(text=text)) for text in TEXT_DELTAS),
        pb.Event(usage=pb.Usage(input_tokens=11, output_tokens=13)),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet-4-5")),
    ]


def request_body(stream: bool) -> bytes:
    """The bench's request (bench/load.py): one user message, a model alias, max_tokens."""
    body: dict[str, object] = {
        "model": "sonnet",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


# --- the fake controller process -------------------------------------------------------------


async def run_controller(socket_path: Path) -> None:
    from tests.middle.fake_controller import FakeController, serve

    controller = FakeController()
    controller.script = script()
    server = await serve(controller, socket_path)
    print("ready", flush=True)
    # Ends when the parent closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(0)


# --- the client process ----------------------------------------------------------------------


async def run_client(port: int, mode: str, requests: int, concurrency: int) -> None:
    """`requests` requests, `concurrency` at a time; fails loudly on any answer but a 200."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = request_body(mode == "stream")
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    left = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def loop() -> None:
            for _ in left:
                async with session.post(url, data=body, headers=headers) as response:
                    payload = await response.read()
                    if response.status != 200:
                        raise SystemExit(f"status {response.status}: {payload[:300]!r}")

        await asyncio.gather(*(loop() for _ in range(concurrency)))


def client_command(port: int, mode: str, requests: int, concurrency: int) -> list[str]:
    return [
        *(sys.executable, "-m", "bench.frontdoor_cpu", "--client", str(port)),
        *("--mode", mode, "--requests", str(requests), "--concurrency", str(concurrency)),
    ]


# --- the measured process: the frontdoor -----------------------------------------------------


@dataclass
class Result:
    mode: str
    requests: int
    cpu_s: float
    wall_s: float
    profile: cProfile.Profile | None

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s * 1000 / self.requests

    def line(self) -> str:
        return (
            f"{self.mode:6} {self.requests} requests: {self.cpu_ms_per_request:.3f} ms CPU each, "
            f"{self.requests / self.wall_s:.0f} rps"
        )


@contextlib.contextmanager
def fake_controller(socket_path: Path) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.frontdoor_cpu", "--controller", str(socket_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise SystemExit("the fake controller did not start")
        yield
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(10)


@contextlib.asynccontextmanager
async def frontdoor(root: Path) -> AsyncIterator[int]:
    """The real app on a free port; yields the port."""
    from tests.middle.door import door_config

    config = door_config(root, auth_token=TOKEN)
    app = create_app(config)
    options = server_options(app)
    runner = web.AppRunner(app, **options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def measure(port: int, mode: str, args: argparse.Namespace) -> Result:
    """One load in a client process; the CPU this process spent while it ran."""
    warmup = await asyncio.create_subprocess_exec(
        *client_command(port, mode, min(200, args.requests), args.concurrency)
    )
    if await warmup.wait() != 0:
        raise SystemExit("the warm-up load failed")
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    client = await asyncio.create_subprocess_exec(
        *client_command(port, mode, args.requests, args.concurrency)
    )
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    code = await client.wait()
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if code != 0:
        raise SystemExit(f"the {mode} load failed")
    return Result(mode, args.requests, cpu, wall, profiler)


def print_profile(result: Result, top: int) -> None:
    assert result.profile is not None
    out = io.StringIO()
    pstats.Stats(result.profile, stream=out).sort_stats("tottime").print_stats(top)
    print(f"\n--- {result.mode}: top {top} by own time (profiled, so slower) ---")
    print("\n".join(out.getvalue().splitlines()[6:]))


async def run_server(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with fake_controller(root / "controller.sock"):
            async with frontdoor(root) as port:
                for mode in args.modes:
                    runs = [await measure(port, mode, args) for _ in range(args.repeat)]
                    best = min(runs, key=lambda run: run.cpu_s)
                    print(best.line(), f"(best of {len(runs)})", flush=True)
                    if best.profile is not None:
                        print_profile(best, args.top)


def quiet_logging() -> None:
    """Production logging (common.logs, the access log on), written where a file would be."""
    devnull = open(os.devnull, "w")  # lives as long as the process
    with contextlib.redirect_stderr(devnull):
        configure_logging("frontdoor", secrets=[TOKEN])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--repeat", type=int, default=3, help="loads per mode; the best counts")
    parser.add_argument("--profile", action="store_true", help="cProfile the server as well")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--controller", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.controller is not None:
        uvloop.run(run_controller(args.controller))
    elif args.client is not None:
        uvloop.run(run_client(args.client, args.mode, args.requests, args.concurrency))
    else:
        quiet_logging()
        uvloop.run(run_server(args))


if __name__ == "__main__":
    main()
