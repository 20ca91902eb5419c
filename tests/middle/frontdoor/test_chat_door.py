"""POST /v1/chat/completions through the real frontdoor over gRPC to a fake controller, with the
official `openai` client: answers, stream shapes, errors before and after the stream committed,
keepalives, disconnects, and the request checks that need no worker (moved from the stack tier).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from common.errors import make_error
from common.events import batched
from frontdoor.core import streaming
from protos import common_pb2 as pb
from tests.middle.door import Door, open_door
from tests.middle.fake_controller import answer

pytestmark = pytest.mark.middle
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def chunk_json(events: list[str]) -> list[dict[str, object]]:
    return [json.loads(e.removeprefix("data: ")) for e in events if e != "data: [DONE]"]


async def test_an_answer_with_usage_headers_and_the_model_that_ran(door: Door) -> None:
    async with door.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="sonnet", messages=[{"role": "user", "content": "hello there"}]
        )
    completion = raw.parse()
    assert completion.choices[0].message.content == "hello"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "claude-sonnet-test"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 5
    assert raw.headers["x-proxy-worker"] == "w1" and raw.headers["x-request-id"]
    [call] = door.controller.calls
    assert call.request.messages[0].content[0].text == "hello there"
    assert call.request.request_id == raw.headers["x-request-id"]


async def test_stream_chunks_follow_the_openai_shape(door: Door) -> None:
    door.controller.script = [
        *answer("")[:2],
        pb.Event(text=pb.TextDelta(text="one ")),
        pb.Event(text=pb.TextDelta(text="two")),
        *answer("")[3:],
    ]
    async with door.openai() as client:
        stream = await client.chat.completions.create(
            model="sonnet",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3
    assert sum(1 for c in chunks if c.usage is not None) == 1
    assert len({c.id for c in chunks}) == 1
    assert {c.model for c in chunks} == {"claude-sonnet-test"}


async def test_raw_sse_ends_with_one_done(door: Door) -> None:
    """Moved from tests/integration/test_completions.py."""
    body = {"model": "sonnet", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    reply = await door.post_json("/v1/chat/completions", body)

    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    assert reply.headers["X-Proxy-Worker"] == "w1"
    assert reply.headers["X-Request-Id"]
    events = reply.sse()
    assert events[-1] == "data: [DONE]"
    assert sum(1 for e in events if e == "data: [DONE]") == 1
    assert not any('"usage"' in e for e in events)  # no include_usage, no usage chunk


@pytest.mark.parametrize("stream", [False, True])
async def test_an_error_before_output_is_an_http_error(door: Door, stream: bool) -> None:
    door.controller.script = [
        pb.Event(started=pb.Started(worker="w1", mode="cli", attempt=1)),
        make_error(pb.UPSTREAM_ERROR, "upstream said 500", upstream_status=500),
    ]
    async with door.openai() as client:
        with pytest.raises(openai.APIStatusError) as caught:
            reply = await client.chat.completions.create(
                model="sonnet",
                messages=USER,
                stream=stream,
            )
            if stream:
                [chunk async for chunk in reply]  # type: ignore[union-attr]
    assert caught.value.status_code == 502
    assert "500" in caught.value.message
    assert caught.value.response.headers["x-proxy-worker"] == "w1"


async def test_an_error_after_output_is_an_error_event_then_done(door: Door) -> None:
    door.controller.script = [
        *answer("partial")[:3],
        make_error(pb.WORKER_CRASHED, "the worker crashed"),
    ]
    body = {"model": "sonnet", "stream": True, "messages": USER}
    reply = await door.post_json("/v1/chat/completions", body)

    assert reply.status == 200
    events = reply.sse()
    assert events[-1] == "data: [DONE]"
    error = json.loads(events[-2].removeprefix("data: "))["error"]
    assert "the worker crashed" in error["message"]
    assert '"finish_reason":"stop"' not in reply.body.decode()
    async with door.openai() as client:
        stream = await client.chat.completions.create(
            model="sonnet",
            messages=USER,
            stream=True,
        )
        with pytest.raises(openai.APIError, match="the worker crashed"):
            [chunk async for chunk in stream]


@pytest.mark.parametrize("stream", [False, True])
async def test_an_end_without_a_finish_is_never_a_success(door: Door, stream: bool) -> None:
    door.controller.script = answer("cut")[:3]
    reply = await door.post_json(
        "/v1/chat/completions", {"model": "sonnet", "stream": stream, "messages": USER}
    )
    if stream:
        events = reply.sse()
        assert reply.status == 200 and events[-1] == "data: [DONE]"
        assert "without a result" in events[-2]
    else:
        assert reply.status == 502
        assert "without a result" in reply.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_broken_controller_call_is_a_503_with_retry_after(door: Door, stream: bool) -> None:
    door.controller.script = []
    door.controller.abort_with = grpc.StatusCode.UNAVAILABLE
    reply = await door.post_json(
        "/v1/chat/completions", {"model": "sonnet", "stream": stream, "messages": USER}
    )
    assert reply.status == 503
    assert reply.headers["Retry-After"]
    assert "controller is unavailable" in reply.json()["error"]["message"]


async def test_a_broken_controller_call_after_output_ends_with_an_error_event(door: Door) -> None:
    door.controller.script = answer("partial")[:3]
    door.controller.abort_with = grpc.StatusCode.INTERNAL
    reply = await door.post_json(
        "/v1/chat/completions", {"model": "sonnet", "stream": True, "messages": USER}
    )
    events = reply.sse()
    assert reply.status == 200
    assert '"content":"partial"' in events[1]
    assert '"error"' in events[-2] and events[-1] == "data: [DONE]"


async def test_silence_commits_the_stream_and_keepalives_flow(
    state_dir: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No output for STREAM_COMMIT_MS: the 200 and the role chunk go out; silences then carry
    keepalive comments until the answer comes (KEEPALIVE_S shortened to 50 ms)."""
    monkeypatch.setattr(streaming, "KEEPALIVE_S", 0.05)
    release = asyncio.Event()
    async with open_door(state_dir, stream_commit_ms=100) as door:  # type: ignore[arg-type]
        door.controller.script = [answer("")[0], release, *answer("late")[1:]]
        body = json.dumps({"model": "sonnet", "stream": True, "messages": USER}).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: Bearer " + door.config.auth_token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        seen = b""
        while seen.count(b": keepalive") < 2:
            seen += await asyncio.wait_for(reader.read(4096), 10)
        assert seen.startswith(b"HTTP/1.1 200")
        assert b'"role":"assistant"' in seen and b"late" not in seen
        release.set()
        seen += await asyncio.wait_for(reader.read(), 10)
        writer.close()
    text = seen.decode()
    assert text.index('"role":"assistant"') < text.index(": keepalive") < text.index("late")
    assert text.index("late") < text.index("data: [DONE]")
    assert text.endswith("\r\n0\r\n\r\n")  # the last chunk of the chunked body: a clean end


@pytest.mark.parametrize("stream", [False, True])
async def test_a_client_that_goes_away_cancels_the_controller_call(
    door: Door, stream: bool
) -> None:
    hold = asyncio.Event()
    door.controller.script = [*answer("first")[:3], hold]
    async with door.openai() as client:
        if stream:
            reply = await client.chat.completions.create(
                model="sonnet",
                messages=USER,
                stream=True,
            )
            first = await reply.__anext__()
            assert first.choices[0].delta.role == "assistant"
            await reply.close()
        else:
            waiting = asyncio.create_task(
                client.chat.completions.create(model="sonnet", messages=USER)
            )
            await door.controller.one_call()
            waiting.cancel()
        call = await door.controller.one_call()
        await asyncio.wait_for(call.cancelled.wait(), 10)


# Moved from tests/integration/test_completions.py: the frontdoor answers these by itself.


async def test_bad_token_is_401(door: Door) -> None:
    async with door.openai(api_key="wrong") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="sonnet", messages=USER)
    assert caught.value.status_code == 401
    assert caught.value.body["type"] == "authentication_error"  # type: ignore[index]
    assert door.controller.calls == []


async def test_unknown_model_is_404(door: Door) -> None:
    async with door.openai() as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


async def test_malformed_json_is_400(door: Door) -> None:
    reply = await door.request("POST", "/v1/chat/completions", b'{"model": "sonnet",')
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "JSON" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b"\xff\xfe not utf-8",
        b'{"model": "sonnet", "messages": "hi"}',
        b"null",
        b'{"model": "sonnet", "messages": [{"role": "user", "content": "half \\ud800 pair"}]}',
        b'{"model": "sonnet", "messages": [{"role": "user", "content": "x"}], "user": "\\uDFFF"}',
    ],
)
async def test_hostile_bodies_are_400_and_the_frontdoor_lives_on(door: Door, body: bytes) -> None:
    reply = await door.request("POST", "/v1/chat/completions", body)
    assert reply.status == 400, reply.body
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert (await door.request("GET", "/health")).status == 200
    assert door.controller.calls == []


async def test_missing_messages_is_400_naming_the_field(door: Door) -> None:
    reply = await door.request("POST", "/v1/chat/completions", b'{"model": "sonnet"}')
    assert reply.status == 400
    assert reply.json()["error"]["param"] == "messages"


async def test_body_over_the_limit_is_413(door: Door) -> None:
    big = json.dumps(
        {"model": "sonnet", "messages": [{"role": "user", "content": "x" * (21 << 20)}]}
    )
    reply = await door.request("POST", "/v1/chat/completions", big.encode())
    assert reply.status == 413
    assert "too large" in reply.json()["error"]["message"]


async def test_the_server_runs_with_the_production_options(state_dir: Path) -> None:
    """The in-process server keeps production's timeouts: a connection that never completes its
    request head is closed after CLIENT_HEADER_TIMEOUT_MS."""
    async with open_door(state_dir, header_timeout_ms=200) as door:
        reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # and no more
        await writer.drain()
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
        assert asyncio.get_running_loop().time() - started < 5
        writer.close()


@pytest.mark.parametrize("stream", [False, True])
async def test_events_that_come_as_one_message_answer_as_single_ones_do(
    door: Door, stream: bool
) -> None:
    started, *rest = answer("pieces")
    pieces = [pb.Event(text=pb.TextDelta(text=t)) for t in ("pie", "ces")]
    door.controller.script = [started, batched([rest[0], *pieces, *rest[2:]])]
    async with door.openai() as client:
        if stream:
            chunks = await client.chat.completions.create(
                model="sonnet", messages=USER, stream=True
            )
            deltas = [c.choices[0].delta.content async for c in chunks if c.choices]
            assert [d for d in deltas if d] == ["pie", "ces"]  # each piece its own chunk
        else:
            completion = await client.chat.completions.create(model="sonnet", messages=USER)
            assert completion.choices[0].message.content == "pieces"
            assert completion.usage is not None and completion.usage.completion_tokens == 3
