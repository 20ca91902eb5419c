"""controller/workers/client.py and pool.py towards a workerd on another host: a real gRPC
server on 127.0.0.1 with mutual TLS, the controller's own Reach, WorkerClient and WorkerPool."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from common.certs import HostSpec, issue
from common.paths import StatePaths
from common.rpc import StandardServer, TcpListen
from common.tls import TlsFiles
from common.workers import WorkerSpec
from controller.workers.client import MessageTooLarge, Reach, WorkerUnavailable
from controller.workers.pool import REMOTE_DOWN_AFTER, WorkerPool
from protos import common_pb2 as pb
from protos import worker_pb2, worker_pb2_grpc

pytestmark = pytest.mark.middle


class _Talker(worker_pb2_grpc.WorkerServicer):
    """One text delta, then silence until the call ends (a model thinking)."""

    async def Run(self, request: Any, context: Any) -> AsyncIterator[pb.Event]:
        yield pb.Event(text=pb.TextDelta(text="hello"))
        await asyncio.Event().wait()


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    out = tmp_path / "certs"
    issue(out, [HostSpec("host", ("127.0.0.1",))], replace=False, stdout=io.StringIO())
    return TlsFiles(out / "host.crt", out / "host.key", out / "ca.crt")


async def _serve(tls: TlsFiles, message_limit: int = 64 << 20) -> tuple[StandardServer, int]:
    return await _serve_on(tls, _free_port(), message_limit)


async def _serve_on(
    tls: TlsFiles, port: int, message_limit: int = 64 << 20
) -> tuple[StandardServer, int]:
    name = worker_pb2.DESCRIPTOR.services_by_name["Worker"].full_name
    listen = TcpListen("127.0.0.1", port, tls)
    server = StandardServer(None, [name], tcp=listen, message_limit=message_limit)
    worker_pb2_grpc.add_WorkerServicer_to_server(_Talker(), server.server)  # type: ignore[abstract]
    await server.start()
    return server, port


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pool(tmp_path: Path, tls: TlsFiles, port: int) -> WorkerPool:
    spec = WorkerSpec(name="r", mode="cli", address=f"127.0.0.1:{port}")
    paths = StatePaths(tmp_path / "state")
    return WorkerPool((spec,), paths, Reach(paths, tls, keepalive_ms=500))


def _chat(text: str = "hi") -> pb.ChatRequest:
    message = pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text=text)])
    return pb.ChatRequest(request_id="r-1", messages=[message])


async def test_a_cut_ends_a_silent_stream_as_the_worker_failing(
    tmp_path: Path, tls: TlsFiles
) -> None:
    server, port = await _serve(tls)
    pool = _pool(tmp_path, tls, port)
    client = pool.handles["r"].client
    try:
        run = client.run(_chat(), attempt=1)
        first = await anext(run)
        assert first.text.text == "hello"  # across TLS with the controller's certificate
        pending = asyncio.ensure_future(anext(run))
        await asyncio.sleep(0)
        assert client.cut_calls("health check failed") == 1
        with pytest.raises(WorkerUnavailable, match="health check failed"):
            await asyncio.wait_for(pending, 5)
    finally:
        await pool.close()
        await server.stop(0)


async def test_a_request_over_the_workers_limit_is_too_large_not_a_dead_worker(
    tmp_path: Path, tls: TlsFiles
) -> None:
    server, port = await _serve(tls, message_limit=1 << 20)
    pool = _pool(tmp_path, tls, port)
    try:
        run = pool.handles["r"].client.run(_chat("x" * (2 << 20)), attempt=1)
        with pytest.raises(MessageTooLarge):
            await asyncio.wait_for(anext(run), 10)
    finally:
        await pool.close()
        await server.stop(0)


async def test_a_remote_worker_is_down_after_its_second_failed_check_and_back_after(
    tmp_path: Path, tls: TlsFiles
) -> None:
    server, port = await _serve(tls)
    pool = _pool(tmp_path, tls, port)
    handle = pool.handles["r"]
    try:
        assert handle.state == "starting"
        await pool._check(handle, 0.5)
        assert handle.state == "up"
        await server.stop(0)
        for _ in range(REMOTE_DOWN_AFTER - 1):
            await pool._check(handle, 0.5)
            assert handle.state == "up"  # one lost answer on a lossy link is no outage
        await pool._check(handle, 0.5)
        assert handle.state == "down"
        server, _ = await _serve_on(tls, port)
        await _until(lambda: pool._check(handle, 0.5), lambda: handle.state == "up")
    finally:
        await pool.close()
        await server.stop(0)


async def test_a_remote_worker_never_reached_shows_down_not_starting(
    tmp_path: Path, tls: TlsFiles
) -> None:
    pool = _pool(tmp_path, tls, _free_port())
    try:
        await pool._check(pool.handles["r"], 0.5)
        assert pool.handles["r"].state == "down"
    finally:
        await pool.close()


async def test_a_plaintext_channel_gets_no_answer(tls: TlsFiles) -> None:
    server, port = await _serve(tls)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = worker_pb2_grpc.WorkerStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Status(worker_pb2.StatusRequest(), timeout=2)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)


async def _until(step: Any, done: Any, within_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await step()
        await asyncio.sleep(0.05)
