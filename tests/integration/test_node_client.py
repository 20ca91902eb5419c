"""The official `openai` Node SDK (pinned by `make clients`) against an `api` worker and a `cli`
worker (the real pinned CLI), both on the mock upstream: chat completions with and without
streaming, a function tool round trip, the Responses API with and without streaming, and a
wrong key. Each case is one run of tests/clients/openai_sdk.mjs, which prints what the SDK
handed back as JSON."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.clients import node, openai_node_dir, script
from tests.mock_scenarios import FN_ARGS, FN_PREAMBLE, tool_answer
from tests.mock_upstream import INPUT_TOKENS, OUTPUT_TOKENS, echo_reply
from tests.stack import TOKEN, Stack

pytestmark = pytest.mark.stack


@pytest.fixture(params=["api", "cli"])
def stack(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Stack:
    return stacks[str(request.param)]


def sdk(stack: Stack, case: str) -> dict[str, Any]:
    """Run one case of the Node script; its last stdout line is the JSON result."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(stack.state_dir),
        "OPENAI_NODE_DIR": openai_node_dir(),
        "PROXY_BASE_URL": f"{stack.base_url}/v1",
        "PROXY_TOKEN": TOKEN,
    }
    done = subprocess.run(
        [node(), script("openai_sdk.mjs"), case],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"node {case} failed ({done.returncode}):\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"node {case} printed nothing:\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def test_chat_completion(stack: Stack) -> None:
    result = sdk(stack, "chat")
    assert result["object"] == "chat.completion"
    assert result["content"] == echo_reply("hello from node")
    assert result["role"] == "assistant" and result["finish_reason"] == "stop"
    usage = result["usage"]
    assert usage["completion_tokens"] == OUTPUT_TOKENS
    assert usage["prompt_tokens"] >= INPUT_TOKENS
    assert usage["total_tokens"] == usage["prompt_tokens"] + OUTPUT_TOKENS


def test_chat_completion_stream(stack: Stack) -> None:
    result = sdk(stack, "chat_stream")
    assert "".join(result["deltas"]) == echo_reply("stream from node")
    assert len(result["deltas"]) >= 2, "the answer arrives in pieces"
    assert result["finishes"] == ["stop"]
    assert result["usage"]["completion_tokens"] == OUTPUT_TOKENS


def test_function_tool_round_trip(stack: Stack) -> None:
    result = sdk(stack, "chat_tools")
    first = result["first"]
    assert first["finish_reason"] == "tool_calls" and first["content"] == FN_PREAMBLE
    [call] = first["calls"]
    assert call["type"] == "function" and call["name"] == "get_weather"
    assert call["arguments"] == FN_ARGS[0] and call["id"]
    assert result["second"] == {"finish_reason": "stop", "content": tool_answer(["18C"])}


def test_responses(stack: Stack) -> None:
    result = sdk(stack, "responses")
    assert result["object"] == "response" and result["status"] == "completed"
    assert result["output_text"] == echo_reply("responses from node")
    assert result["output"] == ["message"]
    assert result["usage"]["output_tokens"] == OUTPUT_TOKENS


def test_responses_stream(stack: Stack) -> None:
    result = sdk(stack, "responses_stream")
    kinds = result["kinds"]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.output_item.done" in kinds
    assert result["status"] == "completed"
    assert result["output_text"] == echo_reply("streamed responses from node")
    tool = result["tool"]
    assert tool["output"] == ["message", "function_call"]
    assert tool["name"] == "get_weather" and tool["arguments"] == FN_ARGS[0]
    assert json.loads(tool["streamed_arguments"]) == FN_ARGS[0]


def test_a_wrong_key_is_an_authentication_error(stack: Stack) -> None:
    result = sdk(stack, "wrong_key")
    assert result["raised"] == "AuthenticationError" and result["authentication_error"] is True
    assert result["status"] == 401
