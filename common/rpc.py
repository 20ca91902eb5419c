"""gRPC plumbing shared by the servers and clients: sockets, TCP with mutual TLS, health,
reflection, metadata."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common.config import Environ, env_int
from common.tls import TlsFiles, tcp_target

logger = logging.getLogger(__name__)

REQUEST_ID_KEY = "x-request-id"
# Long CLI answers and big prompts travel as single messages (GRPC_MAX_MESSAGE_MB).
MESSAGE_LIMIT = 64 * 1024 * 1024
KEEPALIVE_MS = 20_000
# Across hosts a link can vanish without a FIN: pings this often (REMOTE_KEEPALIVE_MS) and the
# same again for the answer notice it, and end the calls on it, within a few seconds.
REMOTE_KEEPALIVE_MS = 1_000
REMOTE_KEEPALIVE_FLOOR_MS = 100


def message_limit_from_env(environ: Environ) -> int:
    """GRPC_MAX_MESSAGE_MB in bytes: the largest message this end sends or takes."""
    return env_int(environ, "GRPC_MAX_MESSAGE_MB", MESSAGE_LIMIT >> 20, minimum=1) << 20


def remote_keepalive_from_env(environ: Environ) -> int:
    return env_int(
        environ, "REMOTE_KEEPALIVE_MS", REMOTE_KEEPALIVE_MS, minimum=REMOTE_KEEPALIVE_FLOOR_MS
    )


def channel_options(
    keepalive_ms: int = KEEPALIVE_MS, message_limit: int = MESSAGE_LIMIT
) -> list[tuple[str, int]]:
    """A client pings every `keepalive_ms` while a call is open (a quiet stream such as the
    frontdoor's key watch), so a dead peer is noticed without waiting on TCP."""
    return [
        ("grpc.max_send_message_length", message_limit),
        ("grpc.max_receive_message_length", message_limit),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2_000),
    ]


def remote_channel_options(keepalive_ms: int, message_limit: int) -> list[tuple[str, int]]:
    """A channel to another host: pinged even between calls and during a silent stream (a
    model thinking), and closed when a ping goes unanswered for `keepalive_ms`."""
    return [
        *channel_options(keepalive_ms, message_limit),
        ("grpc.keepalive_timeout_ms", keepalive_ms),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def server_options(
    keepalive_ms: int = KEEPALIVE_MS, message_limit: int = MESSAGE_LIMIT
) -> list[tuple[str, int]]:
    """The server must accept those pings. By default it takes a ping on a connection that sends
    no data as abuse when it comes sooner than 5 minutes after the last; at the third it sends
    GOAWAY "too_many_pings" and every call on the connection fails UNAVAILABLE, the Completions
    in flight included. So its floor sits below the clients' interval, and pings between calls
    (a remote controller's) are allowed."""
    return [
        ("grpc.max_send_message_length", message_limit),
        ("grpc.max_receive_message_length", message_limit),
        # GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS (its string names no "recv")
        ("grpc.http2.min_ping_interval_without_data_ms", keepalive_ms // 2),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


@dataclass(frozen=True)
class TcpListen:
    """A TCP address to serve on, only ever with mutual TLS."""

    host: str
    port: int
    tls: TlsFiles

    @property
    def target(self) -> str:
        return tcp_target(self.host, self.port)


def unix_target(path: Path) -> str:
    return f"unix:{path}"


def open_channel(path: Path, message_limit: int = MESSAGE_LIMIT) -> grpc.aio.Channel:
    options = channel_options(message_limit=message_limit)
    return grpc.aio.insecure_channel(unix_target(path), options=options)


def open_remote_channel(
    address: str, tls: TlsFiles, keepalive_ms: int, message_limit: int
) -> grpc.aio.Channel:
    """A channel to another host's workerd: mutual TLS, the server's certificate checked
    against the CA and the address dialled."""
    options = remote_channel_options(keepalive_ms, message_limit)
    return grpc.aio.secure_channel(address, tls.channel_credentials(), options=options)


class StandardServer:
    """A grpc.aio server with health and reflection registered, on a unix socket, on TCP with
    mutual TLS, or both (a controller that administrators on other hosts reach)."""

    def __init__(
        self,
        socket_path: Path | None,
        service_names: Sequence[str],
        keepalive_ms: int = KEEPALIVE_MS,
        *,
        tcp: TcpListen | None = None,
        message_limit: int = MESSAGE_LIMIT,
    ) -> None:
        self.socket_path = socket_path
        self.tcp = tcp
        # A controller on another host pings as often as its REMOTE_KEEPALIVE_MS says (100 ms
        # at least); only peers with a certificate from the CA get this far.
        floor_ms = 2 * REMOTE_KEEPALIVE_FLOOR_MS if tcp else keepalive_ms
        self.server = grpc.aio.server(options=server_options(floor_ms, message_limit))
        self.health = health.aio.HealthServicer()
        self._service_names = tuple(service_names)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, self.server)

    async def start(self) -> None:
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()  # a stale socket from a killed predecessor
            self.server.add_insecure_port(unix_target(self.socket_path))
        if self.tcp is not None:  # raises when the port is taken: the process exits with it
            self.server.add_secure_port(self.tcp.target, self.tcp.tls.server_credentials())
        await self.server.start()
        if self.socket_path is not None:
            os.chmod(self.socket_path, 0o600)
        for name in ("", *self._service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        where = [str(self.socket_path)] if self.socket_path else []
        if self.tcp is not None:
            where.append(f"{self.tcp.target} (mutual TLS)")
        logger.info("serving on %s", ", ".join(where))

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if self.socket_path is not None:
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
