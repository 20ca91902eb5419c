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
CHANNEL_OPTIONS: Sequence[tuple[str, int]] = (
    ("grpc.max_send_message_length", MESSAGE_LIMIT),
    ("grpc.max_receive_message_length", MESSAGE_LIMIT),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)


def unix_target(path: Path) -> str:
    return f"unix:{path}"


def open_channel(path: Path) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(unix_target(path), options=list(CHANNEL_OPTIONS))


class StandardServer:
    """A grpc.aio server on a unix socket with health and reflection registered."""

    def __init__(self, socket_path: Path, service_names: Sequence[str]) -> None:
        self.socket_path = socket_path
        self.server = grpc.aio.server(options=list(CHANNEL_OPTIONS))
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
