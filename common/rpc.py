"""gRPC plumbing shared by the servers and clients: sockets, health, reflection, metadata."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

logger = logging.getLogger(__name__)

REQUEST_ID_KEY = "x-request-id"
# Long CLI answers and big prompts travel as single messages.
MESSAGE_LIMIT = 64 * 1024 * 1024
KEEPALIVE_MS = 20_000


def channel_options(keepalive_ms: int = KEEPALIVE_MS) -> list[tuple[str, int]]:
    """A client pings every `keepalive_ms` while a call is open (a quiet stream such as the
    frontdoor's key watch), so a dead peer is noticed without waiting on TCP."""
    return [
        ("grpc.max_send_message_length", MESSAGE_LIMIT),
        ("grpc.max_receive_message_length", MESSAGE_LIMIT),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2_000),
    ]


def server_options(keepalive_ms: int = KEEPALIVE_MS) -> list[tuple[str, int]]:
    """The server must accept those pings. By default it takes a ping on a connection that sends
    no data as abuse when it comes sooner than 5 minutes after the last; at the third it sends
    GOAWAY "too_many_pings" and every call on the connection fails UNAVAILABLE, the Completions
    in flight included. So its floor sits below the clients' interval."""
    return [
        ("grpc.max_send_message_length", MESSAGE_LIMIT),
        ("grpc.max_receive_message_length", MESSAGE_LIMIT),
        # GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS (its string names no "recv")
        ("grpc.http2.min_ping_interval_without_data_ms", keepalive_ms // 2),
    ]


def unix_target(path: Path) -> str:
    return f"unix:{path}"


def open_channel(path: Path) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(unix_target(path), options=channel_options())


class StandardServer:
    """A grpc.aio server on a unix socket with health and reflection registered."""

    def __init__(
        self,
        socket_path: Path,
        service_names: Sequence[str],
        keepalive_ms: int = KEEPALIVE_MS,
    ) -> None:
        self.socket_path = socket_path
        self.server = grpc.aio.server(options=server_options(keepalive_ms))
        self.health = health.aio.HealthServicer()
        self._service_names = tuple(service_names)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, self.server)

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # a stale socket from a killed predecessor
        self.server.add_insecure_port(unix_target(self.socket_path))
        await self.server.start()
        os.chmod(self.socket_path, 0o600)
        for name in ("", *self._service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info("serving on %s", self.socket_path)

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set `stop`; the serving loop then shuts down gracefully."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def request_id_of(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str):
            return value
    return "-"


async def abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    """End a call with `code` (a grpc.aio.ServicerContext's abort, typed as never returning)."""
    await context.abort(code, message)
    raise AssertionError("unreachable")  # context.abort raises
