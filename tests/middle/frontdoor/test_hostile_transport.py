"""The frontdoor's HTTP transport against hostile clients (issue 21, items 6, 7 and 14).

The real app served as production serves it (app.start_serving: the connection caps in front
of aiohttp) on a real port, a scripted controller behind it, raw sockets in front:
- a body that stops short gets 408 after CLIENT_BODY_TIMEOUT_MS and its socket is closed;
- beyond MAX_CONNECTIONS_PER_ADDRESS or MAX_CONNECTIONS a connection gets a 503 in its door's
  shape and is closed, and holds no aiohttp handler;
- a body that is not what its Content-Encoding says is a 400 naming the header, with one log line;
- `Expect: 100-continue` with a declared length over the limit is refused before continuing.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import uvloop
from aiohttp import web

from frontdoor import connections
from frontdoor.app import create_app, start_serving
from frontdoor.connections import ConnectionLimits, GatedSite
from frontdoor.core.body import DECODE_OFF_LOOP_BYTES
from tests.middle.frontdoor_edge import (
    TOKEN,
    Edge,
    RecordKeeper,
    Reply,
    ScriptedController,
    edge_config,
)
from tests.middle.inprocess import short_state_dir

pytestmark = pytest.mark.middle

BEARER = (b"Authorization", b"Bearer " + TOKEN.encode())
CHAT = json.dumps({"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}).encode()
MESSAGES = json.dumps(
    {"model": "sonnet", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
).encode()
BODIES = {
    "/v1/chat/completions": CHAT,
    "/v1/responses": json.dumps({"model": "sonnet", "input": "hi"}).encode(),
    "/v1/messages": MESSAGES,
    "/v1/messages/count_tokens": MESSAGES,
}
LARGE_CHAT = json.dumps(
    {"model": "sonnet", "messages": [{"role": "user", "content": os.urandom(150_000).hex()}]}
).encode()  # compressed, still over body.DECODE_OFF_LOOP_BYTES: decoded in a thread
BODY_SILENCE_MS = 300
ROOMY = ConnectionLimits(total=100, per_address=100)


@dataclass
class Served:
    edge: Edge
    site: GatedSite
    runner: web.AppRunner

    @property
    def open_handlers(self) -> int:
        """Connections aiohttp holds a handler for (refused ones never get one)."""
        server = self.runner.server
        assert server is not None
        return len(server.connections)


@asynccontextmanager
async def serving(limits: ConnectionLimits = ROOMY, **overrides: Any) -> AsyncIterator[Served]:
    """The app behind the caps, every log record kept."""
    keeper = RecordKeeper()
    root_logger = logging.getLogger()
    saved_level = root_logger.level
    root_logger.addHandler(keeper)
    root_logger.setLevel(logging.DEBUG)
    with short_state_dir() as root:
        config = replace(
            edge_config(Path(root)), client_body_timeout_ms=BODY_SILENCE_MS, **overrides
        )
        controller = ScriptedController()
        app = create_app(config, controller)  # type: ignore[arg-type]
        runner, site = await start_serving(app, limits)
        try:
            yield Served(Edge(site.port, controller, keeper), site, runner)
        finally:
            await runner.cleanup()
            root_logger.removeHandler(keeper)
            root_logger.setLevel(saved_level)


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):  # 5 s
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


def head(path: str, *lines: str) -> bytes:
    fields = [f"POST {path} HTTP/1.1", "Host: localhost", f"Authorization: Bearer {TOKEN}"]
    fields += ["Content-Type: application/json", *lines]
    return ("\r\n".join(fields) + "\r\n\r\n").encode()


def error_of(path: str, reply: Reply, status: int) -> dict[str, Any]:
    """The error in the shape of the door `path` belongs to: its inner object."""
    assert reply.status == status, reply.body
    body = reply.json()
    if path.startswith("/v1/messages"):
        assert body["type"] == "error" and set(body) == {"type", "error"}
    else:
        assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    return error


def assert_one_log_line(edge: Edge) -> None:
    """The request logged its access line alone: no traceback, no error record (the key watch,
    which finds no controller here, logs its retries beside it)."""
    text = edge.log.text()
    assert "Traceback" not in text, text
    records = [r for r in edge.log.records if r.name.startswith(("aiohttp", "frontdoor"))]
    assert [r.name for r in records if r.name != "frontdoor.auth.watch"] == ["aiohttp.access"]


# -- item 6: a body that never finishes ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_a_body_that_stops_short_gets_408_and_its_socket_is_closed(path: str) -> None:
    async with serving() as served:
        started = asyncio.get_running_loop().time()
        # Half the body, then silence: Edge.send reads until the server closes the socket.
        reply = await served.edge.send(head(path, "Content-Length: 1000") + b'{"model": "so')
        waited = asyncio.get_running_loop().time() - started
        error = error_of(path, reply, 408)
        assert "CLIENT_BODY_TIMEOUT_MS" in error["message"]
        assert reply.headers["connection"] == "close"
        assert BODY_SILENCE_MS / 1000 <= waited < 5
        await until(lambda: served.open_handlers == 0, "the connection is let go")
        assert served.site.counter.total == 0
        assert not [r for r in served.edge.log.records if r.exc_info], served.edge.log.text()


async def test_a_slow_body_that_keeps_arriving_is_read_whole() -> None:
    """The timeout bounds each silence, not the whole upload (as nginx's client_body_timeout)."""
    async with serving() as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.edge.port)
        writer.write(head("/v1/chat/completions", f"Content-Length: {len(CHAT)}"))
        for start in range(0, len(CHAT), 20):
            writer.write(CHAT[start : start + 20])
            await writer.drain()
            await asyncio.sleep(BODY_SILENCE_MS / 1000 / 3)
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ")


# -- item 6: connections per address and in total ------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "cap"),
    [
        (ConnectionLimits(total=10, per_address=2), "MAX_CONNECTIONS_PER_ADDRESS"),
        (ConnectionLimits(total=2, per_address=10), "MAX_CONNECTIONS"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_beyond_a_cap_a_connection_gets_503_in_its_doors_shape_and_is_closed(
    limits: ConnectionLimits, cap: str, path: str
) -> None:
    async with serving(limits) as served:
        held = [await asyncio.open_connection("127.0.0.1", served.edge.port) for _ in range(2)]
        await until(lambda: served.site.counter.total == 2, "both held connections counted")

        refused = await served.edge.request("POST", path, [BEARER], BODIES[path])
        error = error_of(path, refused, 503)
        assert f"({cap})" in error["message"]
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["connection"] == "close"
        assert served.open_handlers == 2  # the refused one never reached aiohttp
        assert served.edge.controller.requests == []

        _, writer = held.pop()
        writer.close()
        await until(lambda: served.site.counter.total == 1, "a held connection let go")
        admitted = await served.edge.request("POST", path, [BEARER], BODIES[path])
        assert admitted.status == 200, admitted.body
        for _, writer in held:
            writer.close()


async def test_a_refused_client_that_sends_nothing_is_answered_and_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connections, "REFUSAL_GRACE_S", 0.1)
    async with serving(ConnectionLimits(total=1, per_address=1)) as served:
        _, holder = await asyncio.open_connection("127.0.0.1", served.edge.port)
        await until(lambda: served.site.counter.total == 1, "the held connection counted")
        reply = await served.edge.send(b"")  # connects, sends nothing, reads until closed
        assert error_of("/", reply, 503)["code"] == "too_many_connections"
        await until(lambda: served.site.counter.refusing == 0, "the refusal is over")
        holder.close()


def test_the_caps_and_the_body_timeout_on_uvloop_as_production_runs_them() -> None:
    """python -m frontdoor runs on uvloop, whose transports are not asyncio's classes."""

    async def scenario() -> None:
        async with serving(ConnectionLimits(total=10, per_address=1)) as served:
            _, holder = await asyncio.open_connection("127.0.0.1", served.edge.port)
            await until(lambda: served.site.counter.total == 1, "the held connection counted")
            refused = await served.edge.request("POST", "/v1/messages", [BEARER], MESSAGES)
            assert error_of("/v1/messages", refused, 503)["type"] == "overloaded_error"
            holder.close()
            await until(lambda: served.site.counter.total == 0, "the held connection let go")
            short = head("/v1/chat/completions", "Content-Length: 1000") + b"{"
            error_of("/v1/chat/completions", await served.edge.send(short), 408)
            admitted = await served.edge.request("POST", "/v1/chat/completions", [BEARER], CHAT)
            assert admitted.status == 200, admitted.body

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


# -- item 7: a body that is not what its Content-Encoding says -----------------------------------

NOT_ENCODED = [
    ("gzip", CHAT),  # not compressed at all
    ("deflate", CHAT),
    ("gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 20),  # a gzip header gone wrong
    ("gzip", gzip.compress(CHAT)[:-12]),  # cut short
    ("gzip", LARGE_CHAT),  # decoded (and refused) in a thread
]


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize(("encoding", "body"), NOT_ENCODED)
async def test_a_body_not_in_its_content_encoding_is_400_naming_it_in_one_log_line(
    path: str, encoding: str, body: bytes
) -> None:
    async with serving() as served:
        encoded = (b"Content-Encoding", encoding.encode())
        reply = await served.edge.request("POST", path, [BEARER, encoded], body)
        error = error_of(path, reply, 400)
        assert f"Content-Encoding: {encoding}" in error["message"]
        if not path.startswith("/v1/messages"):
            assert error["param"] == "Content-Encoding"
        assert_one_log_line(served.edge)


async def test_an_encoding_the_proxy_does_not_take_is_415_naming_it() -> None:
    async with serving() as served:
        for path in BODIES:
            encoded = (b"Content-Encoding", b"br")
            reply = await served.edge.request("POST", path, [BEARER, encoded], CHAT)
            assert "Content-Encoding 'br'" in error_of(path, reply, 415)["message"]
        assert "Traceback" not in served.edge.log.text()


@pytest.mark.parametrize(
    ("encoding", "compress", "body"),
    [
        ("gzip", gzip.compress, CHAT),
        ("deflate", zlib.compress, CHAT),
        ("x-gzip", gzip.compress, CHAT),
        ("gzip", gzip.compress, LARGE_CHAT),
    ],
)
async def test_a_compressed_body_is_served(
    encoding: str, compress: Callable[[bytes], bytes], body: bytes
) -> None:
    encoded_body = compress(body)
    assert (len(encoded_body) >= DECODE_OFF_LOOP_BYTES) == (body is LARGE_CHAT)
    async with serving() as served:
        encoded = (b"Content-Encoding", encoding.encode())
        reply = await served.edge.request(
            "POST", "/v1/chat/completions", [BEARER, encoded], encoded_body
        )
        assert reply.status == 200, reply.body
        sent = served.edge.controller.requests[0].messages[0]
        assert sent.content[0].text == json.loads(body)["messages"][0]["content"]


async def test_a_body_that_decodes_past_the_limit_is_413() -> None:
    async with serving() as served:
        limit = edge_config(Path("unused")).max_body_bytes
        bomb = gzip.compress(b" " * (limit + 1))
        encoded = (b"Content-Encoding", b"gzip")
        reply = await served.edge.request("POST", "/v1/messages", [BEARER, encoded], bomb)
        assert "decodes to more than" in error_of("/v1/messages", reply, 413)["message"]


# -- item 14: Expect: 100-continue ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_expect_continue_over_the_limit_is_refused_before_continuing(path: str) -> None:
    async with serving() as served:
        declared = f"Content-Length: {10 * 1024**3}"
        reply = await served.edge.send(head(path, declared, "Expect: 100-continue"))
        error = error_of(path, reply, 413)  # the first answer: never a 100 Continue
        assert "Content-Length is 10737418240 bytes" in error["message"]
        assert reply.headers["connection"] == "close"


async def test_expect_continue_within_the_limit_continues() -> None:
    async with serving() as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.edge.port)
        writer.write(
            head("/v1/chat/completions", f"Content-Length: {len(CHAT)}", "Expect: 100-continue")
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(CHAT)
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ")


async def test_an_unknown_expectation_is_417() -> None:
    async with serving() as served:
        reply = await served.edge.send(
            head("/v1/messages", "Content-Length: 2", "Expect: something-else", "Connection: close")
            + b"{}"
        )
        assert "only 100-continue" in error_of("/v1/messages", reply, 417)["message"]
