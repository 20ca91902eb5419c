"""common/rpc.py: a quiet stream (the frontdoor's key watch) must survive the client's keepalive
pings. Before the server accepted them it answered the third with GOAWAY "too_many_pings", and
every call on the connection failed UNAVAILABLE, a Completion in flight included (CI saw it as a
503 "controller unavailable")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from common.rpc import StandardServer, channel_options, unix_target

pytestmark = pytest.mark.middle
KEEPALIVE_MS = 500  # fast pings so the abuse policy answers within seconds, not minutes
# The client caps pings on a quiet connection at two unless told otherwise; lifting the cap
# makes the server's policy (the thing under test) the only limit.
UNCAPPED = [*channel_options(KEEPALIVE_MS), ("grpc.http2.max_pings_without_data", 0)]


async def _watch_until_broken(socket: Path, seconds: float) -> grpc.StatusCode | None:
    """Hold a Health.Watch stream (one message, then quiet) open for `seconds`; the status it
    broke with, or None when it stayed open; then one unary call must still work."""
    async with grpc.aio.insecure_channel(unix_target(socket), options=UNCAPPED) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest())
        await watch.read()  # SERVING: the stream is up, and from here on it is quiet
        try:
            async with asyncio.timeout(seconds):
                await watch.read()
        except TimeoutError:
            watch.cancel()
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            return None
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        raise AssertionError("Watch sent a second status without a change")


async def test_quiet_stream_outlives_keepalive_pings(tmp_path: Path) -> None:
    socket_path = tmp_path / "ours.sock"
    server = StandardServer(socket_path, [], keepalive_ms=KEEPALIVE_MS)
    await server.start()
    try:
        assert await _watch_until_broken(socket_path, seconds=8 * KEEPALIVE_MS / 1000) is None
    finally:
        await server.stop(0)


async def test_a_server_with_default_ping_policy_breaks_the_stream(tmp_path: Path) -> None:
    """The control: the same client against grpc's defaults gets the GOAWAY."""
    socket = tmp_path / "default.sock"
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(unix_target(socket))
    await server.start()
    try:
        assert await _watch_until_broken(socket, seconds=30) == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)
