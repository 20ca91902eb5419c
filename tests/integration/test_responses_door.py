"""The OpenAI Responses API door (POST /v1/responses, GET /v1/responses/{id}), driven by the
official `openai` client against an `api` worker and a `cli` worker (the real pinned CLI), both on
the mock upstream: answers, streams, function calls, reasoning, and stored responses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import Response

from tests import tool_defs
from tests.mock_scenarios import FN_ARGS, FN_PREAMBLE, tool_answer
from tests.mock_upstream import (
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    THINKING_TEXT,
    THOUGHT_ANSWER,
    MockUpstream,
    conversation,
    echo_reply,
)
from tests.stack import TOKEN, Stack, wait_until
from tests.tool_defs import responses_tool

pytestmark = pytest.mark.stack
WEATHER = responses_tool(tool_defs.WEATHER)


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


# Stored responses: previous_response_id and GET /v1/responses/{id} (on the cli worker, a
# follow-up continues on the live process that served the response it names).


def create(client: openai.OpenAI, **fields: Any) -> tuple[Response, str]:
    """One response and its request id."""
    raw = client.responses.with_raw_response.create(model="sonnet", **fields)
    return raw.parse(), raw.headers["X-Request-Id"]


def served(stack: Stack, request_id: str) -> str:
    """How the cli worker served a request (its `session` event)."""

    def logged() -> list[dict[str, Any]]:
        return [e for e in stack.events("session") if e["request_id"] == request_id]

    wait_until(lambda: bool(logged()), 10, "the turn's session event")
    return str(logged()[0]["served"])


def texts(message: dict[str, Any]) -> list[str]:
    content = message["content"]
    if isinstance(content, str):
        return [content]
    return [block.get("text", block.get("type")) for block in content]


def test_a_follow_up_continues_the_stored_conversation(
    client: openai.OpenAI, stack: Stack, kind: str, upstream: MockUpstream
) -> None:
    first, _ = create(client, instructions="Be brief.", input="I am Ada.")
    before = len(upstream.message_requests())
    second, request_id = create(
        client, instructions="Be brief.", input="Who am I?", previous_response_id=first.id
    )

    assert second.output_text == echo_reply("Who am I?")
    assert second.previous_response_id == first.id
    [sent] = upstream.message_requests()[before:]
    assert sent.json is not None
    turns = [texts(m) for m in conversation(sent.json)]
    assert turns[0][-1] == "I am Ada."
    assert turns[1:] == [[first.output_text], ["Who am I?"]]
    if kind == "cli":
        assert served(stack, request_id) == "live"  # only the new turn was written
    third, _ = create(client, input="And now?", previous_response_id=second.id)
    assert third.output_text == echo_reply("And now?")


def test_a_stored_response_reads_back(client: openai.OpenAI) -> None:
    created, _ = create(client, input="keep me", metadata={"ticket": "9"})
    read = client.responses.retrieve(created.id)

    assert read.id == created.id and read.status == "completed"
    assert read.output_text == echo_reply("keep me") and read.metadata == {"ticket": "9"}
    assert read.to_dict()["store"] is True
    assert read.model_dump() == created.model_dump()


def test_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    created, _ = create(client, input="forget me", store=False)

    assert created.to_dict()["store"] is False
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.retrieve(created.id)
    assert missing.value.code == "not_found"
    with pytest.raises(openai.BadRequestError) as refused:
        create(client, input="and?", previous_response_id=created.id)
    assert refused.value.code == "previous_response_not_found"
    assert refused.value.param == "previous_response_id"


def test_a_function_call_answered_by_its_id(client: openai.OpenAI, upstream: MockUpstream) -> None:
    """The client sends back only the function's output, naming the response that called it."""
    first, _ = create(client, input="SCN:fn_call:get_weather", tools=[WEATHER])
    call = first.output[-1]
    assert call.type == "function_call" and json.loads(call.arguments) == FN_ARGS[0]

    before = len(upstream.message_requests())
    final, _ = create(
        client,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C"}],
        previous_response_id=first.id,
        tools=[WEATHER],
    )

    assert final.output_text == tool_answer(["18C"])
    sent = upstream.message_requests()[before:]
    assert sent and sent[-1].json is not None
    results = [
        block
        for message in sent[-1].json["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert [r["tool_use_id"] for r in results] == [call.call_id]


def test_a_streamed_response_is_stored_before_it_completes(client: openai.OpenAI) -> None:
    with client.responses.stream(model="sonnet", input="stream and keep") as stream:
        for _ in stream:
            pass
        streamed = stream.get_final_response()

    # The completed event was written after the store: the id works at once.
    follow_up, _ = create(client, input="next", previous_response_id=streamed.id)
    assert follow_up.output_text == echo_reply("next")
    assert client.responses.retrieve(streamed.id).output_text == echo_reply("stream and keep")
