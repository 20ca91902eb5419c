"""api mode end to end: the real stack with one `api` worker against the mock Messages API.

Driven by the official `openai` client; every test also checks what reached the upstream.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any, cast

import openai
import pytest
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageFunctionToolCall,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from common.models import FAMILY_MODELS
from tests.mock_scenarios import FN_ARGS, FN_PREAMBLE, JSON_OBJECT_ANSWER, tool_answer
from tests.mock_upstream import (
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    MockUpstream,
    echo_reply,
)
from tests.stack import TOKEN, Stack
from tests.tool_defs import TIME, WEATHER

pytestmark = pytest.mark.stack
API_KEY = "sk-ant-api03-test"
PROMPT_TOKENS = INPUT_TOKENS + CACHE_READ_TOKENS + CACHE_WRITE_TOKENS
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def api_stack(upstream: MockUpstream) -> Iterator[Stack]:
    worker = {"name": "api1", "mode": "api", "api_key": API_KEY}
    stack = Stack({"WORKERS": json.dumps([worker]), "ANTHROPIC_BASE_URL": upstream.base_url})
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def client(api_stack: Stack, upstream: MockUpstream) -> openai.OpenAI:
    upstream.clear()
    return api_stack.client()


def sent(upstream: MockUpstream) -> dict[str, Any]:
    """The body of the one Messages API request the last completion made."""
    [request] = upstream.message_requests()
    assert isinstance(request.json, dict)
    return request.json


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def complete(client: openai.OpenAI, **fields: Any) -> ChatCompletion:
    """One non-streaming completion of `sonnet` (the request is built from plain dicts)."""
    fields.setdefault("model", "sonnet")
    return cast(ChatCompletion, client.chat.completions.create(**fields))


def chunks_of(client: openai.OpenAI, **fields: Any) -> list[ChatCompletionChunk]:
    """Every chunk of one streamed completion of `sonnet`."""
    fields.setdefault("model", "sonnet")
    stream = client.chat.completions.create(stream=True, **fields)
    return list(cast(Iterable[ChatCompletionChunk], stream))


def function_calls(completion: ChatCompletion) -> list[ChatCompletionMessageFunctionToolCall]:
    calls = completion.choices[0].message.tool_calls or []
    assert all(isinstance(c, ChatCompletionMessageFunctionToolCall) for c in calls)
    return cast(list[ChatCompletionMessageFunctionToolCall], calls)


def test_plain_answer_and_usage(client: openai.OpenAI, upstream: MockUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="sonnet",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello api"},
        ],
    )
    completion = raw.parse()

    assert raw.headers["x-proxy-worker"] == "api1"
    assert completion.choices[0].message.content == echo_reply("hello api")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == FAMILY_MODELS["sonnet"]
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == OUTPUT_TOKENS
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == CACHE_READ_TOKENS
    body = sent(upstream)
    assert body["model"] == FAMILY_MODELS["sonnet"]
    assert body["system"] == "Be brief."
    assert body["stream"] is True
    assert body["max_tokens"] == 4096
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hello api"}]}
    ]
    request = upstream.message_requests()[0]
    auth = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    assert auth.endswith(API_KEY)
    assert TOKEN not in request.body.decode()


def finishes(chunks: list[ChatCompletionChunk]) -> list[str]:
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def content(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def tool_deltas(chunks: list[ChatCompletionChunk]) -> list[ChoiceDeltaToolCall]:
    return [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]


def test_streaming_answer(client: openai.OpenAI) -> None:
    chunks = chunks_of(
        client, messages=[user("stream api")], stream_options={"include_usage": True}
    )

    assert chunks[0].choices[0].delta.role == "assistant"
    assert content(chunks) == echo_reply("stream api")
    assert finishes(chunks) == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == PROMPT_TOKENS
    assert {c.model for c in chunks} == {FAMILY_MODELS["sonnet"]}


def test_tool_call_non_streaming(client: openai.OpenAI, upstream: MockUpstream) -> None:
    completion = complete(
        client, messages=[user("weather in Paris? SCN:fn_call:get_weather")], tools=[WEATHER]
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == FN_PREAMBLE
    [call] = function_calls(completion)
    assert call.type == "function" and call.id.startswith("toolu_mock_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == FN_ARGS[0]
    body = sent(upstream)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather in a city",
            "input_schema": WEATHER["function"]["parameters"],
        }
    ]
    assert "tool_choice" not in body


def test_tool_call_streaming_deltas(client: openai.OpenAI) -> None:
    chunks = chunks_of(
        client, messages=[user("SCN:fn_call:get_weather")], tools=[WEATHER], tool_choice="auto"
    )

    deltas = tool_deltas(chunks)
    first, rest = deltas[0], deltas[1:]
    assert first.index == 0 and first.id and first.id.startswith("toolu_mock_")
    assert first.type == "function"
    assert first.function is not None and first.function.name == "get_weather"
    assert len(rest) >= 2, "arguments arrive incrementally"
    assert all(d.index == 0 and d.id is None for d in rest)
    arguments = "".join((d.function.arguments or "") for d in deltas if d.function)
    assert json.loads(arguments) == FN_ARGS[0]
    assert content(chunks) == FN_PREAMBLE
    assert finishes(chunks) == ["tool_calls"]


def test_two_tool_calls_in_one_turn(client: openai.OpenAI) -> None:
    completion = complete(client, messages=[user("SCN:fn_two")], tools=[WEATHER, TIME])
    calls = function_calls(completion)
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert [json.loads(c.function.arguments) for c in calls] == list(FN_ARGS)
    assert len({c.id for c in calls}) == 2
    assert completion.choices[0].finish_reason == "tool_calls"

    chunks = chunks_of(client, messages=[user("SCN:fn_two")], tools=[WEATHER, TIME])
    deltas = tool_deltas(chunks)
    starts = [(d.index, d.function.name) for d in deltas if d.id and d.function]
    assert starts == [(0, "get_weather"), (1, "get_time")]
    arguments = {0: "", 1: ""}
    for d in deltas:
        arguments[d.index] += (d.function.arguments or "") if d.function else ""
    assert [json.loads(arguments[i]) for i in (0, 1)] == list(FN_ARGS)
    assert finishes(chunks) == ["tool_calls"]


def test_follow_up_turn_with_tool_results(client: openai.OpenAI, upstream: MockUpstream) -> None:
    question = user("weather please SCN:fn_call:get_weather")
    first = complete(client, messages=[question], tools=[WEATHER])
    [call] = function_calls(first)
    upstream.clear()

    final = complete(
        client,
        messages=[
            question,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
        ],
        tools=[WEATHER],
    )

    assert final.choices[0].message.content == tool_answer(["18C and sunny"])
    assert final.choices[0].finish_reason == "stop"
    messages = sent(upstream)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [
        {"type": "text", "text": FN_PREAMBLE},
        {"type": "tool_use", "id": call.id, "name": "get_weather", "input": FN_ARGS[0]},
    ]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": call.id, "content": "18C and sunny"}
    ]


def test_image_part_reaches_upstream_as_an_image_block(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    parts = [
        {"type": "text", "text": "what is it? SCN:image"},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]
    completion = complete(client, messages=[{"role": "user", "content": parts}])

    assert completion.choices[0].message.content == "saw 1 images"
    [message] = sent(upstream)["messages"]
    assert message["content"][1] == {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
    }


def test_json_schema_is_a_forced_tool_and_the_answer_is_json(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    completion = complete(
        client,
        messages=[user("biggest city? SCN:json")],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True},
        },
    )

    choice = completion.choices[0]
    assert json.loads(choice.message.content or "") == {"city": "mock", "population": 42}
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    body = sent(upstream)
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
    [tool] = body["tools"]
    assert tool["name"] == "json_response" and tool["input_schema"] == CITY_SCHEMA


def test_json_object_streaming(client: openai.OpenAI) -> None:
    chunks = chunks_of(client, messages=[user("SCN:json")], response_format={"type": "json_object"})

    assert json.loads(content(chunks)) == JSON_OBJECT_ANSWER
    assert tool_deltas(chunks) == []
    assert finishes(chunks) == ["stop"]


def test_remote_image_url_is_400(client: openai.OpenAI, upstream: MockUpstream) -> None:
    parts = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        complete(client, messages=[{"role": "user", "content": parts}])

    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "messages[0].content[1]"  # type: ignore[index]
    assert "FETCH_REMOTE_IMAGES" in caught.value.message
    assert upstream.message_requests() == []


def test_what_cannot_be_honoured_is_400_naming_the_field(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    unknown = {"type": "function", "function": {"name": "nope"}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tools": [WEATHER], "tool_choice": unknown}, "tool_choice"),
        ({"tools": [WEATHER], "response_format": {"type": "json_object"}}, "response_format"),
        ({"temperature": 1.5}, "temperature"),
    ]
    for extra, param in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            complete(client, messages=[user("x")], **extra)
        assert caught.value.body["param"] == param, extra  # type: ignore[index]
    assert upstream.message_requests() == []


def test_upstream_500_is_a_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        complete(client, messages=[user("fail SCN:err500")])
    assert caught.value.status_code == 502
    assert "500" in caught.value.message
    assert API_KEY not in caught.value.message


def test_sampling_stop_and_user_reach_the_upstream(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    complete(
        client,
        model="haiku",
        messages=[user("knobs")],
        temperature=0.5,
        top_p=0.75,
        stop=["END", "STOP"],
        user="user-7",
        max_tokens=321,
    )
    body = sent(upstream)
    assert body["model"] == FAMILY_MODELS["haiku"]
    assert body["temperature"] == 0.5
    assert body["top_p"] == 0.75
    assert body["stop_sequences"] == ["END", "STOP"]
    assert body["metadata"] == {"user_id": "user-7"}
    assert body["max_tokens"] == 321
