"""Stored responses: previous_response_id and GET /v1/responses/{id}, through the official
`openai` client, on an `api` worker and a `cli` worker (the real pinned CLI, where a follow-up
continues on the live process that served the response it names)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, Response

from tests.mock_scenarios import FN_ARGS, tool_answer
from tests.mock_upstream import MockUpstream, echo_reply
from tests.stack import TOKEN, Stack, wait_until

pytestmark = pytest.mark.stack
WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
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
    conversation = [texts(m) for m in sent.json["messages"]]
    assert conversation[0][-1] == "I am Ada."
    assert conversation[1:] == [[first.output_text], ["Who am I?"]]
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
