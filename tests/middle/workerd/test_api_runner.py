"""workerd/api/runner.py against the mock Messages API: credentials, limits, cancellation."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from common.events import unbatched
from protos import common_pb2 as pb
from tests.mock_upstream import MockUpstream, echo_reply
from workerd.api.runner import OAUTH_BETA, ApiRunner
from workerd.api.upstream import MessagesClient, proxy_for
from workerd.config import WorkerdConfig

pytestmark = pytest.mark.middle

API_KEY = "sk-ant-api03-runner-test"
TOKEN = "sk-ant-oat01-runner-test"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    with MockUpstream() as server:
        yield server


def config(mock: MockUpstream, tmp_path: Path, entry: dict[str, Any], **env: str) -> WorkerdConfig:
    environ = {
        "WORKERS": json.dumps([{"name": "a", "mode": "api", **entry}]),
        "ANTHROPIC_BASE_URL": mock.base_url,
        "STATE_DIR": str(tmp_path),
        **env,
    }
    return WorkerdConfig.from_env(environ, "a")


@pytest.fixture
async def runner(mock: MockUpstream, tmp_path: Path) -> AsyncIterator[ApiRunner]:
    mock.clear()
    api = ApiRunner(config(mock, tmp_path, {"api_key": API_KEY}, SYNC_TIMEOUT_MS="400"))
    yield api
    await api.aclose()


def ask(text: str, stream: bool = True, **fields: Any) -> pb.ChatRequest:
    message = pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text=text)])
    return pb.ChatRequest(
        request_id="r1", model="sonnet", messages=[message], stream=stream, **fields
    )


async def messages(api: ApiRunner, request: pb.ChatRequest) -> list[pb.Event]:
    """What the run sends, message by message (a batch is one)."""
    return [event async for event in api.run(request)]


async def collect(api: ApiRunner, request: pb.ChatRequest) -> list[pb.Event]:
    """The run's events, out of their batches."""
    return [event for message in await messages(api, request) for event in unbatched(message)]


async def wait_for(predicate: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_run_streams_text_usage_and_finish(runner: ApiRunner, mock: MockUpstream) -> None:
    events = await collect(runner, ask("hello", stream=False))

    kinds = [e.WhichOneof("kind") for e in events]
    assert kinds[0] == "model_info" and kinds[-2:] == ["usage", "finish"]
    assert "".join(e.text.text for e in events if e.HasField("text")) == echo_reply("hello")
    [sent] = mock.message_requests()
    assert sent.json is not None and sent.json["stream"] is True
    assert sent.json["model"] == "claude-sonnet-5-5" and sent.json["max_tokens"] == 4096
    assert sent.headers["x-api-key"] == API_KEY and "authorization" not in sent.headers
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert OAUTH_BETA not in sent.headers.get("anthropic-beta", "")
    assert runner.running == 0


async def test_an_oauth_token_is_sent_as_bearer_with_the_beta(
    mock: MockUpstream, tmp_path: Path
) -> None:
    mock.clear()
    api = ApiRunner(config(mock, tmp_path, {"token": TOKEN}))
    try:
        events = await collect(api, ask("oauth"))
    finally:
        await api.aclose()
    assert events[-1].HasField("finish")
    [sent] = mock.message_requests()
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert OAUTH_BETA in sent.headers["anthropic-beta"]
    assert "x-api-key" not in sent.headers


async def test_an_oauth_token_keeps_its_beta_next_to_the_effort_beta(
    mock: MockUpstream, tmp_path: Path
) -> None:
    mock.clear()
    api = ApiRunner(config(mock, tmp_path, {"token": TOKEN}))
    try:
        events = await collect(api, ask("SCN:think hi", reasoning_effort="high"))
    finally:
        await api.aclose()
    assert [e.thinking.signature for e in events if e.HasField("thinking")][-1]
    [sent] = mock.message_requests()
    betas = sent.headers["anthropic-beta"].split(",")
    assert OAUTH_BETA in betas and "effort-2025-11-24" in betas


async def test_no_credential_is_an_auth_error_without_a_call(
    mock: MockUpstream, tmp_path: Path
) -> None:
    mock.clear()
    api = ApiRunner(config(mock, tmp_path, {}))
    [event] = await collect(api, ask("x"))
    assert event.error.code == pb.UPSTREAM_AUTH
    assert mock.message_requests() == []


async def test_an_unsupported_request_is_a_400_without_a_call(
    runner: ApiRunner, mock: MockUpstream
) -> None:
    [event] = await collect(runner, ask("x", temperature=1.8))
    assert event.error.code == pb.INVALID_REQUEST
    assert event.error.param == "temperature"
    assert mock.message_requests() == []


async def test_upstream_errors_become_error_events(runner: ApiRunner) -> None:
    [quota, event] = await collect(runner, ask("SCN:err429:4"))
    assert quota.rate_limit.status == "rejected"  # the refusal's windows come first
    assert quota.rate_limit.windows[0].window == "five_hour"
    assert event.error.code == pb.RATE_LIMITED
    assert event.error.retry_after_ms == 4000
    assert API_KEY not in event.error.message


async def test_the_time_limit_ends_the_run_and_closes_the_stream(
    runner: ApiRunner, mock: MockUpstream
) -> None:
    events = await collect(runner, ask("SCN:hang", stream=False))

    assert events[-1].error.code == pb.TIMEOUT
    assert "400 ms" in events[-1].error.message
    await wait_for(lambda: mock.open_streams == 0)
    assert runner.running == 0


async def test_cancelling_the_run_closes_the_upstream_stream(
    runner: ApiRunner, mock: MockUpstream
) -> None:
    seen: list[pb.Event] = []

    async def consume() -> None:
        async for event in runner.run(ask("SCN:hang")):
            seen.append(event)

    task = asyncio.create_task(consume())
    await wait_for(lambda: bool(seen) and mock.open_streams == 1)
    assert seen[0].HasField("model_info")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: mock.open_streams == 0)
    assert runner.running == 0


async def test_the_client_is_made_once_and_closed(runner: ApiRunner) -> None:
    first = runner.client()
    assert runner.client() is first
    assert (await collect(runner, ask("one")))[-1].HasField("finish")
    assert not first.closed  # its connection pool is open and kept for the next run
    await runner.aclose()
    assert first.closed
    assert runner.client() is not first


def _sse(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


PARTIAL_STREAM = _sse(
    {
        "type": "message_start",
        "message": {
            "id": "msg_cut",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 9, "output_tokens": 1},
        },
    }
) + _sse(
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "half an ans"},
    }
)


ERROR_EVENT = _sse({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})


async def cut_upstream(clean_end: bool, body: bytes = PARTIAL_STREAM) -> asyncio.Server:
    """An upstream that sends `body` (the start of an answer), then ends it or drops the
    socket."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
        await reader.readexactly(int(length.group(1)) if length else 0)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        writer.write(f"{len(body):x}\r\n".encode() + body + b"\r\n")
        if clean_end:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def run_against(
    server: asyncio.Server,
    mock: MockUpstream,
    tmp_path: Path,
    request: pb.ChatRequest,
    batches: bool = False,
) -> list[pb.Event]:
    """The run's events against `server` (its messages as sent, with `batches`)."""
    port = server.sockets[0].getsockname()[1]
    settings = config(mock, tmp_path, {"api_key": API_KEY})
    api = ApiRunner(dataclasses.replace(settings, anthropic_base_url=f"http://127.0.0.1:{port}"))
    try:
        return await (messages if batches else collect)(api, request)
    finally:
        await api.aclose()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("clean_end", [True, False])
async def test_a_stream_cut_short_is_an_upstream_error_after_its_usage(
    mock: MockUpstream, tmp_path: Path, clean_end: bool
) -> None:
    events = await run_against(await cut_upstream(clean_end), mock, tmp_path, ask("x"))

    kinds = [e.WhichOneof("kind") for e in events]
    assert kinds == ["model_info", "text", "usage", "error"]
    assert events[2].usage.input_tokens == 9
    assert events[-1].error.code == pb.UPSTREAM_ERROR
    assert ("ended before" if clean_end else "broke") in events[-1].error.message


async def test_an_error_event_inside_a_200_stream_ends_the_run_with_its_code(
    mock: MockUpstream, tmp_path: Path
) -> None:
    server = await cut_upstream(True, PARTIAL_STREAM + ERROR_EVENT)
    events = await run_against(server, mock, tmp_path, ask("x"))

    kinds = [e.WhichOneof("kind") for e in events]
    assert kinds == ["model_info", "text", "usage", "error"]
    assert events[-1].error.code == pb.UPSTREAM_OVERLOADED
    assert events[-1].error.upstream_status == 529 and "busy" in events[-1].error.message


async def test_an_unreachable_upstream_is_an_upstream_error(
    mock: MockUpstream, tmp_path: Path
) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens on that port now
    settings = config(mock, tmp_path, {"api_key": API_KEY})
    api = ApiRunner(dataclasses.replace(settings, anthropic_base_url=f"http://127.0.0.1:{port}"))
    try:
        [event] = await collect(api, ask("x"))
    finally:
        await api.aclose()
    assert event.error.code == pb.UPSTREAM_ERROR and "cannot reach" in event.error.message
    assert str(port) not in event.error.message


async def test_finished_runs_reuse_one_connection(runner: ApiRunner, mock: MockUpstream) -> None:
    for text in ("one", "two", "three"):
        assert (await collect(runner, ask(text, stream=False)))[-1].HasField("finish")
    peers = {sent.peer for sent in mock.message_requests()}
    assert len(peers) == 1, peers  # the pool kept the connection of each finished stream


def _text_delta(value: str) -> bytes:
    delta = {"type": "text_delta", "text": value}
    return _sse({"type": "content_block_delta", "index": 0, "delta": delta})


WHOLE_ANSWER_AT_ONCE = (
    PARTIAL_STREAM
    + _text_delta("wer")
    + _text_delta(", whole.")
    + _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}})
    + _sse({"type": "message_stop"})
)


@pytest.mark.parametrize("stream", [False, True])
async def test_deltas_read_together_are_joined_for_a_whole_answer_only(
    mock: MockUpstream, tmp_path: Path, stream: bool
) -> None:
    server = await cut_upstream(True, WHOLE_ANSWER_AT_ONCE)
    events = await run_against(server, mock, tmp_path, ask("x", stream=stream))

    texts = [e.text.text for e in events if e.HasField("text")]
    assert "".join(texts) == "half an answer, whole."
    # One read: one message for an answer given whole; a stream keeps the upstream's pieces.
    assert texts == (["half an ans", "wer", ", whole."] if stream else ["half an answer, whole."])


async def test_a_proxy_in_the_worker_entrys_env_carries_the_calls(
    mock: MockUpstream, tmp_path: Path
) -> None:
    mock.clear()
    entry = {"api_key": API_KEY, "env": {"HTTP_PROXY": mock.base_url}}
    settings = config(mock, tmp_path, entry)
    # Nothing answers at this address: only the proxy (the mock, which serves absolute-form
    # requests as a forward proxy would pass them on) can.
    unreachable = "http://upstream.invalid:9"
    api = ApiRunner(dataclasses.replace(settings, anthropic_base_url=unreachable))
    try:
        events = await collect(api, ask("through a proxy"))
    finally:
        await api.aclose()
    assert events[-1].HasField("finish")
    [sent] = mock.message_requests()
    assert sent.headers["host"] == "upstream.invalid:9"


def test_the_proxy_is_the_one_for_the_apis_scheme() -> None:
    env = {"HTTP_PROXY": "http://plain:1", "https_proxy": "http://tls:2"}
    assert proxy_for("https://api.anthropic.com", env, {}) == "http://tls:2"
    assert proxy_for("", env, {}) == "http://tls:2"  # the default address is https
    assert proxy_for("http://127.0.0.1:9", env, {}) == "http://plain:1"
    assert proxy_for("http://127.0.0.1:9", {"ALL_PROXY": "http://any:3"}, {}) == "http://any:3"
    assert proxy_for("https://api.anthropic.com", {}, {}) == ""


def test_the_environments_proxy_comes_after_the_workers_and_honours_no_proxy() -> None:
    process = {"HTTPS_PROXY": "http://corp:8080", "NO_PROXY": "localhost,.internal"}
    assert proxy_for("https://api.anthropic.com", {}, process) == "http://corp:8080"
    worker = {"HTTPS_PROXY": "http://own:1"}
    assert proxy_for("https://api.anthropic.com", worker, process) == "http://own:1"
    assert proxy_for("https://llm.internal", {}, process) == ""
    assert proxy_for("https://a.b.internal:8443", {}, process) == ""
    assert proxy_for("https://localhost", {}, process) == ""
    assert proxy_for("https://notinternal", {}, process) == "http://corp:8080"
    assert proxy_for("https://x", {}, {"https_proxy": "http://p:1", "no_proxy": "*"}) == ""


@pytest.mark.parametrize("stream", [False, True])
async def test_what_one_read_gave_goes_as_one_message(
    mock: MockUpstream, tmp_path: Path, stream: bool
) -> None:
    server = await cut_upstream(True, WHOLE_ANSWER_AT_ONCE)
    [message] = await run_against(server, mock, tmp_path, ask("x", stream=stream), batches=True)

    kinds = [e.WhichOneof("kind") for e in message.batch.events]
    pieces = ["text"] * (3 if stream else 1)  # a stream's pieces stay apart inside the batch
    assert kinds == ["model_info", *pieces, "usage", "finish"]


async def test_a_burst_of_streams_reaches_the_upstream_together() -> None:
    """The worker's connection pool has no cap of its own (the controller's admission bounds
    what runs): 120 streams at once are all at the upstream before any of them is answered."""
    burst = 120
    arrived: list[web.Request] = []
    all_in = asyncio.Event()

    async def hold(request: web.Request) -> web.StreamResponse:
        arrived.append(request)
        if len(arrived) == burst:
            all_in.set()
        await all_in.wait()  # a pool capped below `burst` never gets here: the test times out
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", hold)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = MessagesClient(f"http://127.0.0.1:{port}", api_key=API_KEY)
    try:
        streams = await asyncio.wait_for(
            asyncio.gather(*(client.stream({"model": "m"}, ()) for _ in range(burst))), 10
        )
        for stream in streams:
            stream.close()
    finally:
        all_in.set()  # whatever did arrive is answered: the server stops at once
        await client.aclose()
        await runner.cleanup()
    assert len(arrived) == burst
