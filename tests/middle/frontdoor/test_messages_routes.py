"""The Messages door's routes in process, on a scripted controller: shapes of answers and errors
(before and after a stream started, auth, body size, unknown paths) and the routing hints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from common.errors import make_error
from common.models import ModelCatalog
from common.paths import StatePaths
from frontdoor.app import create_app
from frontdoor.config import FrontdoorConfig
from protos import common_pb2 as pb

pytestmark = pytest.mark.middle

TOKEN = "tok"
Client = TestClient[web.Request, web.Application]
BODY: dict[str, Any] = {
    "model": "sonnet",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}


class ScriptedCall:
    def __init__(self, events: Sequence[pb.Event]) -> None:
        self.events = events
        self.cancelled = False

    async def __aiter__(self) -> AsyncIterator[pb.Event]:
        for event in self.events:
            yield event

    def cancel(self) -> None:
        self.cancelled = True


class ScriptedController:
    """Answers every call with `script`; keeps the requests."""

    def __init__(self) -> None:
        self.script: list[pb.Event] = []
        self.requests: list[pb.ChatRequest] = []
        self.calls: list[ScriptedCall] = []

    def complete(self, request: pb.ChatRequest) -> ScriptedCall:
        self.requests.append(request)
        self.calls.append(ScriptedCall(list(self.script)))
        return self.calls[-1]

    async def close(self) -> None:
        pass


@pytest.fixture
def controller() -> ScriptedController:
    return ScriptedController()


@pytest.fixture
async def client(controller: ScriptedController, tmp_path: Path) -> AsyncIterator[Client]:
    config = FrontdoorConfig(
        host="127.0.0.1",
        port=0,
        auth_token=TOKEN,
        paths=StatePaths(tmp_path),
        models=ModelCatalog(),
        max_body_bytes=4096,
        workers_configured=1,
        stream_commit_ms=15_000,
    )
    app = create_app(config, controller)  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def started() -> pb.Event:
    return pb.Event(started=pb.Started(worker="w1", mode="api"))


def text(value: str) -> pb.Event:
    return pb.Event(text=pb.TextDelta(text=value))


def finish() -> pb.Event:
    return pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet-test"))


async def post(client: Client, body: Any, **headers: str) -> tuple[int, Any, Any]:
    headers = {"x-api-key": TOKEN, **headers}
    response = await client.post("/v1/messages", json=body, headers=headers)
    return response.status, response.headers, await response.json()


def sse_events(raw: str) -> list[tuple[str, Any]]:
    out = []
    for chunk in raw.split("\n\n"):
        if chunk:
            name, data = chunk.split("\n")
            out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


async def test_answer_headers_and_hints(client: Client, controller: ScriptedController) -> None:
    controller.script = [started(), text("hello"), finish()]
    status, headers, body = await post(
        client, BODY, **{"X-Session-Id": "s1", "X-Source": "team-a", "anthropic-version": "x"}
    )
    assert status == 200
    assert headers["X-Proxy-Worker"] == "w1" and headers["X-Request-Id"]
    assert body["id"] == f"msg_{headers['X-Request-Id']}"
    assert body["content"] == [{"type": "text", "text": "hello"}]
    assert body["model"] == "claude-sonnet-test"
    [request] = controller.requests
    assert (request.session_key, request.source) == ("s1", "team-a")
    assert request.request_id == headers["X-Request-Id"]
    assert controller.calls[0].cancelled  # the call is always released


async def test_error_before_output_is_an_http_error(
    client: Client, controller: ScriptedController
) -> None:
    controller.script = [started(), make_error(pb.RATE_LIMITED, "slow down", retry_after_ms=3000)]
    for stream in (False, True):
        status, headers, body = await post(client, {**BODY, "stream": stream})
        assert status == 429 and headers["Retry-After"] == "3"
        assert body == {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": "slow down"},
        }


async def test_error_after_output_is_an_error_event(
    client: Client, controller: ScriptedController
) -> None:
    controller.script = [started(), text("part"), make_error(pb.UPSTREAM_OVERLOADED, "busy")]
    response = await client.post(
        "/v1/messages", json={**BODY, "stream": True}, headers={"x-api-key": TOKEN}
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(await response.text())
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "error",
    ]
    assert events[-1][1]["error"] == {"type": "overloaded_error", "message": "busy"}


async def test_a_lost_worker_without_output(client: Client, controller: ScriptedController) -> None:
    controller.script = [started()]
    status, _, body = await post(client, BODY)
    assert status == 502 and body["error"]["type"] == "api_error"


@pytest.mark.parametrize(
    ("headers", "status", "named"),
    [
        ({"x-api-key": "wrong"}, 401, "the key in the x-api-key header is not valid"),
        ({}, 401, "no key: send Authorization: Bearer <key> or x-api-key: <key>"),
        ({"Authorization": "Bearer wrong"}, 401, "the key in the Authorization header"),
        ({"Authorization": f"Bearer {TOKEN}"}, 200, ""),
    ],
)
async def test_auth(
    client: Client,
    controller: ScriptedController,
    headers: dict[str, str],
    status: int,
    named: str,
) -> None:
    controller.script = [started(), text("x"), finish()]
    response = await client.post("/v1/messages/count_tokens", json=BODY, headers=headers)
    assert response.status == status
    body = await response.json()
    if status == 401:
        assert body["type"] == "error"
        assert body["error"]["type"] == "authentication_error"
        assert named in body["error"]["message"]  # the header the client sent, by its name
    else:
        assert body == {"input_tokens": 1}


async def test_http_errors_on_these_paths_are_anthropic_shaped(client: Client) -> None:
    key = {"x-api-key": TOKEN}
    too_big = await client.post("/v1/messages", data=b"x" * 5000, headers=key)
    assert too_big.status == 413
    assert (await too_big.json())["error"]["type"] == "request_too_large"
    unknown = await client.post("/v1/messages/batches", json=BODY, headers=key)
    assert unknown.status == 404
    assert (await unknown.json())["error"]["type"] == "not_found_error"
    wrong_method = await client.get("/v1/messages", headers=key)
    assert wrong_method.status == 405
    assert (await wrong_method.json())["type"] == "error"
    not_json = await client.post("/v1/messages", data=b"{", headers=key)
    assert (await not_json.json())["error"]["type"] == "invalid_request_error"


async def test_other_paths_keep_the_openai_shape(client: Client) -> None:
    response = await client.post("/v1/chat/completions", json={}, headers={"x-api-key": "no"})
    assert response.status == 401
    body = await response.json()
    assert body["error"]["code"] == "invalid_api_key" and "type" not in body
