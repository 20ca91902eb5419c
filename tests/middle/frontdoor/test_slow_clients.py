"""A streaming client that stops reading is dropped, and its answer is cancelled upstream.

The real app on a real port over a controller that answers endlessly; the client sends its
request on a raw socket and never reads a byte.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from frontdoor.app import create_app
from frontdoor.core import streaming
from protos import common_pb2 as pb
from tests.middle.frontdoor_edge import TOKEN, edge_config
from tests.middle.inprocess import short_state_dir

pytestmark = pytest.mark.middle

CHUNK = "x" * 65_536


class FloodCall:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[pb.Event]:
        yield pb.Event(started=pb.Started(worker="w1", mode="api"))
        while True:
            yield pb.Event(text=pb.TextDelta(text=CHUNK))
            await asyncio.sleep(0)

    def cancel(self) -> None:
        self.cancelled.set()


class FloodController:
    def __init__(self) -> None:
        self.call = FloodCall()

    def complete(self, request: pb.ChatRequest) -> FloodCall:
        return self.call

    async def close(self) -> None:
        pass


async def test_a_client_that_never_reads_is_dropped_and_its_answer_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streaming, "WRITE_TIMEOUT_S", 0.5)
    with short_state_dir() as root:
        controller = FloodController()
        app = create_app(edge_config(Path(root)), controller)  # type: ignore[arg-type]
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            body = json.dumps(
                {"model": "sonnet", "stream": True, "messages": [{"role": "user", "content": "x"}]}
            ).encode()
            writer.write(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n".encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            # Never read: the server's buffers fill, its writes stall, and it gives up.
            await asyncio.wait_for(controller.call.cancelled.wait(), 20)
            writer.close()
        finally:
            await server.close()
