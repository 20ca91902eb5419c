"""frontdoor/shutdown.py: on SIGTERM running answers get a grace, then end in their door's shape.

The real app on a real port (aiohttp's TestServer stops it as run_app does on SIGTERM: stop
accepting, on_shutdown, wait for handlers) over a controller whose answers never finish.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from frontdoor.app import create_app
from frontdoor.core.event_feed import EventFeed
from frontdoor.shutdown import STOPPING_MESSAGE, Shutdown
from protos import common_pb2 as pb
from tests.middle.frontdoor_edge import TOKEN, edge_config
from tests.middle.inprocess import short_state_dir

pytestmark = pytest.mark.middle


class EndlessCall:
    """Starts an answer and never finishes it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cancelled = False

    async def __aiter__(self) -> AsyncIterator[pb.Event]:
        yield pb.Event(started=pb.Started(worker="w1", mode="cli"))
        if self.text:
            yield pb.Event(text=pb.TextDelta(text=self.text))
        await asyncio.Event().wait()

    def cancel(self) -> None:
        self.cancelled = True


class EndlessController:
    def __init__(self, text: str) -> None:
        self.text = text
        self.called = asyncio.Event()

    def complete(self, request: pb.ChatRequest) -> EndlessCall:
        self.called.set()
        return EndlessCall(self.text)

    async def close(self) -> None:
        pass


async def test_a_cut_feed_ends_with_the_error_after_the_drain() -> None:
    shutdown = Shutdown(drain_s=0.05)
    feed = EventFeed(EndlessCall("hi"), shutdown)
    started, text = await feed.next(), await feed.next()
    assert started is not None and started.HasField("started")
    assert text is not None and text.text.text == "hi"
    shutdown.begin()
    error = await asyncio.wait_for(feed.next(), 5)
    assert (
        error is not None
        and error.error.code == pb.NO_WORKER_AVAILABLE
        and error.error.message == STOPPING_MESSAGE
    )
    assert await feed.next() is None
    await feed.close()


async def test_a_closed_feed_is_not_cut() -> None:
    shutdown = Shutdown(drain_s=0.0)
    feed = EventFeed(EndlessCall(""), shutdown)
    await feed.close()
    shutdown.cut_all()  # nothing registered: no error
    assert feed.buffered == 0


async def run_until_stopped(
    path: str, body: dict[str, Any], text: str
) -> tuple[int, bytes, dict[str, str]]:
    """One request that is answering when the server stops; its status, body and headers."""
    with short_state_dir() as root:
        config = dataclasses.replace(edge_config(Path(root)), shutdown_drain_ms=200)
        controller = EndlessController(text)
        server = TestServer(create_app(config, controller), host="127.0.0.1")  # type: ignore[arg-type]
        await server.start_server()
        headers = {"Authorization": f"Bearer {TOKEN}", "x-api-key": TOKEN}

        async def stop_once_called() -> None:
            await controller.called.wait()
            await server.close()

        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}{path}"
            stopping = asyncio.create_task(stop_once_called())
            async with session.post(url, json=body, headers=headers) as response:
                data = await asyncio.wait_for(response.read(), 10)
            await stopping
            return response.status, data, dict(response.headers)


async def test_an_openai_stream_ends_with_an_error_event_and_done() -> None:
    body = {"model": "sonnet", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    status, data, _ = await run_until_stopped("/v1/chat/completions", body, "partial")
    assert status == 200
    events = [line[6:] for line in data.split(b"\n\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    assert json.loads(events[-2])["error"]["message"] == STOPPING_MESSAGE
    assert b"partial" in data  # what was answered before the stop reached the client


async def test_an_anthropic_stream_ends_with_an_error_event() -> None:
    body = {
        "model": "sonnet",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    status, data, _ = await run_until_stopped("/v1/messages", body, "partial")
    assert status == 200
    last = data.strip().split(b"\n\n")[-1]
    assert last.startswith(b"event: error")
    assert json.loads(last.split(b"data: ", 1)[1])["error"]["type"] == "overloaded_error"


async def test_a_waiting_request_gets_a_503_not_a_reset() -> None:
    body = {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}
    status, data, headers = await run_until_stopped("/v1/chat/completions", body, "")
    assert status == 503
    assert json.loads(data)["error"]["message"] == STOPPING_MESSAGE
    assert headers["Retry-After"] == "5"
