"""The Anthropic door's pure parts: request model, translation, message and SSE builders."""

from __future__ import annotations

import base64
import json
from typing import Any

import pydantic
import pytest

from common.errors import anthropic_type, make_error, wire_error
from frontdoor.core.errors import ApiError
from frontdoor.messages.models import CountTokensRequest, MessagesRequest
from frontdoor.messages.output import MessageAccumulator, MessageStream
from frontdoor.messages.routes import _first_error
from frontdoor.messages.translate import (
    IMAGE_TOKEN_ESTIMATE,
    estimate_input_tokens,
    to_chat_request,
)
from protos import common_pb2 as pb

PNG = b"\x89PNG\r\n\x1a\nbytes"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def request(**fields: Any) -> MessagesRequest:
    body: dict[str, Any] = {"model": "sonnet", "max_tokens": 100}
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    body.update(fields)
    return MessagesRequest.model_validate(body)


def chat(**fields: Any) -> pb.ChatRequest:
    return to_chat_request(request(**fields), "sonnet", "rid")


def roles(message_list: Any) -> list[int]:
    return [m.role for m in message_list]


# --- translation ---------------------------------------------------------------------------


def test_plain_request() -> None:
    out = chat(
        system="Be brief.",
        stop_sequences=["END"],
        temperature=0.5,
        top_p=0.9,
        metadata={"user_id": "u-1"},
        stream=True,
    )
    assert out.request_id == "rid" and out.model == "sonnet" and out.stream
    assert out.max_tokens == 100 and list(out.stop) == ["END"] and out.user == "u-1"
    assert out.temperature == pytest.approx(0.5) and out.top_p == pytest.approx(0.9)
    assert roles(out.messages) == [pb.ROLE_SYSTEM, pb.ROLE_USER]
    assert out.messages[0].content[0].text == "Be brief."
    assert out.messages[1].content[0].text == "hi"


def test_system_blocks_are_system_messages_in_order() -> None:
    blocks = [
        {"type": "text", "text": "a"},
        {"type": "text", "text": ""},
        {"type": "text", "text": "b"},
    ]
    out = chat(system=blocks)
    assert roles(out.messages) == [pb.ROLE_SYSTEM, pb.ROLE_SYSTEM, pb.ROLE_USER]
    assert [m.content[0].text for m in out.messages[:2]] == ["a", "b"]
    assert not any(m.content[0].HasField("cache") for m in out.messages)


EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}


def cache_of(holder: pb.ContentBlock | pb.ToolSpec) -> str | None:
    """None without a breakpoint, else its ttl ("" for the default)."""
    return holder.cache.ttl if holder.HasField("cache") else None


def test_cache_control_reaches_every_place() -> None:
    data = base64.b64encode(PNG).decode()
    tool = {"name": "w", "input_schema": SCHEMA}
    out = chat(
        system=[
            {"type": "text", "text": "long instructions", "cache_control": HOUR},
            {"type": "text", "text": "today"},
        ],
        tools=[tool, {**tool, "name": "v", "cache_control": EPHEMERAL}],
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": data},
                        "cache_control": EPHEMERAL,
                    },
                    {
                        "type": "text",
                        "text": "weather?",
                        "cache_control": {**EPHEMERAL, "ttl": "5m"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "checking"},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "w",
                        "input": {},
                        "cache_control": EPHEMERAL,
                    },
                    {"type": "tool_use", "id": "toolu_2", "name": "v", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": "18C",
                        "cache_control": HOUR,
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [
                            {"type": "text", "text": "a"},
                            {"type": "text", "text": "b", "cache_control": EPHEMERAL},
                        ],
                    },
                    {"type": "text", "text": "and now?"},
                ],
            },
        ],
    )
    system, _, user, assistant, results, last = out.messages
    assert cache_of(system.content[0]) == "1h" and cache_of(out.messages[1].content[0]) is None
    assert [cache_of(t) for t in out.tools] == [None, ""]
    assert [cache_of(b) for b in user.content] == ["", "5m"]
    assert [cache_of(b) for b in assistant.content] == [None, "", None]
    assert results.role == pb.ROLE_TOOL
    assert [cache_of(b) for b in results.content] == ["1h", ""]  # the inner part's, on its result
    assert [cache_of(b) for b in last.content] == [None]


@pytest.mark.parametrize(
    ("cache", "param"),
    [
        ({"type": "persistent"}, "messages.0.content.0.cache_control.type"),
        ({"type": "ephemeral", "ttl": "2h"}, "messages.0.content.0.cache_control.ttl"),
    ],
)
def test_cache_control_that_cannot_be_honoured_is_refused(
    cache: dict[str, Any], param: str
) -> None:
    bad = {
        "model": "sonnet",
        "max_tokens": 5,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": cache}]}
        ],
    }
    with pytest.raises(pydantic.ValidationError) as caught:
        MessagesRequest.model_validate(bad)
    assert _first_error(caught.value.errors(), bad)[0] == param


def test_redacted_thinking_goes_back_in_order() -> None:
    out = chat(
        messages=[
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                    {"type": "text", "text": "hello"},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "redacted_thinking", "data": "not here"},
                    {"type": "text", "text": "more"},
                ],
            },
        ]
    )
    assistant = out.messages[1].content
    assert [b.WhichOneof("kind") for b in assistant] == ["thinking", "thinking", "text"]
    assert assistant[0].thinking.redacted == ""
    assert assistant[1].thinking == pb.ThinkingBlock(redacted="EmwKAhgBEgy3va3pzix")
    assert [b.WhichOneof("kind") for b in out.messages[2].content] == ["text"]


def test_system_role_messages_join_the_system_prompt() -> None:
    out = chat(
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "mid"}]},
            {"role": "user", "content": "hi"},
        ]
    )
    assert roles(out.messages) == [pb.ROLE_SYSTEM, pb.ROLE_USER]
    assert out.messages[0].content[0].text == "mid"
    with pytest.raises(ApiError):
        chat(
            messages=[
                {
                    "role": "system",
                    "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}],
                }
            ]
        )


def test_unset_sampling_stays_unset() -> None:
    out = chat()
    assert not out.HasField("temperature") and not out.HasField("top_p")
    assert not out.HasField("parallel_tool_calls")


def test_tool_turns() -> None:
    out = chat(
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "P"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                        "is_error": True,
                    },
                    {"type": "text", "text": "and now?"},
                ],
            },
        ]
    )
    assert roles(out.messages) == [pb.ROLE_USER, pb.ROLE_ASSISTANT, pb.ROLE_TOOL, pb.ROLE_USER]
    assistant = out.messages[1].content
    assert [b.WhichOneof("kind") for b in assistant] == ["thinking", "text", "tool_use"]
    assert (assistant[0].thinking.text, assistant[0].thinking.signature) == ("hmm", "sig")
    assert assistant[2].tool_use.id == "toolu_1" and assistant[2].tool_use.name == "w"
    assert json.loads(assistant[2].tool_use.arguments_json) == {"city": "P"}
    results = [b.tool_result for b in out.messages[2].content]
    assert [(r.tool_use_id, r.content, r.is_error) for r in results] == [
        ("toolu_1", "18C", False),
        ("toolu_2", "a\nb", True),
    ]
    assert out.messages[3].content[0].text == "and now?"


def test_images() -> None:
    data = base64.b64encode(PNG).decode()
    out = chat(
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/PNG", "data": data},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                    {"type": "text", "text": "what is this?"},
                ],
            }
        ]
    )
    first, second, _ = out.messages[0].content
    assert first.image.media_type == "image/png" and first.image.data == PNG
    assert second.image.url == "https://x.test/a.png"


def test_tools_and_choices() -> None:
    tool = {"name": "w", "description": "weather", "input_schema": SCHEMA}
    out = chat(tools=[tool], tool_choice={"type": "tool", "name": "w"})
    [spec] = out.tools
    assert (spec.name, spec.description) == ("w", "weather")
    assert json.loads(spec.parameters_json) == SCHEMA
    assert out.tool_choice.mode == pb.TOOL_CHOICE_NAMED and out.tool_choice.name == "w"
    assert not out.HasField("parallel_tool_calls")

    out = chat(tools=[tool], tool_choice={"type": "any", "disable_parallel_tool_use": True})
    assert out.tool_choice.mode == pb.TOOL_CHOICE_REQUIRED
    assert out.HasField("parallel_tool_calls") and not out.parallel_tool_calls
    assert chat(tools=[tool], tool_choice={"type": "auto"}).tool_choice.mode == (
        pb.TOOL_CHOICE_AUTO
    )
    assert chat(tools=[tool], tool_choice={"type": "none"}).tool_choice.mode == (
        pb.TOOL_CHOICE_NONE
    )
    custom = {**tool, "type": "custom", "cache_control": {"type": "ephemeral"}}
    assert [t.name for t in chat(tools=[custom]).tools] == ["w"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"top_k": 5}, "top_k"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type"),
        ({"tools": [{"name": "w"}]}, "tools.0.input_schema"),
        ({"tools": [{"name": "w", "input_schema": SCHEMA}], "tool_choice": {"type": "tool"}}, ""),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}],
                    }
                ]
            },
            "messages.0.content.0",
        ),
        (
            {
                "messages": [
                    {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}
                ]
            },
            "messages.0.content.0",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "%%%",
                                },
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0.source.data",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "thinking"}]}]}, "messages.0"),
    ],
)
def test_refusals(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as caught:
        chat(**fields)
    assert caught.value.status == 400
    assert (caught.value.param or "").startswith(param)


def test_validation_errors_name_the_field() -> None:
    bad = {
        "model": "sonnet",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "text"}]}],
    }
    with pytest.raises(Exception) as caught:
        MessagesRequest.model_validate(bad)
    param, message = _first_error(caught.value.errors(), bad)  # type: ignore[attr-defined]
    assert param == "messages.0.content.0.text"
    assert message == "Field required"


def test_unknown_fields_are_kept_for_the_log() -> None:
    body = request(service_tier="auto", container=None)
    assert body.ignored_fields() == ["container", "service_tier"]


def test_unknown_fields_are_found_at_every_depth() -> None:
    content = [{"type": "text", "text": "hi", "citations": []}]
    body = request(
        messages=[{"role": "user", "content": content}],
        thinking={"type": "adaptive", "shape": "round"},
        output_config={"format": {"type": "json_schema", "schema": SCHEMA, "strict": True}},
    )
    assert body.ignored_fields() == [
        "messages.0.content.0.citations",
        "output_config.format.strict",
        "thinking.shape",
    ]


def test_output_config_format_is_the_json_schema_path() -> None:
    converted = chat(output_config={"format": {"type": "json_schema", "schema": SCHEMA}})
    assert converted.response_format == pb.RESPONSE_FORMAT_JSON_SCHEMA
    assert json.loads(converted.json_schema) == SCHEMA
    with pytest.raises(ApiError) as caught:
        chat(output_config={"format": {"type": "json_schema"}})
    assert caught.value.param == "output_config.format"


def test_thinking_display_is_passed_on() -> None:
    thinking = {"type": "adaptive", "display": "omitted"}
    assert chat(thinking=thinking).thinking_display == "omitted"
    assert chat(thinking={"type": "adaptive"}).thinking_display == ""


def test_count_tokens_estimate() -> None:
    body = CountTokensRequest.model_validate(
        {
            "model": "sonnet",
            "system": "s" * 40,
            "messages": [
                {"role": "user", "content": "u" * 400},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://x.test/a.png"},
                        }
                    ],
                },
            ],
        }
    )
    assert estimate_input_tokens(body) == 110 + IMAGE_TOKEN_ESTIMATE
    tiny = CountTokensRequest.model_validate(
        {"model": "sonnet", "messages": [{"role": "user", "content": ""}]}
    )
    assert estimate_input_tokens(tiny) == 1


# --- responses -----------------------------------------------------------------------------


def text(value: str) -> pb.Event:
    return pb.Event(text=pb.TextDelta(text=value))


def call(index: int, fragment: str, call_id: str = "", name: str = "") -> pb.Event:
    delta = pb.ToolCallDelta(index=index, id=call_id, name=name, arguments_delta=fragment)
    return pb.Event(tool_call=delta)


def finish(reason: pb.FinishReason, model: str = "claude-sonnet-test") -> pb.Event:
    return pb.Event(finish=pb.Finish(reason=reason, model=model))


USAGE = pb.Event(
    usage=pb.Usage(input_tokens=3, output_tokens=4, cache_read_tokens=5, cache_write_tokens=6)
)
TOOL_RUN = [
    pb.Event(started=pb.Started(worker="w1")),
    pb.Event(model_info=pb.ModelInfo(model="claude-sonnet-test")),
    pb.Event(session=pb.SessionInfo(served="warm")),
    text("Let me "),
    text("check."),
    call(0, "", "toolu_a", "w"),
    call(0, '{"city":'),
    call(0, '"P"}'),
    call(1, '{"city":"T"}', "toolu_b", "w"),
    pb.Event(activity=pb.Activity(kind="x")),
    USAGE,
    finish(pb.FINISH_TOOL_CALLS),
]


def test_accumulated_message() -> None:
    result = MessageAccumulator("msg_1", "sonnet")
    for event in TOOL_RUN:
        result.add(event)
    assert result.response() == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-test",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_a", "name": "w", "input": {"city": "P"}},
            {"type": "tool_use", "id": "toolu_b", "name": "w", "input": {"city": "T"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 3,
            "output_tokens": 4,
            "cache_creation_input_tokens": 6,
            "cache_read_input_tokens": 5,
        },
    }


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (pb.FINISH_STOP, "end_turn"),
        (pb.FINISH_LENGTH, "max_tokens"),
        (pb.FINISH_TOOL_CALLS, "tool_use"),
        (pb.FINISH_CONTENT_FILTER, "refusal"),
        (pb.FINISH_UNSPECIFIED, "end_turn"),
        (pb.FINISH_STOP_SEQUENCE, "stop_sequence"),
    ],
)
def test_stop_reasons(reason: pb.FinishReason, expected: str) -> None:
    result = MessageAccumulator("msg_1", "sonnet")
    result.add(finish(reason))
    assert result.response()["stop_reason"] == expected
    assert result.response()["stop_sequence"] is None  # no sequence named: null


STOPPED_ON_END = pb.Event(
    finish=pb.Finish(reason=pb.FINISH_STOP_SEQUENCE, model="m", stop_sequence="END")
)
REDACTED_RUN = [
    pb.Event(thinking=pb.ThinkingDelta(text="hmm")),
    pb.Event(thinking=pb.ThinkingDelta(signature="sig")),
    pb.Event(thinking=pb.ThinkingDelta(redacted="opaque-1")),
    pb.Event(thinking=pb.ThinkingDelta(redacted="opaque-2")),
    pb.Event(thinking=pb.ThinkingDelta(text="more")),
    text("answer"),
    USAGE,
    STOPPED_ON_END,
]


def test_accumulated_redacted_thinking_and_stop_sequence() -> None:
    result = MessageAccumulator("msg_1", "sonnet")
    for event in REDACTED_RUN:
        result.add(event)
    message = result.response()
    assert message["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque-1"},
        {"type": "redacted_thinking", "data": "opaque-2"},
        {"type": "thinking", "thinking": "more", "signature": ""},
        {"type": "text", "text": "answer"},
    ]
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")


def test_unparseable_arguments_become_an_empty_input() -> None:
    result = MessageAccumulator("msg_1", "sonnet")
    result.add(call(0, "{not json", "toolu_a", "w"))
    assert result.response()["content"][0]["input"] == {}


def parse_sse(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in data.decode().split("\n\n"):
        if not chunk:
            continue
        name_line, data_line = chunk.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        payload = json.loads(data_line[len("data: ") :])
        assert payload["type"] == name_line[len("event: ") :]
        events.append((name_line[len("event: ") :], payload))
    return events


def run_stream(events: list[pb.Event]) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    writer = MessageStream("msg_1", "sonnet")
    out = b""
    clean = True
    for event in events:
        if event.WhichOneof("kind") in ("started", "model_info") and not out:
            writer.note(event)
            continue
        if not out:
            out = writer.opening()
        data, clean = writer.event(event)
        out += data
        if not clean:
            break
    out += writer.closing(clean)
    return parse_sse(out), clean


def test_stream_of_text_and_tool_calls() -> None:
    events, clean = run_stream(TOOL_RUN)
    assert clean
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["model"] == "claude-sonnet-test" and start["content"] == []
    assert start["stop_reason"] is None
    blocks = [p["content_block"] for n, p in events if n == "content_block_start"]
    assert blocks == [
        {"type": "text", "text": ""},
        {"type": "tool_use", "id": "toolu_a", "name": "w", "input": {}},
        {"type": "tool_use", "id": "toolu_b", "name": "w", "input": {}},
    ]
    indexes = [p["index"] for n, p in events if n.startswith("content_block")]
    assert indexes == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    deltas = [p["delta"] for n, p in events if n == "content_block_delta"]
    assert deltas[0] == {"type": "text_delta", "text": "Let me "}
    assert deltas[2] == {"type": "input_json_delta", "partial_json": '{"city":'}
    end = events[-2][1]
    assert end["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert end["usage"]["output_tokens"] == 4 and end["usage"]["cache_read_input_tokens"] == 5


def test_stream_of_redacted_thinking_and_a_stop_sequence() -> None:
    events, clean = run_stream(REDACTED_RUN)
    assert clean
    blocks = [(n, p) for n, p in events if n.startswith("content_block")]
    assert [(n, p["index"]) for n, p in blocks] == [
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),  # a redacted block comes whole in its start, no delta
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_stop", 2),
        ("content_block_start", 3),
        ("content_block_delta", 3),
        ("content_block_stop", 3),
        ("content_block_start", 4),
        ("content_block_delta", 4),
        ("content_block_stop", 4),
    ]
    starts = [p["content_block"] for n, p in blocks if n == "content_block_start"]
    assert starts[1:3] == [
        {"type": "redacted_thinking", "data": "opaque-1"},
        {"type": "redacted_thinking", "data": "opaque-2"},
    ]
    assert events[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_stream_error_after_output() -> None:
    error = make_error(pb.UPSTREAM_OVERLOADED, "try later")
    events, clean = run_stream([text("partial"), error])
    assert not clean
    assert [name for name, _ in events][-2:] == ["content_block_stop", "error"]
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "try later"},
    }


def test_stream_that_ends_without_finish_is_an_error() -> None:
    events, _ = run_stream([text("partial")])
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "api_error"


def test_keepalive_is_a_ping() -> None:
    assert parse_sse(MessageStream.keepalive) == [("ping", {"type": "ping"})]


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
        (499, "api_error"),
    ],
)
def test_anthropic_types_by_status(status: int, kind: str) -> None:
    assert anthropic_type(status) == kind
    assert ApiError(status, "m").anthropic_body() == {
        "type": "error",
        "error": {"type": kind, "message": "m"},
    }


def test_every_code_has_an_anthropic_type() -> None:
    for code in pb.ErrorCode.values():
        assert wire_error(code).anthropic_type


def test_anthropic_message_names_the_param() -> None:
    body = ApiError(400, "not supported", param="top_k").anthropic_body()
    assert body["error"]["message"] == "top_k: not supported"


def test_an_image_type_claude_cannot_read_is_refused_at_the_door() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/x-evil", "data": "AAAA"},
    }
    with pytest.raises(ApiError) as caught:
        chat(messages=[{"role": "user", "content": [image]}])
    assert caught.value.status == 400
    assert caught.value.param == "messages.0.content.0.source.media_type"
