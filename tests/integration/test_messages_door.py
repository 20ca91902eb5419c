"""The Anthropic Messages API door (/v1/messages, /v1/messages/count_tokens), driven by the
official `anthropic` client against an `api` worker and a `cli` worker (the real pinned CLI),
both on the mock upstream."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic.types import CacheControlEphemeralParam, Message, MessageParam

from common.models import FAMILY_MODELS
from tests import tool_defs
from tests.mock_scenarios import FN_ARGS, FN_PREAMBLE, tool_answer
from tests.mock_upstream import (
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    PIXEL_PNG,
    REDACTED_DATA,
    STOPSEQ_TEXT,
    THINKING_SIGNATURE,
    THINKING_TEXT,
    THOUGHT_ANSWER,
    MockUpstream,
    echo_reply,
)
from tests.stack import TOKEN, Stack, claude_bin, wait_until
from tests.tool_defs import messages_tool
from workerd.cli.version import parse_version

pytestmark = pytest.mark.stack
WEATHER = messages_tool(tool_defs.WEATHER)
GATEWAY_DISCOVERY_SEEN = (2, 1, 332)  # the CLI as a client lists a gateway's models


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
    its system prompt, its two dozen tools, thinking and beta fields all pass the door. With
    gateway discovery on it reads GET /v1/models?limit=1000 at start-up and keeps the list its
    /model picker offers (labels from `display_name`) in its cache."""
    upstream.clear()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CLAUDE_CONFIG_DIR": str(tmp_path / ".claude"),
        "ANTHROPIC_BASE_URL": stack.base_url,
        "ANTHROPIC_AUTH_TOKEN": TOKEN,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1",
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
    cache = tmp_path / ".claude/cache/gateway-models.json"
    version = parse_version(
        subprocess.run([claude_bin(), "--version"], capture_output=True, text=True).stdout
    )
    if version is not None and version >= GATEWAY_DISCOVERY_SEEN:  # docs/claude-cli.md
        picker = json.loads(cache.read_text())
        offered = {model["id"]: model.get("display_name") for model in picker["models"]}
        assert offered[FAMILY_MODELS["opus"]] == "Claude Opus 5.5"  # its default, by name
        assert {FAMILY_MODELS[family] for family in ("sonnet", "haiku")} <= set(offered)
    else:
        assert not cache.exists()  # [197]: no gateway discovery


# --- fidelity on api workers: cache_control, metadata, stop sequences, redacted thinking -------

EPHEMERAL: CacheControlEphemeralParam = {"type": "ephemeral"}


@pytest.fixture
def api_client(stacks: dict[str, Stack]) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=stacks["api"].base_url, api_key=TOKEN, max_retries=0, timeout=60
    ) as sdk:
        yield sdk


def sent(upstream: MockUpstream, marker: str) -> dict[str, Any]:
    """The body of the newest upstream request that carries `marker`."""
    bodies = [r.json for r in upstream.message_requests() if marker.encode() in r.body]
    assert bodies, f"no upstream request carries {marker!r}"
    body = bodies[-1]
    assert isinstance(body, dict)
    return body


def test_cache_control_reaches_the_upstream_at_each_place(
    api_client: anthropic.Anthropic, upstream: MockUpstream
) -> None:
    image = base64.b64encode(PIXEL_PNG).decode()
    message = api_client.messages.create(
        model="sonnet",
        max_tokens=200,
        system=[
            {
                "type": "text",
                "text": "door-cache rules",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            },
            {"type": "text", "text": "today"},
        ],
        tools=[{**WEATHER, "cache_control": EPHEMERAL}],
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": image},
                        "cache_control": EPHEMERAL,
                    },
                    {
                        "type": "text",
                        "text": "SCN:fn_call:get_weather door-cache",
                        "cache_control": EPHEMERAL,
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": FN_PREAMBLE},
                    {
                        "type": "tool_use",
                        "id": "toolu_door_cache",
                        "name": "get_weather",
                        "input": FN_ARGS[0],
                        "cache_control": EPHEMERAL,
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_door_cache",
                        "content": "18C",
                        "cache_control": {"type": "ephemeral", "ttl": "5m"},
                    }
                ],
            },
        ],
    )
    assert message.content[0].text == tool_answer(["18C"])  # type: ignore[union-attr]
    body = sent(upstream, "door-cache")
    assert body["system"] == [
        {
            "type": "text",
            "text": "door-cache rules",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
        {"type": "text", "text": "today"},
    ]
    assert [tool.get("cache_control") for tool in body["tools"]] == [EPHEMERAL]
    first, assistant, results = body["messages"]
    assert [b["type"] for b in first["content"]] == ["image", "text"]
    assert [b.get("cache_control") for b in first["content"]] == [EPHEMERAL, EPHEMERAL]
    assert [b.get("cache_control") for b in assistant["content"]] == [None, EPHEMERAL]
    assert results["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_door_cache",
            "content": "18C",
            "cache_control": {"type": "ephemeral", "ttl": "5m"},
        }
    ]


def test_cache_control_is_accepted_and_ignored_on_cli_workers(
    stacks: dict[str, Stack], upstream: MockUpstream
) -> None:
    """Accepted, and the request served as without them (the CLI places its own breakpoints)."""
    body = {
        "model": "sonnet",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "door-cli-cache rules", "cache_control": EPHEMERAL}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello door-cli-cache", "cache_control": EPHEMERAL}
                ],
            }
        ],
    }
    status, reply = raw_post(stacks["cli"], "/v1/messages", json.dumps(body).encode())
    assert status == 200, reply
    assert reply["content"][0]["text"] == echo_reply("hello door-cli-cache")
    assert "door-cli-cache rules" in json.dumps(sent(upstream, "hello door-cli-cache")["system"])


def test_cache_control_on_chat_completion_parts_reaches_the_upstream(
    stacks: dict[str, Stack], upstream: MockUpstream
) -> None:
    """OpenRouter-style `cache_control` on an OpenAI content part, on an api worker."""
    part = {"type": "text", "text": "hello door-chat-cache", "cache_control": EPHEMERAL}
    body = {"model": "sonnet", "messages": [{"role": "user", "content": [part]}]}
    status, reply = raw_post(stacks["api"], "/v1/chat/completions", json.dumps(body).encode())
    assert status == 200, reply
    assert reply["choices"][0]["message"]["content"] == echo_reply("hello door-chat-cache")
    [message] = sent(upstream, "door-chat-cache")["messages"]
    assert message["content"] == [
        {"type": "text", "text": "hello door-chat-cache", "cache_control": EPHEMERAL}
    ]


def test_metadata_user_id_reaches_the_upstream(
    api_client: anthropic.Anthropic, upstream: MockUpstream
) -> None:
    message = api_client.messages.create(
        model="sonnet",
        max_tokens=50,
        messages=[user("door-metadata")],
        metadata={"user_id": "door-user-42"},
    )
    assert message.content[0].text == echo_reply("door-metadata")  # type: ignore[union-attr]
    assert sent(upstream, "door-metadata")["metadata"] == {"user_id": "door-user-42"}


def test_stop_sequence_stop(client: anthropic.Anthropic, upstream: MockUpstream) -> None:
    message = client.messages.create(
        model="sonnet",
        max_tokens=50,
        messages=[user("SCN:stopseq door-stop")],
        stop_sequences=["three", "four"],
    )
    assert sent(upstream, "door-stop")["stop_sequences"] == ["three", "four"]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "three")
    assert message.content[0].text == STOPSEQ_TEXT  # type: ignore[union-attr]

    with client.messages.stream(
        model="sonnet",
        max_tokens=50,
        messages=[user("SCN:stopseq door-stop-stream")],
        stop_sequences=["three"],
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    [delta] = [e for e in events if e.type == "message_delta"]
    assert (delta.delta.stop_reason, delta.delta.stop_sequence) == ("stop_sequence", "three")
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "three")
    assert final.content[0].text == STOPSEQ_TEXT  # type: ignore[union-attr]


def test_stop_sequence_stop_on_the_chat_door_is_stop(stack: Stack) -> None:
    for stream in (False, True):
        body = {
            "model": "sonnet",
            "messages": [user("SCN:stopseq door-chat-stop")],
            "stop": ["three"],
            "stream": stream,
        }
        status, _, reply = stack.request("POST", "/v1/chat/completions", json.dumps(body).encode())
        assert status == 200, reply
        if stream:
            chunks = [
                json.loads(line[len(b"data: ") :])
                for line in reply.splitlines()
                if line.startswith(b"data: {")
            ]
            reasons = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
            assert [r for r in reasons if r] == ["stop"]
        else:
            assert json.loads(reply)["choices"][0]["finish_reason"] == "stop"


def test_redacted_thinking_round_trip(
    api_client: anthropic.Anthropic, upstream: MockUpstream
) -> None:
    question = user("SCN:redacted door-redacted")
    first = api_client.messages.create(
        model="sonnet", max_tokens=2000, messages=[question], thinking={"type": "adaptive"}
    )
    assert [b.type for b in first.content] == ["thinking", "redacted_thinking", "text"]
    thinking, redacted, answer = first.content
    assert thinking.type == "thinking" and thinking.signature == THINKING_SIGNATURE
    assert redacted.type == "redacted_thinking" and redacted.data == REDACTED_DATA
    assert answer.type == "text" and answer.text == THOUGHT_ANSWER

    with api_client.messages.stream(
        model="sonnet", max_tokens=2000, messages=[question], thinking={"type": "adaptive"}
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    starts = [e.content_block for e in events if e.type == "content_block_start"]
    assert [b.type for b in starts] == ["thinking", "redacted_thinking", "text"]
    assert starts[1].data == REDACTED_DATA  # type: ignore[union-attr]
    assert not [e for e in events if e.type == "content_block_delta" and e.index == 1]
    assert [b.type for b in final.content] == ["thinking", "redacted_thinking", "text"]

    api_client.messages.create(
        model="sonnet",
        max_tokens=2000,
        thinking={"type": "adaptive"},
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            user("and again door-redacted-back"),
        ],
    )
    body = sent(upstream, "door-redacted-back")
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": THINKING_TEXT, "signature": THINKING_SIGNATURE},
            {"type": "redacted_thinking", "data": REDACTED_DATA},
            {"type": "text", "text": THOUGHT_ANSWER},
        ],
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            {"messages": [user("SCN:redacted door-openai")], "reasoning_effort": "high"},
        ),
        (
            "/v1/chat/completions",
            {
                "messages": [user("SCN:redacted door-openai")],
                "reasoning_effort": "high",
                "stream": True,
            },
        ),
        ("/v1/responses", {"input": "SCN:redacted door-openai", "reasoning": {"effort": "high"}}),
    ],
)
def test_redacted_thinking_never_shows_on_the_openai_doors(
    stacks: dict[str, Stack], path: str, body: dict[str, Any]
) -> None:
    raw = json.dumps({"model": "sonnet", **body}).encode()
    status, _, reply = stacks["api"].request("POST", path, raw)
    assert status == 200, reply
    assert THINKING_TEXT[:10].encode() in reply  # the thinking the door shows came through
    assert THOUGHT_ANSWER.encode() in reply
    assert REDACTED_DATA.encode() not in reply
    assert b"redacted" not in reply


@pytest.mark.parametrize(("kind", "marker"), [("api", "SCN:json"), ("cli", "SCN:structured:42")])
def test_output_config_format_is_the_structured_answer_path(
    stacks: dict[str, Stack], kind: str, marker: str
) -> None:
    """pydantic-ai's NativeOutput, LangChain's json_schema: `output_config.format` reaches the
    same path as response_format json_schema on both worker kinds."""
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    body = {
        "model": "sonnet",
        "max_tokens": 500,
        "messages": [{"role": "user", "content": marker}],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    status, reply = raw_post(stacks[kind], "/v1/messages", json.dumps(body).encode())
    assert status == 200, reply
    answer = json.loads(reply["content"][0]["text"])
    assert set(answer) == {"answer"}
    if kind == "cli":
        assert answer == {"answer": "42"}


def test_the_model_list_in_the_anthropic_shape(client: anthropic.Anthropic) -> None:
    """What Claude Code's model picker reads (`GET /v1/models?limit=1000`), paged as Anthropic
    pages it; older ids clients send still resolve."""
    page = client.models.list(limit=1000)
    ids = [model.id for model in page.data]
    assert "sonnet" in ids and FAMILY_MODELS["sonnet"] in ids and not page.has_more
    sonnet = next(model for model in page.data if model.id == FAMILY_MODELS["sonnet"])
    assert (sonnet.type, sonnet.display_name) == ("model", "Claude Sonnet 5.5")
    first = client.models.list(limit=2)
    assert [model.id for model in first.data] == ids[:2] and first.has_more
    after = client.models.list(limit=2, after_id=ids[1])
    assert [model.id for model in after.data] == ids[2:4]
    assert client.models.retrieve("claude-opus-4-7").id == "claude-opus-4-7"
