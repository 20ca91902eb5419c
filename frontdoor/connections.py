"""Open client connections, capped per address and in total, with a clear 503 beyond a cap.

Without a cap, clients that open sockets and hold them (a body that never finishes, thousands at
once) fill the process's descriptor limit, and then every client, /health included, gets a
reset connection. The counting is pure (`ConnectionCounter`, `fitting_limits`, `address_key`,
`refusal_answer`). `GatedSite` serves the app as aiohttp's TCPSite does, through `GateProtocol`:
an admitted connection gets aiohttp's own handler; a refused one never does. It is read up to the
end of its request head (whose path picks the door's error shape), answered 503 with
`Connection: close` and half-closed, then dropped when the client closes or REFUSAL_GRACE_S
passes: the client sees the answer, not a reset.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast
from urllib.parse import urlsplit

from aiohttp import web

from frontdoor.core.errors import ApiError
from frontdoor.middleware import is_anthropic_path

RESERVED_DESCRIPTORS = 128
"""Descriptors kept for everything but client connections (the controller's socket, logs,
the dashboard's files, the event loop's own)."""
REFUSAL_GRACE_S = 1.0
"""How long a refused connection may take to send its request head, and then to close after
its answer."""
MAX_REFUSING = 256
"""Refused connections being answered at once; beyond them a new one is closed unanswered (a
flood cannot turn the refusals themselves into held sockets)."""
MAX_HEAD_BYTES = 16 * 1024
"""The most of a refused connection's request head that is read (the server's max_field_size)."""


@dataclass(frozen=True)
class ConnectionLimits:
    total: int
    per_address: int


def fitting_limits(total: int, per_address: int, descriptor_limit: int) -> ConnectionLimits:
    """The configured caps, the total kept RESERVED_DESCRIPTORS under the process's descriptor
    limit (so the cap answers before the kernel refuses), and no address allowed more."""
    fitting = max(1, min(total, descriptor_limit - RESERVED_DESCRIPTORS))
    return ConnectionLimits(fitting, max(1, min(per_address, fitting)))


def address_key(peer: object) -> str:
    """What connections are counted by: the client's IP address (an IPv4-mapped IPv6 address as
    its IPv4 one), an IPv6 client by its /64 (one host usually holds the whole prefix); "" for
    a peer without an address."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    if not isinstance(host, str) or not host:
        return ""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class ConnectionCounter:
    """Open connections by address key, and the refusals being answered."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.total = 0
        self.refusing = 0
        self._by_address: dict[str, int] = {}

    def open_from(self, key: str) -> int:
        return self._by_address.get(key, 0)

    def admit(self, key: str) -> ApiError | None:
        """Counts a new connection from `key` in, or returns the 503 it gets instead."""
        if self.total >= self.limits.total:
            return _too_many(
                f"the proxy has {self.total} connections open, the most it takes "
                "(MAX_CONNECTIONS); try again shortly"
            )
        held = self.open_from(key)
        if held >= self.limits.per_address:
            return _too_many(
                f"this address has {held} connections open, the most one address may "
                "(MAX_CONNECTIONS_PER_ADDRESS); close some or try again shortly"
            )
        self.total += 1
        self._by_address[key] = held + 1
        return None

    def release(self, key: str) -> None:
        held = self._by_address.get(key, 0)
        if held <= 1:
            self._by_address.pop(key, None)
        else:
            self._by_address[key] = held - 1
        self.total = max(0, self.total - 1)


def _too_many(message: str) -> ApiError:
    return ApiError(
        503, message, "service_unavailable", code="too_many_connections", retry_after_s=1
    )


def request_path(head: bytes) -> str:
    """The path of a raw request head's request line ("" when there is none)."""
    line = head.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.decode("latin-1").split(" ")
    if len(parts) < 2:
        return ""
    target = parts[1]
    return urlsplit(target).path if "://" in target else target.split("?", 1)[0]


def refusal_answer(error: ApiError, head: bytes) -> bytes:
    """The whole HTTP answer to a refused connection: `error` in the shape of the door its
    request head names (OpenAI's when there is none), closing the connection."""
    body_object = error.anthropic_body() if is_anthropic_path(request_path(head)) else error.body()
    body = json.dumps(body_object).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": str(len(body)),
        "Connection": "close",
        **error.headers(),
    }
    status = HTTPStatus(error.status)
    lines = [f"HTTP/1.1 {status.value} {status.phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Refusal(asyncio.Protocol):
    """A refused connection: its request head read, the 503 sent, then closed (module doc)."""

    def __init__(self, error: ApiError, counter: ConnectionCounter) -> None:
        self._error = error
        self._counter = counter
        self._head = b""
        self._answered = False
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        if self._counter.refusing >= MAX_REFUSING:
            self._transport.abort()
            return
        self._counter.refusing += 1
        self._timer = asyncio.get_running_loop().call_later(REFUSAL_GRACE_S, self._on_timer)

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return  # what follows the head: read and dropped, so closing sends no reset
        self._head += data
        if b"\r\n\r\n" in self._head or len(self._head) >= MAX_HEAD_BYTES:
            self._answer()

    def eof_received(self) -> bool:
        if not self._answered:
            self._answer()
        return False  # the transport closes once the answer is written

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._counter.refusing -= 1
            self._timer = None

    def _answer(self) -> None:
        assert self._transport is not None
        self._answered = True
        self._transport.write(refusal_answer(self._error, self._head))
        if self._transport.can_write_eof():
            self._transport.write_eof()

    def _on_timer(self) -> None:
        """The first tick answers a client that has not sent its head; the next one closes."""
        assert self._transport is not None
        if self._answered:
            self._transport.close()
            return
        self._answer()
        self._timer = asyncio.get_running_loop().call_later(REFUSAL_GRACE_S, self._on_timer)


class GateProtocol(asyncio.Protocol):
    """One client connection: aiohttp's handler when the counter admits it, a `_Refusal` when
    it does not. Every call is passed on to whichever it is."""

    def __init__(
        self, make_handler: Callable[[], asyncio.Protocol], counter: ConnectionCounter
    ) -> None:
        self._make_handler = make_handler
        self._counter = counter
        self._key: str | None = None
        self._inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        key = address_key(transport.get_extra_info("peername"))
        refusal = self._counter.admit(key)
        if refusal is None:
            self._key = key
            self._inner = self._make_handler()
        else:
            self._inner = _Refusal(refusal, self._counter)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        assert self._inner is not None
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        assert self._inner is not None
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        assert self._inner is not None
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        assert self._inner is not None
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._key is not None:
            self._counter.release(self._key)
            self._key = None
        if self._inner is not None:
            self._inner.connection_lost(exc)


class GatedSite(web.BaseSite):
    """A TCP site whose connections pass `counter` first (run_app's TCPSite, gated)."""

    __slots__ = ("_host", "_port", "counter")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        counter: ConnectionCounter,
        *,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self.counter = counter

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the one the kernel chose for 0)."""
        sockets = getattr(self._server, "sockets", None)  # asyncio's and uvloop's servers
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() makes the server"
        counter = self.counter
        self._server = await asyncio.get_running_loop().create_server(
            lambda: GateProtocol(server, counter), self._host, self._port, backlog=self._backlog
        )
