"""workerd/api/messages_api.py and the Anthropic codec (workerd/anthropic/): ChatRequest ->
Messages API arguments, stream events -> events."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from protos import common_pb2 as pb
from tests.anthropic_events import (
    MESSAGE_STOP,
    block_stop,
    json_delta,
    message_delta,
    message_start,
    text_delta,
    text_start,
    tool_start,
)
from workerd.anthropic.stream import StreamTranslator
from workerd.api.messages_api import (
    DEFAULT_MAX_TOKENS,
    JSON_TOOL,
    build_call,
    model_id,
)
from workerd.api.upstream_errors import (
    UpstreamBroken,
    UpstreamStatusError,
    UpstreamUnreachable,
    error_event,
    retry_after_ms,
)
from workerd.errors import UnservableRequest

PNG = b"\x89PNG\r\n\x1a\nfake-png-bytes"
API_KEY = "sk-ant-api03-secret-test-key"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}


def text(value: str) -> pb.ContentBlock:
    return pb.ContentBlock(text=value)


def msg(role: pb.Role, *blocks: pb.ContentBlock) -> pb.ChatMessage:
    return pb.ChatMessage(role=role, content=list(blocks))


def user(value: str = "hi") -> pb.ChatMessage:
    return msg(pb.ROLE_USER, text(value))


def call(name: str, arguments: str, call_id: str = "call_1") -> pb.ContentBlock:
    return pb.ContentBlock(
        tool_use=pb.ToolUseBlock(id=call_id, name=name, arguments_json=arguments)
    )


def result(call_id: str, content: str, is_error: bool = False) -> pb.ChatMessage:
    block = pb.ToolResultBlock(tool_use_id=call_id, content=content, is_error=is_error)
    return msg(pb.ROLE_TOOL, pb.ContentBlock(tool_result=block))


def request(*messages: pb.ChatMessage, **fields: Any) -> pb.ChatRequest:
    return pb.ChatRequest(
        request_id="r1", model=fields.pop("model", "sonnet"), messages=list(messages), **fields
    )


def kwargs_of(req: pb.ChatRequest, fetch: bool = False) -> dict[str, Any]:
    return build_call(req, fetch_remote_images=fetch).body


def rejected(req: pb.ChatRequest, fetch: bool = False) -> UnservableRequest:
    with pytest.raises(UnservableRequest) as caught:
        build_call(req, fetch_remote_images=fetch)
    return caught.value


def weather_tool(name: str = "get_weather") -> pb.ToolSpec:
    return pb.ToolSpec(
        name=name, description="Weather for a city", parameters_json=json.dumps(WEATHER_SCHEMA)
    )


# --- model and limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "full"),
    [
        ("sonnet", "claude-sonnet-5-5"),
        ("opus", "claude-opus-5-5"),
        ("haiku", "claude-haiku-5-5"),
        ("claude-sonnet-5", "claude-sonnet-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"),
        ("claude-opus-4-8", "claude-opus-4-8"),
    ],
)
def test_model_aliases_map_to_full_ids_and_full_ids_pass(alias: str, full: str) -> None:
    assert model_id(alias) == full
    assert kwargs_of(request(user(), model=alias))["model"] == full


def test_minimal_request() -> None:
    call_ = build_call(request(user("hello")))
    assert call_.json_tool == ""
    assert call_.body == {
        "model": "claude-sonnet-5-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
    }


def test_max_tokens_default_and_explicit() -> None:
    assert kwargs_of(request(user()))["max_tokens"] == 4096
    assert kwargs_of(request(user(), max_tokens=123))["max_tokens"] == 123
    assert rejected(request(user(), max_tokens=0)).param == "max_tokens"


def test_sampling_reaches_the_body_and_stop_user_map() -> None:
    kwargs = kwargs_of(
        request(user(), temperature=0.7, top_p=0.9, stop=["END", "STOP"], user="u-42")
    )
    assert kwargs["temperature"] == 0.7 and kwargs["top_p"] == 0.9
    assert kwargs["stop_sequences"] == ["END", "STOP"]
    assert kwargs["metadata"] == {"user_id": "u-42"}


def test_zero_temperature_is_sent_and_absent_knobs_are_not() -> None:
    assert kwargs_of(request(user(), temperature=0.0))["temperature"] == 0.0
    kwargs = kwargs_of(request(user()))
    unset = {"temperature", "top_p", "stop_sequences", "metadata", "system", "tools"}
    assert not unset & set(kwargs)


def test_temperature_above_one_is_rejected() -> None:
    error = rejected(request(user(), temperature=1.5))
    assert error.param == "temperature"
    assert "0 to 1" in str(error)


# --- messages --------------------------------------------------------------------------------


def test_system_and_developer_messages_become_system() -> None:
    kwargs = kwargs_of(
        request(
            msg(pb.ROLE_SYSTEM, text("Be terse.")),
            msg(pb.ROLE_SYSTEM, text("Answer in French.")),
            user("hi"),
        )
    )
    assert kwargs["system"] == "Be terse.\n\nAnswer in French."
    assert [m["role"] for m in kwargs["messages"]] == ["user"]


def test_system_message_with_an_image_is_rejected() -> None:
    image = pb.ContentBlock(image=pb.ImageBlock(media_type="image/png", data=PNG))
    error = rejected(request(msg(pb.ROLE_SYSTEM, text("x"), image), user()))
    assert error.param == "messages[0].content[1]"


def test_consecutive_same_role_messages_are_merged() -> None:
    kwargs = kwargs_of(
        request(
            user("one"),
            user("two"),
            msg(pb.ROLE_ASSISTANT, text("a")),
            msg(pb.ROLE_ASSISTANT, text("b")),
            user("three"),
        )
    )
    assert kwargs["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
        {"role": "user", "content": [{"type": "text", "text": "three"}]},
    ]


def test_empty_messages_and_empty_text_blocks_are_dropped() -> None:
    kwargs = kwargs_of(
        request(user("q"), msg(pb.ROLE_ASSISTANT), msg(pb.ROLE_USER, text(""), text("x")))
    )
    assert kwargs["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "text", "text": "x"}]}
    ]


def test_a_conversation_without_user_message_is_rejected() -> None:
    assert rejected(request(msg(pb.ROLE_SYSTEM, text("only system")))).param == "messages"
    assert rejected(request(msg(pb.ROLE_ASSISTANT, text("only me")))).param == "messages"


def test_a_message_without_role_is_rejected() -> None:
    assert (
        rejected(request(user(), pb.ChatMessage(content=[text("x")]))).param == "messages[1].role"
    )


def test_assistant_tool_calls_and_tool_results_round_trip() -> None:
    kwargs = kwargs_of(
        request(
            user("weather in Paris and Tokyo?"),
            msg(
                pb.ROLE_ASSISTANT,
                text("Checking."),
                call("get_weather", '{"location": "Paris"}', "call_a"),
                call("get_weather", '{"location": "Tokyo"}', "call_b"),
            ),
            result("call_a", "18C"),
            result("call_b", "boom", is_error=True),
            user("thanks"),
        )
    )
    assert kwargs["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "weather in Paris and Tokyo?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "call_a",
                    "name": "get_weather",
                    "input": {"location": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "call_b",
                    "name": "get_weather",
                    "input": {"location": "Tokyo"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_b",
                    "content": "boom",
                    "is_error": True,
                },
                {"type": "text", "text": "thanks"},
            ],
        },
    ]


def test_empty_tool_arguments_and_empty_result_content() -> None:
    kwargs = kwargs_of(
        request(user(), msg(pb.ROLE_ASSISTANT, call("ping", "")), result("call_1", ""))
    )
    assert kwargs["messages"][1]["content"][0]["input"] == {}
    assert kwargs["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "call_1"}]


@pytest.mark.parametrize("arguments", ['{"location": ', "[1, 2]", '"text"'])
def test_tool_call_arguments_must_be_a_json_object(arguments: str) -> None:
    assistant = msg(pb.ROLE_ASSISTANT, call("a", "{}", "c0"), call("b", arguments, "c1"))
    error = rejected(request(user(), assistant))
    assert error.param == "messages[1].tool_calls[1].function.arguments"
    assert "c1" in str(error)


@pytest.mark.parametrize(
    "arguments",
    ['{"a": ' + "[" * 990 + "]" * 990 + "}", '{"a": NaN}', '{"a": -Infinity}', '{"a": 1e999}'],
)
def test_tool_call_arguments_json_cannot_carry_are_the_requests_400(arguments: str) -> None:
    """Issue 21: deep nesting once raised RecursionError in the worker, NaN went upstream."""
    error = rejected(request(user(), msg(pb.ROLE_ASSISTANT, call("a", arguments, "c0"))))
    assert error.param == "messages[1].tool_calls[0].function.arguments"


def test_a_tool_schema_nested_too_deep_is_refused() -> None:
    deep = pb.ToolSpec(name="f", parameters_json='{"x": ' + "[" * 990 + "]" * 990 + "}")
    assert rejected(request(user(), tools=[deep])).param == "tools[0].function.parameters"


def test_tool_call_without_id_is_rejected() -> None:
    error = rejected(request(user(), msg(pb.ROLE_ASSISTANT, call("a", "{}", ""))))
    assert error.param == "messages[1].tool_calls[0]"


def test_tool_result_without_id_is_rejected() -> None:
    assert rejected(request(user(), result("", "x"))).param == "messages[1].tool_call_id"


def test_blocks_in_the_wrong_role_are_rejected() -> None:
    image = pb.ContentBlock(image=pb.ImageBlock(media_type="image/png", data=PNG))
    assert rejected(request(user(), msg(pb.ROLE_ASSISTANT, image))).param == "messages[1]"
    assert rejected(request(msg(pb.ROLE_USER, call("a", "{}")))).param == "messages[0]"
    assert rejected(request(user(), msg(pb.ROLE_TOOL, text("x")))).param == "messages[1]"


# --- images ----------------------------------------------------------------------------------


def test_data_images_become_base64_blocks() -> None:
    image = pb.ContentBlock(image=pb.ImageBlock(media_type="image/PNG", data=PNG))
    kwargs = kwargs_of(request(msg(pb.ROLE_USER, text("what is this?"), image)))
    assert kwargs["messages"][0]["content"][1] == {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
    }


def test_unsupported_image_type_and_empty_image_are_rejected() -> None:
    svg = pb.ContentBlock(image=pb.ImageBlock(media_type="image/svg+xml", data=b"<svg/>"))
    error = rejected(request(msg(pb.ROLE_USER, text("x"), svg)))
    assert error.param == "messages[0].content[1]"
    assert "image/png" in str(error)
    empty = pb.ContentBlock(image=pb.ImageBlock(media_type="image/png"))
    assert rejected(request(msg(pb.ROLE_USER, empty))).param == "messages[0].content[0]"


def test_remote_image_urls_need_the_setting() -> None:
    remote = pb.ContentBlock(image=pb.ImageBlock(url="https://example.com/cat.png"))
    req = request(user("first"), msg(pb.ROLE_USER, text("look"), remote))
    error = rejected(req)
    assert error.param == "messages[1].content[1]"
    assert "FETCH_REMOTE_IMAGES" in str(error)
    kwargs = kwargs_of(req, fetch=True)
    assert kwargs["messages"][0]["content"][-1] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.png"},
    }


# --- tools -----------------------------------------------------------------------------------


def test_tools_become_input_schemas() -> None:
    bare = pb.ToolSpec(name="now", parameters_json='{"properties": {}}')
    kwargs = kwargs_of(request(user(), tools=[weather_tool(), bare]))
    assert kwargs["tools"] == [
        {
            "name": "get_weather",
            "input_schema": WEATHER_SCHEMA,
            "description": "Weather for a city",
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in kwargs


@pytest.mark.parametrize(
    ("parameters", "why"),
    [('{"type": "array"}', "root type"), ("{nope", "not valid JSON"), ("[]", "JSON object")],
)
def test_bad_tool_schemas_are_rejected(parameters: str, why: str) -> None:
    tool = pb.ToolSpec(name="t", parameters_json=parameters)
    error = rejected(request(user(), tools=[weather_tool(), tool]))
    assert error.param == "tools[1].function.parameters"
    assert why in str(error)


def test_duplicate_tool_names_are_rejected() -> None:
    error = rejected(request(user(), tools=[weather_tool(), weather_tool()]))
    assert error.param == "tools[1].function.name"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (pb.TOOL_CHOICE_AUTO, {"type": "auto"}),
        (pb.TOOL_CHOICE_NONE, {"type": "none"}),
        (pb.TOOL_CHOICE_REQUIRED, {"type": "any"}),
    ],
)
def test_tool_choice_modes(mode: pb.ToolChoiceMode, expected: dict[str, str]) -> None:
    req = request(user(), tools=[weather_tool()], tool_choice=pb.ToolChoice(mode=mode))
    assert kwargs_of(req)["tool_choice"] == expected


def test_named_tool_choice() -> None:
    choice = pb.ToolChoice(mode=pb.TOOL_CHOICE_NAMED, name="get_weather")
    req = request(user(), tools=[weather_tool()], tool_choice=choice)
    assert kwargs_of(req)["tool_choice"] == {"type": "tool", "name": "get_weather"}


def test_named_tool_choice_must_be_declared() -> None:
    choice = pb.ToolChoice(mode=pb.TOOL_CHOICE_NAMED, name="missing")
    error = rejected(request(user(), tools=[weather_tool()], tool_choice=choice))
    assert error.param == "tool_choice"
    assert "missing" in str(error)


def test_tool_choice_without_tools() -> None:
    for mode in (pb.TOOL_CHOICE_AUTO, pb.TOOL_CHOICE_NONE):
        kwargs = kwargs_of(request(user(), tool_choice=pb.ToolChoice(mode=mode)))
        assert "tool_choice" not in kwargs and "tools" not in kwargs
    for mode in (pb.TOOL_CHOICE_REQUIRED, pb.TOOL_CHOICE_NAMED):
        choice = pb.ToolChoice(mode=mode, name="x")
        assert rejected(request(user(), tool_choice=choice)).param == "tool_choice"


# --- response_format -------------------------------------------------------------------------


def test_json_schema_becomes_a_forced_tool() -> None:
    req = request(
        user(),
        response_format=pb.RESPONSE_FORMAT_JSON_SCHEMA,
        json_schema=json.dumps(WEATHER_SCHEMA),
    )
    call_ = build_call(req)
    assert call_.json_tool == JSON_TOOL
    [tool] = call_.body["tools"]
    assert tool["name"] == JSON_TOOL and tool["input_schema"] == WEATHER_SCHEMA
    assert call_.body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}


def test_json_object_forces_an_object_schema() -> None:
    call_ = build_call(request(user(), response_format=pb.RESPONSE_FORMAT_JSON_OBJECT))
    assert call_.json_tool == JSON_TOOL
    assert call_.body["tools"][0]["input_schema"] == {"type": "object"}
    assert call_.body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}


def test_response_format_with_tools_is_rejected() -> None:
    req = request(user(), tools=[weather_tool()], response_format=pb.RESPONSE_FORMAT_JSON_OBJECT)
    assert rejected(req).param == "response_format"


def test_response_format_with_required_tool_choice_is_rejected() -> None:
    req = request(
        user(),
        response_format=pb.RESPONSE_FORMAT_JSON_OBJECT,
        tool_choice=pb.ToolChoice(mode=pb.TOOL_CHOICE_REQUIRED),
    )
    assert rejected(req).param == "tool_choice"


@pytest.mark.parametrize("schema", ["", '{"type": "string"}', "{bad"])
def test_bad_json_schemas_are_rejected(schema: str) -> None:
    req = request(user(), response_format=pb.RESPONSE_FORMAT_JSON_SCHEMA, json_schema=schema)
    assert rejected(req).param == "response_format.json_schema"


# --- stream -> events ------------------------------------------------------------------------


def translate(events: list[dict[str, Any]], json_tool: str = "") -> list[pb.Event]:
    translator = StreamTranslator(json_tool)
    out: list[pb.Event] = []
    for event in events:
        out.extend(translator.feed(event))
    return out + translator.finish()


def kinds(events: list[pb.Event]) -> list[str]:
    return [str(e.WhichOneof("kind")) for e in events]


def test_text_stream() -> None:
    events = translate(
        [
            message_start(),
            text_start(0),
            text_delta(0, "Hel"),
            text_delta(0, "lo"),
            block_stop(0),
            message_delta("end_turn"),
            MESSAGE_STOP,
        ]
    )
    assert kinds(events) == ["model_info", "text", "text", "usage", "finish"]
    assert events[0].model_info.model == "claude-sonnet-5"
    assert "".join(e.text.text for e in events if e.HasField("text")) == "Hello"
    assert events[3].usage == pb.Usage(
        input_tokens=11, output_tokens=13, cache_read_tokens=5, cache_write_tokens=7
    )
    assert events[4].finish == pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet-5")


def test_message_delta_usage_overrides_the_start_snapshot() -> None:
    events = translate(
        [
            message_start(),
            message_delta("end_turn", 20, input_tokens=12, cache_read_input_tokens=0),
            MESSAGE_STOP,
        ]
    )
    assert events[-2].usage == pb.Usage(
        input_tokens=12, output_tokens=20, cache_read_tokens=0, cache_write_tokens=7
    )


def test_tool_call_after_text() -> None:
    events = translate(
        [
            message_start(),
            text_start(0),
            text_delta(0, "Let me check."),
            block_stop(0),
            tool_start(1, "toolu_1", "get_weather"),
            json_delta(1, ""),
            json_delta(1, '{"location": '),
            json_delta(1, '"Paris"}'),
            block_stop(1),
            message_delta("tool_use"),
            MESSAGE_STOP,
        ]
    )
    assert kinds(events) == [
        "model_info",
        "text",
        "tool_call",
        "tool_call",
        "tool_call",
        "usage",
        "finish",
    ]
    assert events[2].tool_call == pb.ToolCallDelta(index=0, id="toolu_1", name="get_weather")
    assert events[3].tool_call == pb.ToolCallDelta(index=0, arguments_delta='{"location": ')
    assert events[4].tool_call == pb.ToolCallDelta(index=0, arguments_delta='"Paris"}')
    assert events[-1].finish.reason == pb.FINISH_TOOL_CALLS


def test_two_tool_calls_get_their_own_indexes() -> None:
    events = translate(
        [
            message_start(),
            tool_start(0, "toolu_a", "get_weather"),
            json_delta(0, '{"location": "Paris"}'),
            block_stop(0),
            tool_start(1, "toolu_b", "get_time"),
            json_delta(1, '{"tz": '),
            json_delta(1, '"UTC"}'),
            block_stop(1),
            message_delta("tool_use"),
            MESSAGE_STOP,
        ]
    )
    calls = [e.tool_call for e in events if e.HasField("tool_call")]
    assert [(c.index, c.id, c.name) for c in calls if c.id] == [
        (0, "toolu_a", "get_weather"),
        (1, "toolu_b", "get_time"),
    ]
    arguments: dict[int, str] = {}
    for c in calls:
        arguments[c.index] = arguments.get(c.index, "") + c.arguments_delta
    assert arguments == {0: '{"location": "Paris"}', 1: '{"tz": "UTC"}'}


def test_a_tool_call_without_input_deltas_gets_its_whole_input() -> None:
    events = translate(
        [
            message_start(),
            tool_start(0, "toolu_a", "now"),
            block_stop(0),
            tool_start(1, "toolu_b", "echo", {"x": 1}),
            block_stop(1),
            message_delta("tool_use"),
            MESSAGE_STOP,
        ]
    )
    arguments = [e.tool_call.arguments_delta for e in events if e.HasField("tool_call")]
    assert arguments == ["", "{}", "", '{"x": 1}']


def test_json_answer_streams_the_forced_tool_input_as_text() -> None:
    events = translate(
        [
            message_start(),
            text_start(0),
            text_delta(0, "Here is the JSON:"),
            block_stop(0),
            tool_start(1, "toolu_1", JSON_TOOL),
            json_delta(1, '{"location"'),
            json_delta(1, ': "Paris"}'),
            block_stop(1),
            message_delta("tool_use"),
            MESSAGE_STOP,
        ],
        json_tool=JSON_TOOL,
    )
    assert kinds(events) == ["model_info", "text", "text", "usage", "finish"]
    assert "".join(e.text.text for e in events if e.HasField("text")) == '{"location": "Paris"}'
    assert events[-1].finish.reason == pb.FINISH_STOP


def test_json_answer_without_deltas_is_the_whole_input() -> None:
    events = translate(
        [
            message_start(),
            tool_start(0, "toolu_1", JSON_TOOL, {"a": 1}),
            block_stop(0),
            message_delta("tool_use"),
        ],
        json_tool=JSON_TOOL,
    )
    assert [e.text.text for e in events if e.HasField("text")] == ['{"a": 1}']


def test_json_answer_cut_by_max_tokens_is_length() -> None:
    events = translate(
        [
            message_start(),
            tool_start(0, "t", JSON_TOOL),
            json_delta(0, '{"a"'),
            message_delta("max_tokens"),
        ],
        json_tool=JSON_TOOL,
    )
    assert events[-1].finish.reason == pb.FINISH_LENGTH


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", pb.FINISH_STOP),
        ("stop_sequence", pb.FINISH_STOP_SEQUENCE),
        ("max_tokens", pb.FINISH_LENGTH),
        ("tool_use", pb.FINISH_TOOL_CALLS),
        ("refusal", pb.FINISH_CONTENT_FILTER),
        ("pause_turn", pb.FINISH_STOP),
        ("model_context_window_exceeded", pb.FINISH_LENGTH),
    ],
)
def test_stop_reasons(stop_reason: str, finish: pb.FinishReason) -> None:
    events = translate([message_start(), message_delta(stop_reason), MESSAGE_STOP])
    assert events[-1].finish.reason == finish
    assert events[-1].finish.stop_sequence == ""


def test_a_stop_sequence_stop_names_the_sequence() -> None:
    stopped = message_delta("stop_sequence")
    stopped["delta"]["stop_sequence"] = "\nEND"
    events = translate([message_start(), text_start(0), text_delta(0, "a"), stopped, MESSAGE_STOP])
    assert events[-1].finish == pb.Finish(
        reason=pb.FINISH_STOP_SEQUENCE, model="claude-sonnet-5", stop_sequence="\nEND"
    )


def test_redacted_thinking_comes_whole_in_order() -> None:
    redacted = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
    }
    events = translate(
        [
            message_start(),
            redacted,
            block_stop(0),
            text_start(1),
            text_delta(1, "ok"),
            block_stop(1),
            message_delta("end_turn"),
        ]
    )
    assert kinds(events) == ["model_info", "thinking", "text", "usage", "finish"]
    assert events[1].thinking == pb.ThinkingDelta(redacted="EmwKAhgBEgy3va3pzix")


def test_thinking_and_its_signature_become_thinking_events() -> None:
    thinking = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    }
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "hmm"},
    }
    signature = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "sig=="},
    }
    events = translate(
        [
            message_start(),
            thinking,
            delta,
            signature,
            block_stop(0),
            text_start(1),
            text_delta(1, "ok"),
            message_delta("end_turn"),
        ]
    )
    assert kinds(events) == ["model_info", "thinking", "thinking", "text", "usage", "finish"]
    assert (events[1].thinking.text, events[1].thinking.signature) == ("hmm", "")
    assert (events[2].thinking.text, events[2].thinking.signature) == ("", "sig==")


def test_no_effort_or_none_sends_no_thinking() -> None:
    for effort in ("", "none"):
        call_ = build_call(request(user(), reasoning_effort=effort))
        assert "thinking" not in call_.body and "output_config" not in call_.body
        assert call_.betas == ()


@pytest.mark.parametrize("model", ["sonnet", "opus", "haiku", "claude-sonnet-5", "claude-fable-5"])
def test_effort_on_current_models_is_adaptive_thinking_with_output_effort(model: str) -> None:
    call_ = build_call(request(user(), model=model, reasoning_effort="medium"))
    assert call_.body["thinking"] == {"type": "adaptive"}
    assert call_.body["output_config"] == {"effort": "medium"}
    assert call_.body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert call_.betas == ("effort-2025-11-24",)


def test_thinking_display_is_passed_on() -> None:
    asked = request(user(), reasoning_effort="medium", thinking_display="omitted")
    assert build_call(asked).body["thinking"] == {"type": "adaptive", "display": "omitted"}
    budget = request(
        user(), model="claude-haiku-4-5-20251001", reasoning_effort="low", thinking_display="x"
    )
    assert build_call(budget).body["thinking"]["display"] == "x"


def test_effort_on_budget_models_is_a_thinking_budget() -> None:
    haiku_4_5 = "claude-haiku-4-5-20251001"
    call_ = build_call(request(user(), model=haiku_4_5, reasoning_effort="low"))
    assert call_.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert call_.body["max_tokens"] == DEFAULT_MAX_TOKENS + 2048  # room for the answer
    assert "output_config" not in call_.body and call_.betas == ()
    capped = kwargs_of(request(user(), model=haiku_4_5, reasoning_effort="high", max_tokens=5000))
    assert capped["max_tokens"] == 5000
    assert capped["thinking"] == {"type": "enabled", "budget_tokens": 4999}
    small = request(
        user(), model="claude-haiku-4-5-20251001", reasoning_effort="low", max_tokens=900
    )
    assert rejected(small).param == "max_tokens"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 0.2}, "temperature"),
        ({"top_p": 0.5}, "top_p"),
        ({"response_format": pb.RESPONSE_FORMAT_JSON_OBJECT}, "response_format"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ],
)
def test_what_thinking_cannot_go_with_is_rejected(fields: dict[str, Any], param: str) -> None:
    assert rejected(request(user(), **{"reasoning_effort": "high", **fields})).param == param


def test_thinking_allows_temperature_one() -> None:
    kwargs = kwargs_of(request(user(), reasoning_effort="high", temperature=1.0))
    assert kwargs["thinking"] == {"type": "adaptive"}


def test_a_conversation_after_tool_calls_gets_no_thinking() -> None:
    req = request(
        user(),
        msg(pb.ROLE_ASSISTANT, call("get_weather", "{}")),
        result("call_1", "sunny"),
        reasoning_effort="high",
        tools=[weather_tool()],
    )
    assert "thinking" not in kwargs_of(req)


def test_model_info_is_sent_once() -> None:
    translator = StreamTranslator()
    assert kinds(translator.feed(message_start())) == ["model_info"]
    assert translator.feed(message_start("claude-other")) == []
    assert translator.model == "claude-sonnet-5"


def test_a_stream_cut_short_is_an_error_after_its_usage() -> None:
    events = translate([message_start(), text_start(0), text_delta(0, "par")])
    assert kinds(events) == ["model_info", "text", "usage", "error"]
    assert events[-1].error.code == pb.UPSTREAM_ERROR
    assert kinds(StreamTranslator().finish()) == ["error"]


# --- errors ----------------------------------------------------------------------------------


def status_error(
    status: int,
    kind: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> UpstreamStatusError:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return UpstreamStatusError.from_body(status, json.dumps(body).encode(), headers)


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (400, "invalid_request_error", pb.INVALID_REQUEST),
        (401, "authentication_error", pb.UPSTREAM_AUTH),
        (403, "permission_error", pb.UPSTREAM_AUTH),
        (404, "not_found_error", pb.MODEL_NOT_FOUND),
        (413, "request_too_large", pb.CONTEXT_TOO_LONG),
        (429, "rate_limit_error", pb.RATE_LIMITED),
        (500, "api_error", pb.UPSTREAM_ERROR),
        (502, "api_error", pb.UPSTREAM_ERROR),
        (503, "api_error", pb.UPSTREAM_ERROR),
        (529, "overloaded_error", pb.UPSTREAM_OVERLOADED),
    ],
)
def test_status_errors_map_to_codes(status: int, kind: str, code: pb.ErrorCode) -> None:
    event = error_event(status_error(status, kind, "something happened"))
    assert event.error.code == code
    assert event.error.upstream_status == status
    assert str(status) in event.error.message and "something happened" in event.error.message


def test_prompt_too_long_is_context_too_long() -> None:
    event = error_event(
        status_error(400, "invalid_request_error", "prompt is too long: 300000 tokens")
    )
    assert event.error.code == pb.CONTEXT_TOO_LONG


def test_retry_after_header_becomes_retry_after_ms() -> None:
    event = error_event(status_error(429, "rate_limit_error", "slow", {"retry-after": "7"}))
    assert event.error.retry_after_ms == 7000
    event = error_event(status_error(529, "overloaded_error", "busy", {"retry-after-ms": "250"}))
    assert event.error.retry_after_ms == 250
    assert error_event(status_error(429, "rate_limit_error", "slow")).error.retry_after_ms == 0


def test_retry_after_parsing() -> None:
    assert retry_after_ms({"retry-after": "1.5"}) == 1500
    assert retry_after_ms({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0
    assert retry_after_ms({"retry-after-ms": "x", "retry-after": "2"}) == 2000
    assert retry_after_ms({}) == 0


def test_an_error_event_inside_a_200_stream_maps_by_its_type() -> None:
    event = error_event(status_error(200, "overloaded_error", "Overloaded"))
    assert event.error.code == pb.UPSTREAM_OVERLOADED
    assert event.error.upstream_status == 529
    event = error_event(status_error(200, "something_new", "?"))
    assert event.error.code == pb.UPSTREAM_ERROR


def test_connection_errors_and_timeouts() -> None:
    event = error_event(UpstreamUnreachable("ClientConnectorError"))
    assert event.error.code == pb.UPSTREAM_ERROR and "cannot reach" in event.error.message
    assert error_event(TimeoutError()).error.code == pb.TIMEOUT
    assert error_event(RuntimeError("odd")).error.code == pb.UPSTREAM_ERROR


def test_an_error_body_that_is_not_the_apis_json_keeps_its_text() -> None:
    error = UpstreamStatusError.from_body(502, b"<html>Bad Gateway</html>", {})
    event = error_event(error)
    assert event.error.code == pb.UPSTREAM_ERROR and event.error.upstream_status == 502
    assert "Bad Gateway" in event.error.message


def test_error_messages_never_carry_the_key() -> None:
    error = status_error(401, "authentication_error", f"invalid x-api-key {API_KEY}")
    message = error_event(error, secrets=[API_KEY]).error.message
    assert API_KEY not in message
    assert "[redacted]" in message
    other = status_error(401, "authentication_error", "bad key sk-ant-api03-someone-else")
    assert "sk-ant-api03-someone-else" not in error_event(other).error.message


def test_transport_errors_raised_mid_stream() -> None:
    event = error_event(UpstreamBroken("ServerDisconnectedError"))
    assert event.error.code == pb.UPSTREAM_ERROR
    assert "ServerDisconnectedError" in event.error.message
    assert error_event(ValueError("bad SSE JSON")).error.code == pb.UPSTREAM_ERROR


def test_usage_so_far_only_once_the_message_started() -> None:
    translator = StreamTranslator()
    assert translator.usage_so_far() == []
    translator.feed(message_start())
    [event] = translator.usage_so_far()
    assert event.usage.input_tokens == 11


def thought(text_: str, signature: str) -> pb.ContentBlock:
    return pb.ContentBlock(thinking=pb.ThinkingBlock(text=text_, signature=signature))


def test_signed_thinking_goes_back_and_keeps_thinking_on_after_tool_calls() -> None:
    req = request(
        user(),
        msg(pb.ROLE_ASSISTANT, thought("hmm", "sig"), call("get_weather", "{}")),
        result("call_1", "sunny"),
        reasoning_effort="high",
        tools=[weather_tool()],
    )
    kwargs = kwargs_of(req)
    assert kwargs["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "hmm",
        "signature": "sig",
    }
    assert kwargs["thinking"] == {"type": "adaptive"}


def test_unsigned_thinking_is_left_out() -> None:
    req = request(user(), msg(pb.ROLE_ASSISTANT, thought("hmm", ""), text("ok")), user("more"))
    assert kwargs_of(req)["messages"][1]["content"] == [{"type": "text", "text": "ok"}]


def cached(block: pb.ContentBlock, ttl: str = "") -> pb.ContentBlock:
    block.cache.CopyFrom(pb.CacheControl(ttl=ttl))
    return block


EPHEMERAL = {"type": "ephemeral"}


def test_cache_breakpoints_reach_their_blocks_and_tools() -> None:
    image = pb.ContentBlock(image=pb.ImageBlock(media_type="image/png", data=PNG))
    result_block = pb.ToolResultBlock(tool_use_id="call_1", content="sunny")
    tool = weather_tool()
    tool.cache.CopyFrom(pb.CacheControl(ttl="1h"))
    req = request(
        msg(pb.ROLE_SYSTEM, cached(text("rules"), "1h")),
        msg(pb.ROLE_SYSTEM, text("today"), cached(text(" and more"))),
        msg(pb.ROLE_USER, cached(image), cached(text("weather?"), "5m")),
        msg(pb.ROLE_ASSISTANT, text("let me see"), cached(call("get_weather", "{}"))),
        msg(pb.ROLE_TOOL, cached(pb.ContentBlock(tool_result=result_block))),
        user("thanks"),
        tools=[weather_tool("other"), tool],
    )
    kwargs = kwargs_of(req)
    assert kwargs["system"] == [
        {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "today"},
        {"type": "text", "text": " and more", "cache_control": EPHEMERAL},
    ]
    first, assistant, last = kwargs["messages"]
    assert [b.get("cache_control") for b in first["content"]] == [
        EPHEMERAL,
        {"type": "ephemeral", "ttl": "5m"},
    ]
    assert first["content"][0]["source"]["type"] == "base64"
    assert [b.get("cache_control") for b in assistant["content"]] == [None, EPHEMERAL]
    assert last["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": "sunny",
        "cache_control": EPHEMERAL,
    }
    assert last["content"][1] == {"type": "text", "text": "thanks"}
    assert [t.get("cache_control") for t in kwargs["tools"]] == [
        None,
        {"type": "ephemeral", "ttl": "1h"},
    ]


def test_without_breakpoints_the_system_prompt_stays_one_text() -> None:
    req = request(msg(pb.ROLE_SYSTEM, text("a"), text("b")), msg(pb.ROLE_SYSTEM, text("c")), user())
    kwargs = kwargs_of(req)
    assert kwargs["system"] == "ab\n\nc"
    assert "cache_control" not in json.dumps(kwargs)


def redacted(data: str) -> pb.ContentBlock:
    return pb.ContentBlock(thinking=pb.ThinkingBlock(redacted=data))


def test_redacted_thinking_goes_back_unchanged_in_order() -> None:
    req = request(
        user(),
        msg(
            pb.ROLE_ASSISTANT,
            thought("hmm", "sig"),
            redacted("EmwKAhgBEgy3va3pzix"),
            text("ok"),
        ),
        user("more"),
    )
    assert kwargs_of(req)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
        {"type": "text", "text": "ok"},
    ]


def test_a_turn_opening_with_redacted_thinking_keeps_thinking_on_after_tool_calls() -> None:
    req = request(
        user(),
        msg(pb.ROLE_ASSISTANT, redacted("opaque"), call("get_weather", "{}")),
        result("call_1", "sunny"),
        reasoning_effort="high",
        tools=[weather_tool()],
    )
    kwargs = kwargs_of(req)
    assert kwargs["messages"][1]["content"][0] == {"type": "redacted_thinking", "data": "opaque"}
    assert kwargs["thinking"] == {"type": "adaptive"}


def test_prose_instead_of_the_json_answer_is_a_422_carrying_the_text() -> None:
    """Never an empty success: the model's text reaches the client in a clear error."""
    events = translate(
        [
            message_start(),
            text_start(0),
            text_delta(0, "It is sunny "),
            text_delta(0, "in Paris."),
            block_stop(0),
            message_delta("end_turn"),
            MESSAGE_STOP,
        ],
        json_tool=JSON_TOOL,
    )
    assert kinds(events) == ["model_info", "usage", "error"]
    error = events[-1].error
    assert error.code == pb.OUTPUT_INVALID and error.param == "response_format"
    assert error.message.endswith("it wrote: It is sunny in Paris.")
