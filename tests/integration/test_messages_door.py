"""The Anthropic Messages API door (/v1/messages, /v1/messages/count_tokens), driven by the
official `anthropic` client against an `api` worker and a `cli` worker (the real pinned CLI),
both on the mock upstream."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic.types import Message, MessageParam, ToolParam

from tests.mock_scenarios import FN_ARGS, FN_PREAMBLE, tool_answer
from tests.mock_upstream import (
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    MockUpstream,
    echo_reply,
)
from tests.stack import TOKEN, Stack, claude_bin, wait_until

pytestmark = pytest.mark.stack
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location"],
    },
}


@pytest.fixture(params=["api", "cli"])
def stack(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Stack:
    return stacks[str(request.param)]


@pytest.fixture
def client(stack: Stack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=stack.base_url, api_key=TOKEN, max_retries=0, timeout=60
    ) as sdk:
        yield sdk


def user(text: str) -> MessageParam:
    return {"role": "user", "content": text}


def raw_post(stack: Stack, path: str, body: bytes, **headers: str) -> tuple[int, Any]:
    status, _, reply = stack.request("POST", path, body, headers)
    return status, json.loads(reply)


def test_text_answer(client: anthropic.Anthropic, stack: Stack) -> None:
    message = client.messages.create(
        model="sonnet",
        max_tokens=200,
        system="Be brief.",
        messages=[user("hello door")],
        extra_headers={"anthropic-version": "2023-06-01", "X-Session-Id": "door-text"},
    )

    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model.startswith("claude-")  # the model that ran, not the alias
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == echo_reply("hello door")  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.output_tokens == OUTPUT_TOKENS
    assert message.usage.input_tokens == INPUT_TOKENS
    assert message.usage.cache_read_input_tokens == CACHE_READ_TOKENS
    assert message.usage.cache_creation_input_tokens == CACHE_WRITE_TOKENS


def test_tool_use_and_the_follow_up(client: anthropic.Anthropic) -> None:
    question = user("SCN:fn_call:get_weather")
    first = client.messages.create(
        model="sonnet",
        max_tokens=200,
        messages=[question],
        tools=[WEATHER],
        extra_headers={"X-Session-Id": "door-tools"},
    )

    assert first.stop_reason == "tool_use"
    text, use = first.content
    assert text.type == "text" and text.text == FN_PREAMBLE
    assert use.type == "tool_use" and use.name == "get_weather"
    assert use.id.startswith("toolu_") and use.input == FN_ARGS[0]

    final = client.messages.create(
        model="sonnet",
        max_tokens=200,
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": use.id,
                        "content": [{"type": "text", "text": "18C"}],
                    }
                ],
            },
        ],
        tools=[WEATHER],
        extra_headers={"X-Session-Id": "door-tools"},
    )

    assert final.stop_reason == "end_turn"
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == tool_answer(["18C"])  # type: ignore[union-attr]


def test_stream_text(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="sonnet", max_tokens=200, messages=[user("stream door")]
    ) as stream:
        pieces = list(stream.text_stream)
        final: Message = stream.get_final_message()

    assert "".join(pieces) == echo_reply("stream door")
    assert final.content[0].text == echo_reply("stream door")  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.model.startswith("claude-")
    assert final.usage.output_tokens == OUTPUT_TOKENS
    assert final.usage.input_tokens == INPUT_TOKENS


def test_stream_tool_use(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="sonnet", max_tokens=200, messages=[user("SCN:fn_call:get_weather")], tools=[WEATHER]
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()

    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    starts = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert starts == ["text", "tool_use"]
    fragments = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert len(fragments) >= 2 and json.loads("".join(fragments)) == FN_ARGS[0]
    assert final.stop_reason == "tool_use"
    [use] = [b for b in final.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == FN_ARGS[0]


def test_client_disconnect_mid_stream_ends_the_upstream_stream(
    client: anthropic.Anthropic, upstream: MockUpstream
) -> None:
    with client.messages.stream(
        model="sonnet", max_tokens=200, messages=[user("SCN:slow:100")]
    ) as stream:
        next(iter(stream.text_stream))
        assert upstream.open_streams >= 1
    wait_until(lambda: upstream.open_streams == 0, 15, "the upstream stream to close")


def test_count_tokens(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model="sonnet", messages=[user("hi")])
    long = client.messages.count_tokens(
        model="sonnet", system="x" * 400, messages=[user("y" * 4000)], tools=[WEATHER]
    )
    assert short.input_tokens >= 1
    assert long.input_tokens > 1000


def test_wrong_key(stack: Stack) -> None:
    with anthropic.Anthropic(base_url=stack.base_url, api_key="wrong", max_retries=0) as sdk:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            sdk.messages.create(model="sonnet", max_tokens=10, messages=[user("hi")])
    assert caught.value.status_code == 401
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"


def test_bearer_token_is_accepted(stack: Stack) -> None:
    body = {"model": "sonnet", "max_tokens": 50, "messages": [user("bearer")]}
    status, reply = raw_post(stack, "/v1/messages", json.dumps(body).encode())
    assert status == 200, reply
    assert reply["content"][0]["text"] == echo_reply("bearer")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"model": "sonnet", "max_tokens": 5, "top_k": 5, "messages": []}, "messages"),
        (
            {"model": "sonnet", "max_tokens": 5, "top_k": 5, "messages": [user("hi")]},
            "top_k",
        ),
        (
            {
                "model": "sonnet",
                "max_tokens": 5,
                "messages": [user("hi")],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "tools.0.type",
        ),
    ],
)
def test_bad_requests_are_anthropic_shaped(stack: Stack, body: Any, param: str) -> None:
    status, reply = raw_post(stack, "/v1/messages", json.dumps(body).encode())
    assert status == 400
    assert reply["type"] == "error"
    assert reply["error"]["type"] == "invalid_request_error"
    assert param in reply["error"]["message"]


def test_bad_request_through_the_sdk(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="sonnet",
            max_tokens=10,
            messages=[user("hi")],
            extra_body={"max_tokens": None},
        )
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "invalid_request_error"


def test_lone_surrogate_and_unknown_model(stack: Stack) -> None:
    lone = b'[{"role": "user", "content": "\\ud800"}]'
    raw = b'{"model": "sonnet", "max_tokens": 5, "messages": ' + lone + b"}"
    status, reply = raw_post(stack, "/v1/messages", raw)
    assert status == 400 and reply["error"]["type"] == "invalid_request_error"
    body = {"model": "gpt-unknown", "max_tokens": 5, "messages": [user("hi")]}
    status, reply = raw_post(stack, "/v1/messages", json.dumps(body).encode())
    assert status == 404 and reply["error"]["type"] == "not_found_error"


def test_upstream_refusal_is_an_anthropic_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="sonnet", max_tokens=10, messages=[user("SCN:err400")])
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("hello from claude code", echo_reply("hello from claude code")),
        # a call of its own Read tool with arguments it refuses: the error goes back as a result
        ("SCN:fn_call:Read", "tool said: <tool_use_error>InputValidationError"),
    ],
)
def test_claude_code_as_a_client(
    stack: Stack, upstream: MockUpstream, tmp_path: Path, prompt: str, answer: str
) -> None:
    """The real CLI pointed at the proxy (ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN), `-p` mode:
    its system prompt, its two dozen tools, thinking and beta fields all pass the door."""
    upstream.clear()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CLAUDE_CONFIG_DIR": str(tmp_path / ".claude"),
        "ANTHROPIC_BASE_URL": stack.base_url,
        "ANTHROPIC_AUTH_TOKEN": TOKEN,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    result = subprocess.run(
        [claude_bin(), "-p", prompt, "--model", "sonnet"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(answer)
    first = upstream.message_requests()[0].json or {}
    assert len(first.get("tools") or []) > 10
