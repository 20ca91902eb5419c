"""Monitoring over HTTP with the frontdoor and the controller's real Admin service in process
(tests/middle/chain.py): the event log's filters and bounds, the live feed, drain and resume.
Moved from tests/integration/test_monitoring.py: they need the controller's services, not its
process (the stack tier keeps restarts, processes, kills and secrets in logs and argv)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.middle.chain import Chain, open_chain
from tests.middle.door import TOKEN, Door, Front

pytestmark = pytest.mark.middle


@pytest.fixture
async def chain(state_dir: Path) -> AsyncIterator[Chain]:
    async with open_chain(state_dir, {"a": "cli", "b": "cli"}) as opened:
        yield opened


async def chat(front: Front, text: str, stream: bool = False, source: str = "") -> tuple[str, str]:
    """(request id, worker) of one completion."""
    headers = {"X-Source": source} if source else {}
    body = {"model": "sonnet", "stream": stream, "messages": [{"role": "user", "content": text}]}
    reply = await front.post_json("/v1/chat/completions", body, **headers)
    assert reply.status == 200, reply.body
    return reply.headers["X-Request-Id"], reply.headers["X-Proxy-Worker"]


async def get_ok(front: Front, path: str) -> Any:
    reply = await front.request("GET", path)
    assert reply.status == 200, reply.body
    return reply.json()


async def assert_openai_error(front: Front, method: str, path: str, status: int) -> Any:
    reply = await front.request(method, path, b"" if method == "POST" else None)
    assert reply.status == status, reply.body
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


async def test_events_filters_and_bounds(chain: Chain) -> None:
    front = chain.front
    await chat(front, "before")
    first = await get_ok(front, "/events?limit=1")
    since = first["lastId"]
    request_id, _ = await chat(front, "for events")
    later = await get_ok(front, f"/events?since_id={since}&limit=1000")
    assert all(e["id"] > since for e in later["events"])
    mine = [e["type"] for e in later["events"] if e["data"].get("request_id") == request_id]
    assert mine[0] == "request" and mine[-1] == "complete" and "started" in mine
    ids = [e["id"] for e in later["events"]]
    assert ids == sorted(ids) and later["lastId"] == ids[-1]
    completes = await get_ok(front, "/events?type=complete&limit=1")
    assert len(completes["events"]) == 1
    assert all(e["type"] == "complete" for e in completes["events"])
    assert completes["counts"]["complete"] == 2
    for query in ("since_id=abc", "since_id=-1", "limit=0", "limit=5000", "limit=x", "type=a%20b"):
        await assert_openai_error(front, "GET", f"/events?{query}", 400)


async def read_feed(front: Front, path: str, frames: list[str], connected: asyncio.Event) -> None:
    """Lines of GET `path` into `frames` until our probe's complete event."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(front.base_url + path, headers=headers) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            frames.append(line)
            connected.set()
            if '"type":"complete"' in line and '"source":"feed-probe"' in line:
                return


async def test_stream_replays_then_delivers_a_live_complete_event(chain: Chain) -> None:
    for n in range(2):
        await chat(chain.front, f"history {n}")
    frames: list[str] = []
    connected = asyncio.Event()
    reader = asyncio.get_running_loop().create_task(
        read_feed(chain.front, "/stream?replay=3", frames, connected)
    )
    await asyncio.wait_for(connected.wait(), 10)
    request_id, worker = await chat(chain.front, "streamed for the feed", True, "feed-probe")
    await asyncio.wait_for(reader, 10)

    assert frames[:2] == ["retry: 3000", ": connected"]
    events = [json.loads(f.removeprefix("data: ")) for f in frames if f.startswith("data: ")]
    replayed = [e for e in events if e["data"].get("request_id") != request_id]
    assert len(replayed) == 3
    mine = [e for e in events if e["data"].get("request_id") == request_id]
    assert [e["type"] for e in mine if e["id"]][-1] == "complete"
    chunks = "".join(e["data"]["text"] for e in mine if e["type"] == "chunk")
    assert chunks == f"{worker} says: streamed for the feed"
    assert any(f == f"id: {mine[-1]['id']}" for f in frames)


async def test_a_stop_ends_the_live_feed_at_once(chain: Chain) -> None:
    """/stream has no answer to finish: it ends when the stop begins, not after the drain
    (SHUTDOWN_DRAIN_MS, 10 s here), so an open dashboard never holds a stop."""
    frames: list[str] = []
    connected = asyncio.Event()
    reader = asyncio.get_running_loop().create_task(
        read_feed(chain.front, "/stream?replay=0", frames, connected)
    )
    await asyncio.wait_for(connected.wait(), 10)
    assert chain.front.config.shutdown_drain_ms == 10_000

    await asyncio.wait_for(chain.http.close(), 5)
    await asyncio.wait_for(reader, 5)  # the feed ended: the response is complete
    assert frames[:2] == ["retry: 3000", ": connected"]


async def test_drain_and_resume_over_http(chain: Chain) -> None:
    front = chain.front
    reply = await front.request("POST", "/admin/workers/a/drain", b"")
    assert reply.status == 200, reply.body
    assert reply.json()["worker"]["draining"] is True
    assert {(await chat(front, f"avoid a {n}"))[1] for n in range(3)} == {"b"}
    reply = await front.request("POST", "/admin/workers/a/resume", b"")
    assert reply.status == 200 and reply.json()["worker"]["draining"] is False
    error = await assert_openai_error(front, "POST", "/admin/workers/nope/drain", 404)
    assert (error["param"], error["code"]) == ("name", "worker_not_found")
    reply = await front.request(
        "POST", "/admin/workers/a/drain", b"", headers={"Authorization": "Bearer x"}
    )
    assert reply.status == 401
    assert chain.workers["a"].prompts == []


# These need no controller at all: the frontdoor answers them (a fake controller behind it).


async def test_stream_needs_the_token(door: Door) -> None:
    reply = await door.request("GET", "/stream", headers={"Authorization": ""})
    assert reply.status == 401 and "invalid_api_key" in reply.body.decode()
    assert door.controller.watches == []


async def test_history_rejects_an_unknown_window(door: Door) -> None:
    error = await assert_openai_error(door, "GET", "/metrics/history?window=2h", 400)
    assert error["param"] == "window" and error["type"] == "invalid_request_error"
