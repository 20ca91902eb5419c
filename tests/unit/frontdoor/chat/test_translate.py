"""frontdoor/chat/translate.py: OpenAI chat request -> neutral ChatRequest."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from frontdoor.chat.models import ChatCompletionRequest
from frontdoor.chat.translate import to_chat_request
from frontdoor.core.errors import ApiError
from protos import common_pb2 as pb

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-fake-image"
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def _body(**fields: Any) -> ChatCompletionRequest:
    data: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    data.update(fields)
    return ChatCompletionRequest.model_validate(data)


def _translate(**fields: Any) -> pb.ChatRequest:
    return to_chat_request(_body(**fields), "sonnet", "req-1")


def _reject(**fields: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        _translate(**fields)
    assert info.value.status == 400
    assert info.value.error_type == "invalid_request_error"
    return info.value


def test_minimal_request() -> None:
    request = _translate()
    assert request.request_id == "req-1"
    assert request.model == "sonnet"  # the resolved model, not the client's name
    assert not request.stream
    assert len(request.messages) == 1
    message = request.messages[0]
    assert message.role == pb.ROLE_USER
    assert [b.text for b in message.content] == ["hi"]
    assert not request.HasField("max_tokens")
    assert not request.HasField("temperature")
    assert not request.HasField("top_p")
    assert list(request.stop) == []
    assert not request.tools
    assert request.tool_choice.mode == pb.TOOL_CHOICE_UNSPECIFIED
    assert request.response_format == pb.RESPONSE_FORMAT_TEXT


def test_roles_map_and_developer_is_system() -> None:
    request = _translate(
        messages=[
            {"role": "system", "content": "sys"},
            {"role": "developer", "content": "dev"},
            {"role": "user", "content": "u", "name": "alice"},
            {"role": "assistant", "content": "a"},
        ]
    )
    assert [m.role for m in request.messages] == [
        pb.ROLE_SYSTEM,
        pb.ROLE_SYSTEM,
        pb.ROLE_USER,
        pb.ROLE_ASSISTANT,
    ]
    assert [m.content[0].text for m in request.messages] == ["sys", "dev", "u", "a"]
    assert request.messages[2].name == "alice"
    assert request.messages[0].name == ""


def test_function_role_is_rejected() -> None:
    error = _reject(
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "function", "content": "x", "name": "f"},
        ]
    )
    assert error.param == "messages[1]"


def test_text_parts_keep_order() -> None:
    request = _translate(
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "part A"}, {"type": "text", "text": "B"}],
            }
        ]
    )
    assert [b.text for b in request.messages[0].content] == ["part A", "B"]


def test_data_url_image_is_decoded() -> None:
    request = _translate(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "high"}},
                ],
            }
        ]
    )
    image_block = request.messages[0].content[1]
    assert image_block.WhichOneof("kind") == "image"
    assert image_block.image.media_type == "image/png"
    assert image_block.image.data == PNG
    assert image_block.image.url == ""


def test_data_url_media_type_is_lowercased() -> None:
    url = "data:IMAGE/JPEG;base64," + base64.b64encode(b"jpg").decode()
    request = _translate(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]
    )
    assert request.messages[0].content[0].image.media_type == "image/jpeg"
    assert request.messages[0].content[0].image.data == b"jpg"


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,not base64!!",
        "data:image/png;base64,abc",  # wrong padding
        "data:image/png;base64,aGVs\nbG8=",  # embedded newline
    ],
)
def test_bad_base64_is_400_with_param(url: str) -> None:
    error = _reject(
        messages=[
            {"role": "system", "content": "s"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            },
        ]
    )
    assert error.param == "messages[1].content[1]"
    assert "base64" in error.message


@pytest.mark.parametrize("url", ["http://example.com/cat.png", "https://example.com/a.jpg?x=1"])
def test_http_image_url_is_kept_as_url(url: str) -> None:
    request = _translate(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]
    )
    image = request.messages[0].content[0].image
    assert image.url == url
    assert image.data == b""


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.png", "file:///etc/passwd", "data:text/plain;base64,aGk=", ""]
)
def test_other_image_urls_are_rejected(url: str) -> None:
    error = _reject(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]
    )
    assert error.param == "messages[0].content[0]"


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
        {"type": "file", "file": {"file_id": "f"}},
        {"type": "image_url"},  # no image_url object
    ],
)
def test_unsupported_part_type(part: dict[str, Any]) -> None:
    error = _reject(messages=[{"role": "user", "content": [{"type": "text", "text": "x"}, part]}])
    assert error.param == "messages[0].content[1]"
    assert repr(part["type"]) in error.message


def test_tool_message_needs_tool_call_id() -> None:
    error = _reject(
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "tool", "content": "result"},
        ]
    )
    assert error.param == "messages[1]"
    assert "tool_call_id" in error.message


def test_tool_message_becomes_tool_result() -> None:
    request = _translate(
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    },
                    {"id": "call_2", "function": {"name": "get_time"}},
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": [{"type": "text", "text": "sunny, "}, {"type": "text", "text": "20C"}],
            },
            {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
        ]
    )
    assistant = request.messages[1]
    assert assistant.role == pb.ROLE_ASSISTANT
    assert [b.WhichOneof("kind") for b in assistant.content] == ["tool_use", "tool_use"]
    first, second = (b.tool_use for b in assistant.content)
    assert (first.id, first.name, first.arguments_json) == (
        "call_1",
        "get_weather",
        '{"city": "Oslo"}',
    )
    assert (second.id, second.name, second.arguments_json) == ("call_2", "get_time", "")
    result = request.messages[2]
    assert result.role == pb.ROLE_TOOL
    assert len(result.content) == 1
    assert result.content[0].tool_result.tool_use_id == "call_1"
    assert result.content[0].tool_result.content == "sunny, 20C"
    assert not result.content[0].tool_result.is_error
    assert request.messages[3].content[0].tool_result.content == "12:00"


def test_assistant_text_comes_before_its_tool_calls() -> None:
    request = _translate(
        messages=[
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}],
            },
        ]
    )
    kinds = [b.WhichOneof("kind") for b in request.messages[1].content]
    assert kinds == ["text", "tool_use"]


def test_tool_message_with_image_is_rejected() -> None:
    error = _reject(
        messages=[
            {"role": "user", "content": "hi"},
            {
                "role": "tool",
                "tool_call_id": "c",
                "content": [{"type": "image_url", "image_url": {"url": PNG_URL}}],
            },
        ]
    )
    assert error.param == "messages[1]"


def test_only_assistant_messages_carry_tool_calls() -> None:
    error = _reject(
        messages=[
            {
                "role": "user",
                "content": "hi",
                "tool_calls": [{"id": "c", "function": {"name": "f"}}],
            }
        ]
    )
    assert error.param == "messages[0]"


@pytest.mark.parametrize("content", ["", None, []])
def test_user_message_needs_content(content: Any) -> None:
    error = _reject(messages=[{"role": "user", "content": content}])
    assert error.param == "messages[0].content"


def test_n_greater_than_one_rejected() -> None:
    assert _reject(n=2).param == "n"
    assert _translate(n=1).messages  # n=1 is fine


def test_logprobs_rejected() -> None:
    assert _reject(logprobs=True).param == "logprobs"
    assert _translate(logprobs=False).messages


def test_stop_string_and_list() -> None:
    assert list(_translate(stop="END").stop) == ["END"]
    assert list(_translate(stop=["a", "b", "c", "d"]).stop) == ["a", "b", "c", "d"]
    assert list(_translate(stop=[]).stop) == []


def test_more_than_four_stops_rejected() -> None:
    assert _reject(stop=["1", "2", "3", "4", "5"]).param == "stop"


def test_sampling_fields_and_user() -> None:
    request = _translate(temperature=0, top_p=0.5, user="end-user-7", stream=True)
    assert request.HasField("temperature")
    assert request.temperature == 0
    assert request.top_p == pytest.approx(0.5)
    assert request.user == "end-user-7"
    assert request.stream


def test_max_completion_tokens_preferred_over_max_tokens() -> None:
    assert _translate(max_tokens=100, max_completion_tokens=50).max_tokens == 50
    assert _translate(max_tokens=100).max_tokens == 100
    assert _translate(max_completion_tokens=7).max_tokens == 7


def test_tools_are_translated() -> None:
    request = _translate(
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            },
            {"type": "function", "function": {"name": "noargs"}},
        ]
    )
    assert [t.name for t in request.tools] == ["get_weather", "noargs"]
    assert request.tools[0].description == "Weather for a city"
    assert json.loads(request.tools[0].parameters_json) == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
    }
    assert request.tools[1].description == ""
    assert json.loads(request.tools[1].parameters_json) == {"type": "object"}


@pytest.mark.parametrize(
    ("choice", "mode"),
    [
        ("auto", pb.TOOL_CHOICE_AUTO),
        ("none", pb.TOOL_CHOICE_NONE),
        ("required", pb.TOOL_CHOICE_REQUIRED),
    ],
)
def test_tool_choice_strings(choice: str, mode: int) -> None:
    request = _translate(tool_choice=choice)
    assert request.tool_choice.mode == mode
    assert request.tool_choice.name == ""


def test_tool_choice_named_function() -> None:
    request = _translate(tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert request.tool_choice.mode == pb.TOOL_CHOICE_NAMED
    assert request.tool_choice.name == "get_weather"


@pytest.mark.parametrize(
    "choice",
    [
        "any",
        "",
        {"type": "function"},
        {"type": "function", "function": {}},
        {"type": "function", "function": {"name": ""}},
        {"type": "function", "function": {"name": 5}},
        {"type": "tool", "function": {"name": "f"}},
        {"type": "function", "function": "get_weather"},
        {"type": "function", "function": ["get_weather"]},
    ],
)
def test_bad_tool_choice_is_400(choice: Any) -> None:
    assert _reject(tool_choice=choice).param == "tool_choice"


def test_response_format_text_is_default() -> None:
    assert _translate(response_format={"type": "text"}).response_format == pb.RESPONSE_FORMAT_TEXT


def test_response_format_json_object() -> None:
    request = _translate(response_format={"type": "json_object"})
    assert request.response_format == pb.RESPONSE_FORMAT_JSON_OBJECT
    assert request.json_schema == ""


def test_response_format_json_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    request = _translate(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "thing", "schema": schema, "strict": True},
        }
    )
    assert request.response_format == pb.RESPONSE_FORMAT_JSON_SCHEMA
    assert json.loads(request.json_schema) == schema


@pytest.mark.parametrize(
    "fmt",
    [{"type": "json_schema"}, {"type": "json_schema", "json_schema": {"name": "x"}}],
)
def test_response_format_json_schema_requires_schema(fmt: dict[str, Any]) -> None:
    assert _reject(response_format=fmt).param == "response_format.json_schema"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"presence_penalty": -1}, "presence_penalty"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"top_logprobs": 3}, "logprobs"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "modalities"),
    ],
)
def test_settings_claude_cannot_honour_are_400(extra: dict[str, Any], param: str) -> None:
    body = ChatCompletionRequest.model_validate(
        {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}], **extra}
    )
    with pytest.raises(ApiError) as caught:
        to_chat_request(body, "sonnet", "rid")
    assert caught.value.status == 400 and caught.value.param == param


def test_neutral_defaults_of_unsupported_settings_pass() -> None:
    body = ChatCompletionRequest.model_validate(
        {
            "model": "sonnet",
            "messages": [{"role": "user", "content": "hi"}],
            "frequency_penalty": 0,
            "presence_penalty": 0.0,
            "logit_bias": {},
            "modalities": ["text"],
            "logprobs": False,
        }
    )
    assert to_chat_request(body, "sonnet", "rid").model == "sonnet"


def test_cache_control_on_content_parts_is_a_breakpoint() -> None:
    request = _translate(
        messages=[
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": PNG_URL},
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    },
                    {"type": "text", "text": "what is it?", "cache_control": None},
                ],
            },
        ]
    )
    system, user = request.messages
    assert system.content[0].HasField("cache") and system.content[0].cache.ttl == ""
    assert user.content[0].cache == pb.CacheControl(ttl="1h")
    assert not user.content[1].HasField("cache")


@pytest.mark.parametrize("cache", [{"type": "persistent"}, {"type": "ephemeral", "ttl": "2h"}, "x"])
def test_cache_control_that_cannot_be_honoured_is_400(cache: Any) -> None:
    part = {"type": "text", "text": "hi", "cache_control": cache}
    error = _reject(messages=[{"role": "user", "content": [part]}])
    assert error.param == "messages[0].content[0].cache_control"


def test_a_text_part_without_text_names_the_field() -> None:
    error = _reject(messages=[{"role": "user", "content": [{"type": "text"}]}])
    assert error.param == "messages[0].content[0].text"


@pytest.mark.parametrize("kind", ["image/x-evil", "image/svg+xml", "image/tiff"])
def test_an_image_type_claude_cannot_read_is_refused_at_the_door(kind: str) -> None:
    part = {"type": "image_url", "image_url": {"url": f"data:{kind};base64,AAAA"}}
    error = _reject(messages=[{"role": "user", "content": [part]}])
    assert error.param == "messages[0].content[0]" and kind in error.message
