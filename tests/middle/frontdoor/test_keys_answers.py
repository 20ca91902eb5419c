"""What a client can act on when its key's policy answers: the real frontdoor over gRPC to the
fake controller, which sends the controller's errors and Started events as scripted. 429 with
Retry-After and the rate-limit headers of each door's API (OpenAI's x-ratelimit-*, Anthropic's
anthropic-ratelimit-*), the same headers on answers admitted under a limit, insufficient_quota
for a spent budget, 403 for a model or pool the key may not use."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from common.errors import make_error
from protos import common_pb2 as pb
from protos import keys_pb2
from tests.middle.door import Door, Reply
from tests.middle.fake_controller import answer

pytestmark = pytest.mark.middle

USER = [{"role": "user", "content": "hi"}]
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": "sonnet", "messages": USER},
    "/v1/responses": {"model": "sonnet", "input": "hi", "store": False},
    "/v1/messages": {"model": "sonnet", "max_tokens": 16, "messages": USER},
}
OPENAI_DOORS = ["/v1/chat/completions", "/v1/responses"]
LIMITS = keys_pb2.KeyLimits(
    limit_requests=10,
    remaining_requests=0,
    reset_requests_ms=1500,
    limit_tokens=20_000,
    remaining_tokens=12_345,
    reset_tokens_ms=42_000,
)
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def rate_limited() -> pb.Event:
    event = make_error(pb.RATE_LIMITED, "key ci: 10 requests per minute", retry_after_ms=1500)
    event.error.key_limits.CopyFrom(LIMITS)
    return event


def admitted(text: str) -> list[pb.Event]:
    script = answer(text)
    script[0].started.key_limits.CopyFrom(LIMITS)
    return script


async def send(door: Door, path: str, stream: bool = False) -> Reply:
    body = {**BODIES[path], "stream": stream}
    return await door.request("POST", path, json.dumps(body).encode())


def openai_limit_headers(reply: Reply) -> dict[str, str]:
    return {k.lower(): v for k, v in reply.headers.items() if k.lower().startswith("x-ratelimit")}


def anthropic_limit_headers(reply: Reply) -> dict[str, str]:
    return {
        k.lower(): v
        for k, v in reply.headers.items()
        if k.lower().startswith("anthropic-ratelimit")
    }


OPENAI_HEADERS = {
    "x-ratelimit-limit-requests": "10",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "1.5s",
    "x-ratelimit-limit-tokens": "20000",
    "x-ratelimit-remaining-tokens": "12345",
    "x-ratelimit-reset-tokens": "42s",
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("path", OPENAI_DOORS)
async def test_a_key_over_its_rate_is_429_with_openais_headers(
    door: Door, path: str, stream: bool
) -> None:
    door.controller.script = [rate_limited()]
    reply = await send(door, path, stream)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "2"
    assert openai_limit_headers(reply) == OPENAI_HEADERS
    assert reply.json()["error"]["code"] == "rate_limit_exceeded"
    assert anthropic_limit_headers(reply) == {}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_key_over_its_rate_is_429_with_anthropics_headers(door: Door, stream: bool) -> None:
    door.controller.script = [rate_limited()]
    reply = await send(door, "/v1/messages", stream)
    assert reply.status == 429
    assert reply.headers["retry-after"] == "2"
    headers = anthropic_limit_headers(reply)
    assert {k: v for k, v in headers.items() if not k.endswith("-reset")} == {
        "anthropic-ratelimit-requests-limit": "10",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-tokens-limit": "20000",
        "anthropic-ratelimit-tokens-remaining": "12345",
    }
    assert RFC3339.fullmatch(headers["anthropic-ratelimit-requests-reset"])
    assert RFC3339.fullmatch(headers["anthropic-ratelimit-tokens-reset"])
    assert reply.json()["error"]["type"] == "rate_limit_error"
    assert openai_limit_headers(reply) == {}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("path", OPENAI_DOORS)
async def test_an_answer_under_a_limit_carries_the_headers_on_openai_doors(
    door: Door, path: str, stream: bool
) -> None:
    door.controller.script = admitted("fine")
    reply = await send(door, path, stream)
    assert reply.status == 200
    assert openai_limit_headers(reply) == OPENAI_HEADERS
    assert "X-Request-Id" in reply.headers


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_under_a_limit_carries_the_headers_on_the_messages_door(
    door: Door, stream: bool
) -> None:
    door.controller.script = admitted("fine")
    reply = await send(door, "/v1/messages", stream)
    assert reply.status == 200
    assert anthropic_limit_headers(reply)["anthropic-ratelimit-tokens-remaining"] == "12345"
    assert openai_limit_headers(reply) == {}


async def test_only_configured_limits_and_none_without_a_key_policy(door: Door) -> None:
    door.controller.script = answer("no limits")
    plain = await send(door, "/v1/chat/completions")
    assert openai_limit_headers(plain) == {}
    script = answer("requests only")
    script[0].started.key_limits.CopyFrom(
        keys_pb2.KeyLimits(limit_requests=5, remaining_requests=4, reset_requests_ms=59)
    )
    door.controller.script = script
    reply = await send(door, "/v1/chat/completions")
    assert openai_limit_headers(reply) == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "4",
        "x-ratelimit-reset-requests": "59ms",
    }


BUDGET = "key ci: its daily token budget (1000) is spent; it renews at 2026-01-02T00:00:00Z"


@pytest.mark.parametrize("path", OPENAI_DOORS)
async def test_a_spent_budget_is_insufficient_quota_on_openai_doors(door: Door, path: str) -> None:
    door.controller.script = [make_error(pb.QUOTA_EXHAUSTED, BUDGET, retry_after_ms=3_600_000)]
    reply = await send(door, path)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "3600"
    error = reply.json()["error"]
    assert (error["type"], error["code"], error["message"]) == (
        "insufficient_quota",
        "insufficient_quota",
        BUDGET,
    )


async def test_a_spent_budget_is_a_rate_limit_error_on_the_messages_door(door: Door) -> None:
    door.controller.script = [make_error(pb.QUOTA_EXHAUSTED, BUDGET, retry_after_ms=3_600_000)]
    reply = await send(door, "/v1/messages")
    assert reply.status == 429
    assert reply.headers["retry-after"] == "3600"
    assert reply.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": BUDGET},
    }


DENIED = "key ci may not use model family opus (policy models: sonnet)"


@pytest.mark.parametrize("path", [*OPENAI_DOORS, "/v1/messages"])
async def test_a_model_the_key_may_not_use_is_403(door: Door, path: str) -> None:
    door.controller.script = [make_error(pb.PERMISSION_DENIED, DENIED)]
    reply = await send(door, path)
    assert reply.status == 403
    body = reply.json()
    if path == "/v1/messages":
        assert body == {"type": "error", "error": {"type": "permission_error", "message": DENIED}}
    else:
        assert (body["error"]["type"], body["error"]["message"]) == ("permission_error", DENIED)
    assert "Retry-After" not in reply.headers
