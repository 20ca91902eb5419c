"""Reasoning through both doors, on an `api` worker and a `cli` worker (the real pinned CLI),
both on the mock upstream's `think` scenario: the effort reaches the upstream body, the model's
thinking comes back as `reasoning_content` (OpenAI chat, never its signature) and as signed
thinking blocks (Anthropic messages), streaming and not."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, cast

import anthropic
import pytest
from anthropic.types import ThinkingBlockParam, ToolParam, ToolUseBlockParam
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.mock_upstream import (
    THINKING_SIGNATURE,
    THINKING_TEXT,
    THOUGHT_ANSWER,
    MockUpstream,
    conversation,
)
from tests.stack import TOKEN, Stack

pytestmark = pytest.mark.stack
PROMPT = [{"role": "user", "content": "SCN:think how much is 6 times 7?"}]


@pytest.fixture(params=["api", "cli"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stack(kind: str, stacks: dict[str, Stack]) -> Stack:
    return stacks[kind]


def upstream_body(upstream: MockUpstream) -> dict[str, Any]:
    body = upstream.message_requests()[-1].json
    assert isinstance(body, dict)
    return body


def assert_thinking_asked(upstream: MockUpstream, kind: str, effort: str) -> None:
    request = upstream.message_requests()[-1]
    body = upstream_body(upstream)
    assert body["thinking"]["type"] == "adaptive"
    assert body["output_config"]["effort"] == effort
    assert "effort-2025-11-24" in request.headers.get("anthropic-beta", "")


# --- OpenAI chat completions -----------------------------------------------------------------


def chat(stack: Stack, **fields: Any) -> Any:
    fields.setdefault("model", "sonnet")
    fields.setdefault("messages", PROMPT)
    return stack.client().chat.completions.create(**fields)


def test_openai_reasoning_content(stack: Stack, kind: str, upstream: MockUpstream) -> None:
    upstream.clear()
    completion = cast(ChatCompletion, chat(stack, reasoning_effort="low"))
    assert_thinking_asked(upstream, kind, "low")
    message = completion.choices[0].message
    assert getattr(message, "reasoning_content", None) == THINKING_TEXT
    assert message.content == THOUGHT_ANSWER
    assert THINKING_SIGNATURE not in completion.model_dump_json()


def test_openai_streamed_reasoning_content(stack: Stack, kind: str, upstream: MockUpstream) -> None:
    upstream.clear()
    stream = chat(stack, reasoning_effort="high", stream=True)
    chunks = list(cast(Iterable[ChatCompletionChunk], stream))
    assert_thinking_asked(upstream, kind, "high")
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    reasoning = [getattr(d, "reasoning_content", None) for d in deltas]
    assert "".join(r for r in reasoning if r) == THINKING_TEXT
    assert "".join(d.content or "" for d in deltas) == THOUGHT_ANSWER
    first_text = next(i for i, d in enumerate(deltas) if d.content)
    assert all(r is None for r in reasoning[first_text:])  # thinking came first
    assert not any(THINKING_SIGNATURE in c.model_dump_json() for c in chunks)


def test_openai_reasoning_effort_none_thinks_not(stack: Stack, upstream: MockUpstream) -> None:
    upstream.clear()
    completion = cast(ChatCompletion, chat(stack, reasoning_effort="none"))
    assert upstream_body(upstream).get("thinking") is None
    message = completion.choices[0].message
    assert getattr(message, "reasoning_content", None) is None
    assert message.content == THOUGHT_ANSWER


# --- Anthropic messages ----------------------------------------------------------------------


@pytest.fixture
def client(stack: Stack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=stack.base_url, api_key=TOKEN, max_retries=0, timeout=60
    ) as sdk:
        yield sdk


def test_api_worker_haiku_4_5_thinks_with_a_budget(
    stacks: dict[str, Stack], upstream: MockUpstream
) -> None:
    upstream.clear()  # the `haiku` alias is adaptive since claude-haiku-5-5; 4.5 takes a budget
    model = "claude-haiku-4-5-20251001"
    completion = cast(ChatCompletion, chat(stacks["api"], model=model, reasoning_effort="medium"))
    body = upstream_body(upstream)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert "output_config" not in body
    assert getattr(completion.choices[0].message, "reasoning_content", None) == THINKING_TEXT


def test_anthropic_thinking_blocks(
    client: anthropic.Anthropic, kind: str, upstream: MockUpstream
) -> None:
    upstream.clear()
    message = client.messages.create(
        model="sonnet",
        max_tokens=2000,
        messages=[{"role": "user", "content": PROMPT[0]["content"]}],
        thinking={"type": "adaptive"},
        extra_body={"output_config": {"effort": "medium"}},
    )
    assert_thinking_asked(upstream, kind, "medium")
    assert [block.type for block in message.content] == ["thinking", "text"]
    thinking = message.content[0]
    assert thinking.type == "thinking"
    assert (thinking.thinking, thinking.signature) == (THINKING_TEXT, THINKING_SIGNATURE)


def test_anthropic_streamed_thinking_blocks(
    client: anthropic.Anthropic, kind: str, upstream: MockUpstream
) -> None:
    upstream.clear()
    with client.messages.stream(
        model="sonnet",
        max_tokens=20000,
        messages=[{"role": "user", "content": PROMPT[0]["content"]}],
        thinking={"type": "enabled", "budget_tokens": 16384},
    ) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert_thinking_asked(upstream, kind, "high")
    assert "thinking" in kinds and "signature" in kinds
    assert [block.type for block in message.content] == ["thinking", "text"]
    thinking = message.content[0]
    assert thinking.type == "thinking"
    assert (thinking.thinking, thinking.signature) == (THINKING_TEXT, THINKING_SIGNATURE)
    text = message.content[1]
    assert text.type == "text" and text.text == THOUGHT_ANSWER


WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
}


def test_anthropic_thinking_goes_back_with_tool_results(
    client: anthropic.Anthropic, kind: str, upstream: MockUpstream
) -> None:
    """The client sends the signed thinking of its tool-call turn back: an api worker passes it
    on (and keeps thinking on); a cli worker leaves it out of the CLI's history."""
    upstream.clear()
    thinking: ThinkingBlockParam = {
        "type": "thinking",
        "thinking": THINKING_TEXT,
        "signature": THINKING_SIGNATURE,
    }
    call: ToolUseBlockParam = {
        "type": "tool_use",
        "id": "toolu_think_1",
        "name": "get_weather",
        "input": {"location": "Paris"},
    }
    message = client.messages.create(
        model="sonnet",
        max_tokens=2000,
        tools=[WEATHER],
        thinking={"type": "adaptive"},
        messages=[
            {"role": "user", "content": PROMPT[0]["content"]},
            {"role": "assistant", "content": [thinking, call]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_think_1", "content": "18C"}
                ],
            },
        ],
    )
    assert message.content[-1].type == "text"
    body = upstream_body(upstream)
    assert body["thinking"]["type"] == "adaptive"
    if kind == "api":
        assistant = conversation(body)[1]
        assert assistant["content"][0] == thinking
