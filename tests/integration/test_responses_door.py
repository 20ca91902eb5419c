"""The OpenAI Responses API door (POST /v1/responses), driven by the official `openai` client
against an `api` worker and a `cli` worker (the real pinned CLI), both on the mock upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, Response

from tests.mock_scenarios import FN_ARGS, FN_PREAMBLE, tool_answer
from tests.mock_upstream import (
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    THINKING_TEXT,
    THOUGHT_ANSWER,
    echo_reply,
)
from tests.stack import TOKEN, Stack

pytestmark = pytest.mark.stack
WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location"],
    },
    "strict": False,
}


@pytest.fixture(params=["api", "cli"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stack(kind: str, stacks: dict[str, Stack]) -> Stack:
    return stacks[kind]


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=stack.base_url + "/v1", api_key=TOKEN, max_retries=0, timeout=60
    ) as sdk:
        yield sdk


def test_text_answer(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="sonnet",
        instructions="Be brief.",
        input="hello responses",
        metadata={"ticket": "7"},
        max_output_tokens=300,
    )

    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed"
    assert response.model.startswith("claude-")
    assert response.output_text == echo_reply("hello responses")
    [message] = response.output
    assert message.type == "message" and message.role == "assistant"
    assert message.status == "completed"
    assert response.usage is not None
    assert response.usage.output_tokens == OUTPUT_TOKENS
    assert response.usage.input_tokens >= INPUT_TOKENS
    assert response.usage.total_tokens == response.usage.input_tokens + OUTPUT_TOKENS
    assert response.metadata == {"ticket": "7"}
    assert response.instructions == "Be brief." and response.max_output_tokens == 300


def test_items_input(client: openai.OpenAI) -> None:
    items: Any = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"role": "user", "content": "items door"},
    ]
    response = client.responses.create(model="sonnet", input=items)
    assert response.output_text == echo_reply("items door")


def test_function_call_and_the_follow_up(client: openai.OpenAI) -> None:
    question = "SCN:fn_call:get_weather"
    first = client.responses.create(model="sonnet", input=question, tools=[WEATHER])

    kinds = [item.type for item in first.output]
    assert kinds == ["message", "function_call"]
    assert first.output_text == FN_PREAMBLE
    call = first.output[1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.status == "completed" and call.call_id
    assert json.loads(call.arguments) == FN_ARGS[0]

    final = client.responses.create(
        model="sonnet",
        input=[
            {"role": "user", "content": question},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},
        ],
        tools=[WEATHER],
    )
    assert final.output_text == tool_answer(["18C"])
    assert [item.type for item in final.output] == ["message"]


def test_stream_text(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="sonnet", input="stream door", stream=True))

    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == echo_reply("stream door")
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == echo_reply("stream door")
    assert completed.response.usage is not None
    assert completed.response.usage.output_tokens == OUTPUT_TOKENS


def test_stream_helper_with_a_function_call(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="sonnet", input="SCN:fn_call:get_weather", tools=[WEATHER]
    ) as stream:
        events = list(stream)
        final: Response = stream.get_final_response()

    arguments = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(arguments) >= 2 and json.loads("".join(arguments)) == FN_ARGS[0]
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert json.loads(done.arguments) == FN_ARGS[0]
    assert [item.type for item in final.output] == ["message", "function_call"]
    call = final.output[1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == FN_ARGS[0]


def test_json_schema_format(client: openai.OpenAI, kind: str) -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    prompt = "SCN:json" if kind == "api" else "SCN:structured:forty-two"
    response = client.responses.create(
        model="sonnet",
        input=prompt,
        text={"format": {"type": "json_schema", "name": "a", "schema": schema, "strict": True}},
    )
    expected = {"answer": "mock"} if kind == "api" else {"answer": "forty-two"}
    assert json.loads(response.output_text) == expected
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema"


def test_reasoning(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="sonnet", input="SCN:think how much?", reasoning={"effort": "low"}
    )
    reasoning, message = response.output
    assert reasoning.type == "reasoning"
    assert [s.text for s in reasoning.summary] == [THINKING_TEXT]
    assert message.type == "message" and response.output_text == THOUGHT_ANSWER

    with client.responses.stream(
        model="sonnet", input="SCN:think how much?", reasoning={"effort": "high"}
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    summary = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
    assert "".join(summary) == THINKING_TEXT
    assert events[-1].type == "response.completed"
    assert [i.type for i in final.output] == ["reasoning", "message"]
    assert final.output_text == THOUGHT_ANSWER
