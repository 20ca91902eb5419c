"""Conformance: the real stack with the real pinned CLI against the mock upstream, via `openai`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import openai
import pytest

from common.models import FAMILY_MODELS
from tests.mock_upstream import (
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    MockUpstream,
    echo_reply,
)
from tests.stack import TOKEN, Stack, claude_bin

pytestmark = pytest.mark.stack
PROMPT_TOKENS = INPUT_TOKENS + CACHE_READ_TOKENS + CACHE_WRITE_TOKENS


def ask(stack: Stack, text: str) -> openai.types.chat.ChatCompletion:
    return stack.client().chat.completions.create(
        model="sonnet", messages=[{"role": "user", "content": text}]
    )


def test_non_streaming_answer_and_usage_come_from_upstream(cli_stack: Stack) -> None:
    completion = ask(cli_stack, "hello there")

    assert completion.choices[0].message.content == echo_reply("hello there")
    assert completion.choices[0].finish_reason == "stop"
    # The id the CLI resolves `sonnet` to: claude-sonnet-5 [197], claude-sonnet-5-5 [332].
    assert completion.model.startswith("claude-sonnet-5")
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == OUTPUT_TOKENS
    assert completion.usage.total_tokens == PROMPT_TOKENS + OUTPUT_TOKENS
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == CACHE_READ_TOKENS


def test_streaming_chunks_follow_the_openai_shape(cli_stack: Stack) -> None:
    stream = cli_stack.client().chat.completions.create(
        model="sonnet",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == echo_reply("stream me")
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and chunks[-1] is usage_chunks[0]
    assert usage_chunks[0].choices == []
    assert usage_chunks[0].usage is not None
    assert usage_chunks[0].usage.prompt_tokens == PROMPT_TOKENS
    assert usage_chunks[0].usage.completion_tokens == OUTPUT_TOKENS
    assert len({c.id for c in chunks}) == 1


def test_upstream_500_is_an_error_not_content(cli_stack: Stack) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        ask(cli_stack, "please fail SCN:err500")
    assert caught.value.status_code == 502
    assert "500" in caught.value.message


def test_upstream_500_while_streaming_is_an_http_error(cli_stack: Stack) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        list(
            cli_stack.client().chat.completions.create(
                model="sonnet", messages=[{"role": "user", "content": "SCN:err500"}], stream=True
            )
        )
    assert caught.value.status_code == 502


def test_tool_call_attempt_runs_no_command_in_cli_mode(cli_stack: Stack, tmp_path: Path) -> None:
    marker = tmp_path / "tool-ran"
    completion = ask(cli_stack, f"run it SCN:tool_bash:{marker}")

    assert not marker.exists()
    assert completion.choices[0].message.content == "I will run a command."
    assert completion.choices[0].finish_reason == "stop"


def test_two_workers_both_receive_traffic(cli_stack: Stack) -> None:
    workers = set()
    for n in range(4):
        raw = cli_stack.client().chat.completions.with_raw_response.create(
            model="sonnet", messages=[{"role": "user", "content": f"spread {n}"}]
        )
        workers.add(raw.headers["x-proxy-worker"])
        assert raw.parse().choices[0].message.content == echo_reply(f"spread {n}")
    assert workers == {"1", "2"}


def test_trivial_chat_is_small_upstream(cli_stack: Stack, upstream: MockUpstream) -> None:
    upstream.clear()
    ask(cli_stack, "size probe")
    posts = upstream.message_requests()
    assert len(posts) == 1
    body = posts[0].json
    assert body is not None and body["tools"] == []
    assert posts[0].size < 4096, posts[0].size
    print(f"\nupstream body for a trivial chat: {posts[0].size} bytes")


def test_worker_token_reaches_upstream_only_as_its_own(
    cli_stack: Stack, upstream: MockUpstream
) -> None:
    upstream.clear()
    raw = cli_stack.client().chat.completions.with_raw_response.create(
        model="sonnet", messages=[{"role": "user", "content": "whose token"}]
    )
    worker = raw.headers["x-proxy-worker"]
    auth = upstream.message_requests()[0].headers["authorization"]
    assert auth == f"Bearer sk-ant-oat01-test-{worker}"
    assert TOKEN not in json.dumps(upstream.message_requests()[0].json)


def test_models_and_health(cli_stack: Stack) -> None:
    models = [m.id for m in cli_stack.client().models.list()]
    assert "sonnet" in models and FAMILY_MODELS["sonnet"] in models
    assert cli_stack.client().models.retrieve("claude-code/opus").id == "claude-code/opus"
    with pytest.raises(openai.NotFoundError):
        cli_stack.client().models.retrieve("gpt-4o")
    status, health = cli_stack.get("/health")
    assert status == 200
    assert health["status"] == "ok"
    assert health["workers"]["up"] == 2 and health["workers"]["total"] == 2
    # The token is an admin's: each worker's CLI, the version it answered at start-up.
    version = subprocess.run(
        [claude_bin(), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert health["workers"]["detail"] == [
        {"name": name, "mode": "cli", "state": "up", "cliVersion": version} for name in ("1", "2")
    ]
    _, _, public = cli_stack.request("GET", "/health", headers={"Authorization": ""})
    assert json.loads(public)["workers"] == {"up": 2, "total": 2}  # no credentials: no detail


def test_a_large_answer_arrives_whole_streamed_and_not(cli_stack: Stack) -> None:
    size = 300_000
    whole = ask(cli_stack, f"SCN:big:{size}").choices[0].message.content or ""
    assert len(whole) == size and whole.startswith("0123456789")
    stream = cli_stack.client().chat.completions.create(
        model="sonnet", messages=[{"role": "user", "content": f"SCN:big:{size}"}], stream=True
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert streamed == whole


def test_an_answer_cut_at_max_tokens_ends_with_length_and_no_continuation(
    cli_stack: Stack, upstream: MockUpstream
) -> None:
    upstream.clear()
    completion = cli_stack.client().chat.completions.create(
        model="sonnet", messages=[{"role": "user", "content": "SCN:maxtok"}], max_tokens=5
    )
    assert completion.choices[0].message.content == "cut short"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == OUTPUT_TOKENS
    posts = upstream.message_requests()
    assert len(posts) == 1  # the CLI's own "continue" turn never went out
    assert posts[0].json is not None and posts[0].json["max_tokens"] == 5
