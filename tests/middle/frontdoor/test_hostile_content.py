"""What a request may contain, checked once at the door (issue 21): every door refuses with a 400
naming the field, and nothing reaches the controller, a request a worker or the upstream could
not take: JSON nested too deep or holding numbers that are not finite (in the body and in
tool-call arguments, JSON held in a string), more messages than MAX_MESSAGES, ids longer than
gRPC carries back, tool names the upstream refuses, images where the Anthropic API takes none.
A large body is prepared off the event loop: /health answers meanwhile."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest

from frontdoor.chat import routes as chat_routes
from frontdoor.chat.translate import to_chat_request
from protos import common_pb2 as pb
from tests.middle.door import Door, open_door

pytestmark = pytest.mark.middle

CHAT, RESPONSES, MESSAGES = "/v1/chat/completions", "/v1/responses", "/v1/messages"
DEEP = 500  # parses here (Python's own limit is about 1000), fails a recursive walk further on
PNG = (  # one pixel
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6"
    "kgAAAABJRU5ErkJggg=="
)


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "sonnet", "messages": list(messages), **fields}


def responses(*items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "sonnet", "input": list(items), **fields}


def anthropic(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "sonnet", "max_tokens": 50, "messages": list(messages), **fields}


USER = {"role": "user", "content": "hi"}


def chat_call(arguments: str, name: str = "get", call_id: str = "call_1") -> dict[str, Any]:
    function = {"name": name, "arguments": arguments}
    return {"role": "assistant", "tool_calls": [{"id": call_id, "function": function}]}


def chat_result(call_id: str = "call_1") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "ok"}


def responses_call(arguments: str, name: str = "get", call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def tool_use(value: Any, name: str = "get", use_id: str = "toolu_1") -> list[dict[str, Any]]:
    use = {"type": "tool_use", "id": use_id, "name": name, "input": value}
    result = {"type": "tool_result", "tool_use_id": use_id, "content": "ok"}
    return [
        USER,
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [result]},
    ]


def chat_tool(name: str = "get", parameters: Any = None) -> dict[str, Any]:
    function = {"name": name, "parameters": parameters or {"type": "object"}}
    return {"type": "function", "function": function}


def responses_tool(name: str = "get", parameters: Any = None) -> dict[str, Any]:
    return {"type": "function", "name": name, "parameters": parameters or {"type": "object"}}


def anthropic_tool(name: str = "get", schema: Any = None) -> dict[str, Any]:
    return {"name": name, "input_schema": schema or {"type": "object"}}


async def refused(door: Door, path: str, body: dict[str, Any] | str, param: str) -> str:
    """POST `body` (a dict, or JSON text) to `path`: a 400 in that door's shape naming `param`
    (or a path into it: a deep value is named by its first levels), and no call reached the
    controller. Returns the message."""
    raw = body if isinstance(body, str) else json.dumps(body)
    reply = await door.request("POST", path, raw.encode())
    assert reply.status == 400, reply.body[:400]
    assert "Retry-After" not in reply.headers
    error = reply.json()
    if path == MESSAGES:
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        message: str = error["error"]["message"]
        assert param in message, message
    else:
        assert error["error"]["param"].startswith(param), error
        message = error["error"]["message"]
    assert door.controller.calls == []
    return message


# -- item 4: JSON nested too deep, in the body and in tool-call arguments ---------------------

DEEP_CASES = [
    (CHAT, chat(USER, chat_call(json.dumps(deep(DEEP))), chat_result())),
    (RESPONSES, responses(responses_call(json.dumps(deep(DEEP))))),
    (MESSAGES, anthropic(*tool_use(deep(DEEP)))),
    (CHAT, chat(USER, tools=[chat_tool(parameters=deep(DEEP))])),
]
DEEP_PARAMS = [
    "messages[1].tool_calls[0].function.arguments",
    "input[0].arguments",
    "messages.1.content.0.input",
    "tools.0.function.parameters",
]


@pytest.mark.parametrize(
    ("case", "param"),
    list(zip(DEEP_CASES, DEEP_PARAMS, strict=True)),
    ids=["chat_arguments", "responses_arguments", "messages_input", "chat_schema"],
)
async def test_json_nested_too_deep_is_400_naming_the_field(
    door: Door, case: tuple[str, dict[str, Any]], param: str
) -> None:
    path, body = case
    message = await refused(door, path, body, param)
    assert "deeper than 100 levels" in message


# -- item 5: numbers that are not JSON ----------------------------------------------------------

INF_SCHEMA = {"type": "object", "properties": {"x": {"type": "number", "maximum": 0.5}}}


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (
            CHAT,
            chat(USER, tools=[chat_tool(parameters=INF_SCHEMA)]),
            "tools.0.function.parameters.properties.x.maximum",
        ),
        (
            RESPONSES,
            responses(USER, tools=[responses_tool(parameters=INF_SCHEMA)]),
            "tools.0.parameters.properties.x.maximum",
        ),
        (
            MESSAGES,
            anthropic(USER, tools=[anthropic_tool(schema=INF_SCHEMA)]),
            "tools.0.input_schema.properties.x.maximum",
        ),
        (MESSAGES, anthropic(*tool_use({"x": 0.5})), "messages.1.content.0.input.x"),
    ],
    ids=["chat_schema", "responses_schema", "messages_schema", "messages_tool_use"],
)
async def test_a_number_beyond_a_float_in_the_body_is_400_naming_it(
    door: Door, path: str, body: dict[str, Any], param: str
) -> None:
    raw = json.dumps(body).replace("0.5", "1e400")
    message = await refused(door, path, raw, param)
    assert "1e400 is not a finite JSON number" in message


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (
            CHAT,
            chat(USER, chat_call('{"x": 1e400}'), chat_result()),
            "messages[1].tool_calls[0].function.arguments",
        ),
        (RESPONSES, responses(responses_call('{"x": -1E999}')), "input[0].arguments"),
        (RESPONSES, responses(responses_call('{"x": NaN}')), "input[0].arguments"),
    ],
    ids=["chat", "responses", "responses_nan"],
)
async def test_tool_call_arguments_that_are_not_json_numbers_are_400(
    door: Door, path: str, body: dict[str, Any], param: str
) -> None:
    message = await refused(door, path, body, param)
    assert "not a finite JSON number" in message and "at x" in message


# -- item 8: a cap on messages, and a large body prepared off the loop --------------------------


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (CHAT, chat(*[USER] * 6), "messages"),
        (RESPONSES, responses(*[USER] * 6), "input"),
        (MESSAGES, anthropic(*[USER] * 6), "messages"),
    ],
    ids=["chat", "responses", "messages"],
)
async def test_more_messages_than_max_messages_is_400_naming_the_setting(
    state_dir: Path, path: str, body: dict[str, Any], param: str
) -> None:
    async with open_door(state_dir, max_messages=5) as door:
        message = await refused(door, path, body, param)
        assert "MAX_MESSAGES" in message and "at most 5 messages" in message
        reply = await door.post_json(path, {**body, param: body[param][:5]})
        assert reply.status == 200, reply.body[:300]


async def test_health_answers_while_a_large_request_is_translated(
    door: Door, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The translation of a body over OFF_LOOP_BYTES is held until /health has answered: on the
    event loop it would hold the loop, and /health could only answer once it gave up."""
    entered, health_answered = threading.Event(), threading.Event()
    held: list[bool] = []

    def held_translation(*args: Any) -> pb.ChatRequest:
        entered.set()
        held.append(health_answered.wait(timeout=10))
        return to_chat_request(*args)

    monkeypatch.setattr(chat_routes, "to_chat_request", held_translation)
    big = chat({"role": "user", "content": "x" * 200_000})
    posted = asyncio.create_task(door.post_json(CHAT, big))
    assert await asyncio.to_thread(entered.wait, 10)
    health = await door.request("GET", "/health")
    health_answered.set()
    reply = await posted
    assert health.status == 200 and reply.status == 200
    assert held == [True]
    [call] = door.controller.calls
    assert call.request.messages[0].content[0].text == "x" * 200_000


# -- item 9: client strings that travel over gRPC have a length limit ---------------------------


async def test_a_16000_character_previous_response_id_is_400_not_a_retryable_503(
    door: Door,
) -> None:
    body = {"model": "sonnet", "input": "hi", "previous_response_id": "r" * 16_000}
    message = await refused(door, RESPONSES, body, "previous_response_id")
    assert "at most 256 characters" in message


async def test_a_completion_too_large_for_grpc_is_400_not_a_retryable_503(door: Door) -> None:
    """RESOURCE_EXHAUSTED on the Complete stream comes from the request's own size."""
    door.controller.script = []
    door.controller.abort_with = grpc.StatusCode.RESOURCE_EXHAUSTED
    reply = await door.post_json(CHAT, {"model": "sonnet", "messages": [USER]})
    assert reply.status == 400, reply.body
    assert "Retry-After" not in reply.headers
    assert "too large" in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (
            CHAT,
            chat(USER, chat_call("{}", call_id="c" * 300), chat_result("c" * 300)),
            "messages[1].tool_calls[0].id",
        ),
        (RESPONSES, responses(responses_call("{}", call_id="c" * 300)), "input[0].call_id"),
        (MESSAGES, anthropic(*tool_use({}, use_id="t" * 300)), "messages.1.content.0.id"),
        (RESPONSES, responses(USER, metadata={"k" * 65: "v"}), "metadata"),
        (CHAT, chat({"role": "user", "content": "hi", "name": "n" * 300}), "messages[0].name"),
    ],
    ids=["chat_call_id", "responses_call_id", "messages_tool_use_id", "metadata_key", "chat_name"],
)
async def test_ids_and_names_longer_than_their_limit_are_400(
    door: Door, path: str, body: dict[str, Any], param: str
) -> None:
    await refused(door, path, body, param)


# -- item 12: tool names the upstream would refuse ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "param", "rule"),
    [
        (CHAT, chat(USER, tools=[chat_tool("get.weather")]), "tools[0].function.name", "{1,64}"),
        (CHAT, chat(USER, tools=[chat_tool("a" * 65)]), "tools[0].function.name", "{1,64}"),
        (
            RESPONSES,
            responses(USER, tools=[responses_tool("get weather")]),
            "tools[0].name",
            "{1,64}",
        ),
        (
            MESSAGES,
            anthropic(USER, tools=[anthropic_tool("get/weather")]),
            "tools.0.name",
            "{1,128}",
        ),
        (
            CHAT,
            chat(USER, chat_call("{}", name="a.b"), chat_result()),
            "messages[1].tool_calls[0].function.name",
            "{1,64}",
        ),
        (RESPONSES, responses(responses_call("{}", name="a.b")), "input[0].name", "{1,64}"),
        (MESSAGES, anthropic(*tool_use({}, name="a b")), "messages.1.content.0.name", "{1,128}"),
    ],
    ids=[
        "chat_dot",
        "chat_65",
        "responses_space",
        "messages_slash",
        "chat_history",
        "responses_history",
        "messages_history",
    ],
)
async def test_tool_names_outside_the_apis_rule_are_400_stating_it(
    door: Door, path: str, body: dict[str, Any], param: str, rule: str
) -> None:
    message = await refused(door, path, body, param)
    assert f"^[a-zA-Z0-9_-]{rule}$" in message


# -- item 13: images only where the Anthropic API takes them ------------------------------------

EMPTY_URL = "data:image/png;base64,"
PNG_URL = f"data:image/png;base64,{PNG}"


def chat_image(role: str, url: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "image_url", "image_url": {"url": url}}]}


def responses_image(role: str, url: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "input_image", "image_url": url}]}


@pytest.mark.parametrize(
    ("path", "body", "param", "says"),
    [
        (CHAT, chat(chat_image("user", EMPTY_URL)), "messages[0].content[0]", "empty"),
        (RESPONSES, responses(responses_image("user", EMPTY_URL)), "input[0].content[0]", "empty"),
        (
            MESSAGES,
            anthropic(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": ""},
                        }
                    ],
                }
            ),
            "messages.0.content.0.source.data",
            "empty",
        ),
        (
            CHAT,
            chat(chat_image("system", PNG_URL), USER),
            "messages[0].content[0]",
            "user messages only",
        ),
        (
            CHAT,
            chat(USER, chat_image("assistant", PNG_URL), USER),
            "messages[1].content[0]",
            "user messages only",
        ),
        (
            RESPONSES,
            responses(responses_image("developer", PNG_URL), USER),
            "input[0].content[0]",
            "user messages only",
        ),
        (
            RESPONSES,
            responses(USER, responses_image("assistant", PNG_URL), USER),
            "input[1].content[0]",
            "user messages only",
        ),
    ],
    ids=[
        "chat_empty",
        "responses_empty",
        "messages_empty",
        "chat_system",
        "chat_assistant",
        "responses_developer",
        "responses_assistant",
    ],
)
async def test_images_the_anthropic_api_refuses_are_400_at_every_door(
    door: Door, path: str, body: dict[str, Any], param: str, says: str
) -> None:
    message = await refused(door, path, body, param)
    assert says in message
