"""frontdoor/chat/output.py: OpenAI chunks and completions built from internal events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from frontdoor.chat.output import (
    SSE_DONE,
    ChunkBuilder,
    CompletionAccumulator,
    sse_data,
    usage_json,
)
from frontdoor.chat.stream import OpenAIChunks, StreamContext
from protos import common_pb2 as pb

USAGE = pb.Usage(input_tokens=100, output_tokens=12, cache_read_tokens=70, cache_write_tokens=30)


def _text(text: str) -> pb.Event:
    return pb.Event(text=pb.TextDelta(text=text))


def _call(index: int, arguments: str, call_id: str = "", name: str = "") -> pb.Event:
    return pb.Event(
        tool_call=pb.ToolCallDelta(index=index, id=call_id, name=name, arguments_delta=arguments)
    )


def _finish(reason: pb.FinishReason, model: str = "") -> pb.Event:
    return pb.Event(finish=pb.Finish(reason=reason, model=model))


def test_usage_json_counts_cache_inside_prompt_tokens() -> None:
    assert usage_json(USAGE) == {
        "prompt_tokens": 200,
        "completion_tokens": 12,
        "total_tokens": 212,
        "prompt_tokens_details": {"cached_tokens": 70},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_usage_json_zero() -> None:
    usage = usage_json(pb.Usage())
    assert usage["prompt_tokens"] == usage["completion_tokens"] == usage["total_tokens"] == 0
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}


def test_usage_json_cache_write_is_not_reported_as_cached() -> None:
    usage = usage_json(pb.Usage(input_tokens=1, cache_write_tokens=9))
    assert usage["prompt_tokens"] == 10
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0


@pytest.fixture
def chunks() -> ChunkBuilder:
    return ChunkBuilder("chatcmpl-abc", 1_700_000_000, "claude-sonnet-5")


def _only_choice(chunk: dict[str, object]) -> dict[str, object]:
    choices = chunk["choices"]
    assert isinstance(choices, list) and len(choices) == 1
    choice = choices[0]
    assert isinstance(choice, dict)
    assert choice["index"] == 0
    return choice


def test_chunk_envelope(chunks: ChunkBuilder) -> None:
    chunk = chunks.text("x")
    assert chunk["id"] == "chatcmpl-abc"
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["created"] == 1_700_000_000
    assert chunk["model"] == "claude-sonnet-5"
    assert "usage" not in chunk


def test_role_chunk(chunks: ChunkBuilder) -> None:
    choice = _only_choice(chunks.role())
    assert choice["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert choice["finish_reason"] is None
    assert choice["logprobs"] is None


def test_role_chunk_of_an_answer_that_starts_with_a_tool_call(chunks: ChunkBuilder) -> None:
    choice = _only_choice(chunks.role(tool_call_first=True))
    assert choice["delta"] == {"role": "assistant", "content": None, "refusal": None}


def test_with_include_usage_every_chunk_says_usage_null() -> None:
    chunks = ChunkBuilder("chatcmpl-abc", 1, "claude-sonnet-5", include_usage=True)
    for chunk in (chunks.role(), chunks.text("x"), chunks.finish(pb.FINISH_STOP)):
        assert "usage" in chunk and chunk["usage"] is None
    assert chunks.usage(pb.Usage(input_tokens=3, output_tokens=1))["usage"]["total_tokens"] == 4


def _stream(*events: pb.Event, before: int = 1) -> list[dict[str, Any]]:
    """The chunks OpenAIChunks writes when `before` events came before the opening."""
    writer = OpenAIChunks(StreamContext("r1", 1, "sonnet", include_usage=False))
    for event in events[:before]:
        writer.note(event)
    out = writer.opening() + b"".join(writer.event(e)[0] for e in events)
    return [json.loads(line[6:]) for line in out.split(b"\n\n") if line.startswith(b"data: {")]


def test_a_stream_names_one_model_in_every_chunk() -> None:
    resolved = pb.Event(model_info=pb.ModelInfo(model="claude-sonnet-5"))
    finish = pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet-5-later"))
    text = pb.Event(text=pb.TextDelta(text="hi"))
    normal = _stream(resolved, text, finish, before=2)
    assert {chunk["model"] for chunk in normal} == {"claude-sonnet-5"}
    committed_early = _stream(text, resolved, finish, before=0)  # STREAM_COMMIT_MS passed
    assert {chunk["model"] for chunk in committed_early} == {"sonnet"}


def test_a_stream_that_starts_with_a_tool_call_opens_with_null_content() -> None:
    call = pb.Event(tool_call=pb.ToolCallDelta(index=0, id="c1", name="f", arguments_delta="{}"))
    [opening, *_] = _stream(call)
    assert opening["choices"][0]["delta"]["content"] is None


def test_text_chunk(chunks: ChunkBuilder) -> None:
    choice = _only_choice(chunks.text("Hello"))
    assert choice["delta"] == {"content": "Hello"}
    assert choice["finish_reason"] is None


def test_first_tool_call_chunk_has_id_type_and_name(chunks: ChunkBuilder) -> None:
    delta = pb.ToolCallDelta(index=1, id="call_9", name="get_weather", arguments_delta="")
    choice = _only_choice(chunks.tool_call(delta))
    assert choice["delta"] == {
        "tool_calls": [
            {
                "index": 1,
                "id": "call_9",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ]
    }


def test_later_tool_call_chunk_has_only_arguments(chunks: ChunkBuilder) -> None:
    delta = pb.ToolCallDelta(index=0, arguments_delta='{"city"')
    choice = _only_choice(chunks.tool_call(delta))
    assert choice["delta"] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city"'}}]}


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (pb.FINISH_STOP, "stop"),
        (pb.FINISH_LENGTH, "length"),
        (pb.FINISH_TOOL_CALLS, "tool_calls"),
        (pb.FINISH_CONTENT_FILTER, "content_filter"),
        (pb.FINISH_UNSPECIFIED, "stop"),
    ],
)
def test_finish_chunk(chunks: ChunkBuilder, reason: int, text: str) -> None:
    choice = _only_choice(chunks.finish(reason))
    assert choice["delta"] == {}
    assert choice["finish_reason"] == text


def test_usage_chunk_has_empty_choices(chunks: ChunkBuilder) -> None:
    chunk = chunks.usage(USAGE)
    assert chunk["choices"] == []
    assert chunk["usage"] == usage_json(USAGE)
    assert chunk["object"] == "chat.completion.chunk"


def test_sse_framing() -> None:
    frame = sse_data({"a": 1, "b": "é"})
    assert frame.startswith(b"data: ")
    assert frame.endswith(b"\n\n")
    assert frame.count(b"\n") == 2
    assert json.loads(frame[len(b"data: ") :]) == {"a": 1, "b": "é"}
    assert SSE_DONE == b"data: [DONE]\n\n"


def _accumulate(*events: pb.Event, model: str = "sonnet") -> dict[str, object]:
    acc = CompletionAccumulator("chatcmpl-1", 1_700_000_001, model)
    for event in events:
        acc.add(event)
    return acc.response()


def _message(response: dict[str, object]) -> dict[str, object]:
    choice = _only_choice(response)
    message = choice["message"]
    assert isinstance(message, dict)
    return message


def test_accumulator_text_and_usage() -> None:
    response = _accumulate(
        pb.Event(model_info=pb.ModelInfo(model="claude-sonnet-5")),
        _text("Hel"),
        _text("lo"),
        _text(""),
        pb.Event(usage=USAGE),
        _finish(pb.FINISH_STOP),
    )
    assert response["id"] == "chatcmpl-1"
    assert response["object"] == "chat.completion"
    assert response["created"] == 1_700_000_001
    assert response["model"] == "claude-sonnet-5"
    message = _message(response)
    assert message == {"role": "assistant", "content": "Hello", "refusal": None}
    choice = _only_choice(response)
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    assert response["usage"] == usage_json(USAGE)


def test_accumulator_empty_run() -> None:
    response = _accumulate()
    assert _message(response)["content"] == ""
    assert "tool_calls" not in _message(response)
    assert _only_choice(response)["finish_reason"] == "stop"
    assert response["model"] == "sonnet"
    assert response["usage"] == usage_json(pb.Usage())


def test_accumulator_model_from_finish_wins() -> None:
    response = _accumulate(
        pb.Event(model_info=pb.ModelInfo(model="claude-opus-4-8")),
        _finish(pb.FINISH_STOP, model="claude-haiku-4-5-20251001"),
    )
    assert response["model"] == "claude-haiku-4-5-20251001"


def test_accumulator_finish_without_model_keeps_model_info() -> None:
    response = _accumulate(
        pb.Event(model_info=pb.ModelInfo(model="claude-opus-4-8")), _finish(pb.FINISH_LENGTH)
    )
    assert response["model"] == "claude-opus-4-8"
    assert _only_choice(response)["finish_reason"] == "length"


def test_accumulator_tool_calls_by_index_with_incremental_arguments() -> None:
    response = _accumulate(
        _call(0, "", "call_a", "get_weather"),
        _call(1, '{"tz":', "call_b", "get_time"),
        _call(0, '{"city": '),
        _call(1, ' "UTC"}'),
        _call(0, '"Oslo"}'),
        _finish(pb.FINISH_TOOL_CALLS),
    )
    message = _message(response)
    assert message["content"] is None
    assert message["tool_calls"] == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'},
        },
    ]
    assert _only_choice(response)["finish_reason"] == "tool_calls"


def test_accumulator_text_and_tool_calls_keeps_text() -> None:
    message = _message(
        _accumulate(_text("Let me look."), _call(0, "{}", "c1", "f"), _finish(pb.FINISH_TOOL_CALLS))
    )
    assert message["content"] == "Let me look."
    assert isinstance(message["tool_calls"], list) and len(message["tool_calls"]) == 1


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (pb.FINISH_LENGTH, "length"),
        (pb.FINISH_CONTENT_FILTER, "content_filter"),
        (pb.FINISH_UNSPECIFIED, "stop"),
    ],
)
def test_accumulator_finish_reasons(reason: pb.FinishReason, text: str) -> None:
    assert _only_choice(_accumulate(_finish(reason)))["finish_reason"] == text


def test_accumulator_last_usage_wins_and_ignores_other_events() -> None:
    response = _accumulate(
        pb.Event(usage=pb.Usage(input_tokens=1)),
        pb.Event(activity=pb.Activity(kind="api_retry", detail="x")),
        pb.Event(rate_limit=pb.RateLimitStatus(status="allowed")),
        pb.Event(started=pb.Started(worker="1", mode="cli")),
        pb.Event(usage=pb.Usage(input_tokens=5, output_tokens=2)),
    )
    assert response["usage"] == usage_json(pb.Usage(input_tokens=5, output_tokens=2))
    assert _message(response)["content"] == ""


def test_accumulator_response_is_json_serialisable() -> None:
    response = _accumulate(_text("a"), _call(0, "{}", "c", "f"), pb.Event(usage=USAGE))
    assert json.loads(json.dumps(response)) == response
