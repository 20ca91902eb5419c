"""workerd/cli/stream_json.py: CLI stream-json lines -> internal events (docs/claude-cli.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from protos import common_pb2 as pb
from tests.anthropic_events import MESSAGE_STOP as RAW_MESSAGE_STOP
from tests.anthropic_events import block_stop as raw_stop
from tests.anthropic_events import json_delta as raw_json
from tests.anthropic_events import message_delta as raw_message_delta
from tests.anthropic_events import message_start as upstream_message_start
from tests.anthropic_events import text_delta as raw_text
from tests.anthropic_events import text_start as raw_text_start
from tests.anthropic_events import tool_start as raw_tool_start
from workerd.anthropic.status import status_code
from workerd.anthropic.stream import StreamTranslator, usage_of
from workerd.cli.stream_json import BRIDGE_PREFIX, StreamJsonParser

SESSION = "b38f8af3-0000-4000-8000-000000000001"
RESULT_USAGE = {
    "input_tokens": 100,
    "cache_creation_input_tokens": 30,
    "cache_read_input_tokens": 70,
    "output_tokens": 12,
    "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
    "service_tier": "standard",
}
RESET_AT = 1_795_597_829


def line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def init() -> dict[str, Any]:
    return {
        "type": "system",
        "subtype": "init",
        "cwd": "/srv/work",
        "session_id": SESSION,
        "tools": [],
        "model": "claude-opus-4-8[1m]",
        "apiKeySource": "none",
        "claude_code_version": "2.1.197",
        "uuid": "u-init",
    }


def stream(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "stream_event",
        "event": event,
        "session_id": SESSION,
        "parent_tool_use_id": None,
        "uuid": "u",
    }


def message_start(message_id: str = "msg_1", model: str = "claude-opus-4-8") -> dict[str, Any]:
    return stream(
        {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 100, "output_tokens": 1},
            },
        }
    )


def text_delta(text: str, index: int = 0) -> dict[str, Any]:
    return stream(
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text},
        }
    )


def assistant(
    content: list[dict[str, Any]],
    message_id: str = "msg_1",
    model: str = "claude-opus-4-8",
    error: str | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "assistant",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": None,
            "usage": {"input_tokens": 100, "output_tokens": 1},
        },
        "parent_tool_use_id": None,
        "session_id": SESSION,
        "uuid": "u",
        "request_id": "req_1",
    }
    if error is not None:
        obj["error"] = error
    return obj


def synthetic_error(text: str, category: str) -> dict[str, Any]:
    return assistant(
        [{"type": "text", "text": text}],
        message_id="0f1e2d3c-aaaa-4bbb-8ccc-000000000000",
        model="<synthetic>",
        error=category,
    )


def result_success(stop_reason: str | None = "end_turn", text: str = "Hello!") -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "api_error_status": None,
        "duration_ms": 103,
        "num_turns": 1,
        "result": text,
        "stop_reason": stop_reason,
        "session_id": SESSION,
        "total_cost_usd": 0.0010225,
        "usage": RESULT_USAGE,
        "terminal_reason": "completed",
        "uuid": "u-result",
    }


def result_api_error(text: str, status: int | None) -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "api_error_status": status,
        "duration_ms": 500,
        "num_turns": 1,
        "result": text,
        "stop_reason": "stop_sequence",
        "session_id": SESSION,
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "uuid": "u-result",
    }


def rate_limit_event(status: str, resets_at: int | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"status": status, "isUsingOverage": False}
    if resets_at is not None:
        info.update(resetsAt=resets_at, rateLimitType="five_hour", utilization=0.92)
    return {"type": "rate_limit_event", "rate_limit_info": info, "session_id": SESSION}


def run(parser: StreamJsonParser, *objs: dict[str, Any]) -> list[pb.Event]:
    events: list[pb.Event] = []
    for obj in objs:
        events.extend(parser.feed_line(line(obj)))
    return events


def kinds(events: list[pb.Event]) -> list[str | None]:
    return [event.WhichOneof("kind") for event in events]


def texts(events: list[pb.Event]) -> list[str]:
    return [event.text.text for event in events if event.WhichOneof("kind") == "text"]


def only_error(events: list[pb.Event]) -> pb.Error:
    errors = [event.error for event in events if event.WhichOneof("kind") == "error"]
    assert len(errors) == 1, kinds(events)
    assert "finish" not in kinds(events)
    return errors[0]


def parser(
    tools_allowed: bool = False, now_ms: int = 0, structured: bool = False
) -> StreamJsonParser:
    return StreamJsonParser(
        tools_allowed=tools_allowed, structured=structured, now_ms=lambda: now_ms
    )


def test_streamed_turn_end_to_end() -> None:
    p = parser()
    events = run(
        p,
        init(),
        {"type": "system", "subtype": "status", "status": "requesting", "session_id": SESSION},
        message_start(),
        stream({"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}),
        text_delta("Hel"),
        text_delta("lo!"),
        assistant([{"type": "text", "text": "Hello!"}]),
        stream({"type": "content_block_stop", "index": 0}),
        stream({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
        stream({"type": "message_stop"}),
        rate_limit_event("allowed"),
        result_success(),
    )
    assert kinds(events) == ["model_info", "text", "text", "rate_limit", "usage", "finish"]
    assert events[0].model_info.model == "claude-opus-4-8"
    assert texts(events) == ["Hel", "lo!"]
    assert events[-1].finish.reason == pb.FINISH_STOP
    usage = events[-2].usage
    assert (usage.input_tokens, usage.output_tokens) == (100, 12)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (70, 30)
    assert p.result_seen
    assert p.finish(0) == []


def stopped_on(sequence: str | None, stop_reason: str = "stop_sequence") -> dict[str, Any]:
    delta = {"stop_reason": stop_reason, "stop_sequence": sequence}
    return stream({"type": "message_delta", "delta": delta, "usage": {"output_tokens": 3}})


def test_a_stop_on_a_stop_sequence_names_the_sequence() -> None:
    events = run(
        parser(),
        message_start(),
        text_delta("one two"),
        stopped_on("THREE"),
        stream({"type": "message_stop"}),
        result_success("stop_sequence", "one two"),
    )
    assert kinds(events) == ["model_info", "text", "usage", "finish"]
    assert events[-1].finish == pb.Finish(reason=pb.FINISH_STOP_SEQUENCE, stop_sequence="THREE")


def test_only_the_last_message_stop_sequence_counts() -> None:
    """An agent turn of two messages: the first stopped on a sequence, the last did not; a
    `stop_sequence` result without a sequence from the upstream is a plain stop."""
    events = run(
        parser(tools_allowed=True),
        message_start("msg_1"),
        stopped_on("THREE"),
        message_start("msg_2"),
        stopped_on(None, "end_turn"),
        result_success("end_turn"),
    )
    assert events[-1].finish == pb.Finish(reason=pb.FINISH_STOP)
    events = run(parser(), message_start(), stopped_on(None), result_success("stop_sequence"))
    assert events[-1].finish == pb.Finish(reason=pb.FINISH_STOP)


def test_model_info_only_once() -> None:
    p = parser()
    events = run(
        p,
        message_start("msg_1", "claude-sonnet-5"),
        message_start("msg_2", "claude-haiku-4-5-20251001"),
    )
    assert kinds(events) == ["model_info"]
    assert events[0].model_info.model == "claude-sonnet-5"


def test_message_start_without_model_waits_for_one_that_has_it() -> None:
    p = parser()
    assert run(p, message_start("msg_0", model="")) == []
    events = run(p, message_start("msg_1", "claude-opus-4-8"))
    assert [e.model_info.model for e in events] == ["claude-opus-4-8"]


def test_empty_and_non_text_deltas_emit_nothing() -> None:
    p = parser()
    events = run(
        p,
        message_start(),
        text_delta(""),
        stream(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": ""},
            }
        ),
        stream(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"a"'},
            }
        ),
        stream({"type": "content_block_delta", "index": 0}),
        {"type": "stream_event", "session_id": SESSION},
    )
    assert kinds(events) == ["model_info"]


def test_assistant_after_streamed_deltas_emits_nothing() -> None:
    p = parser()
    run(p, message_start("msg_7"), text_delta("streamed"))
    assert run(p, assistant([{"type": "text", "text": "streamed"}], message_id="msg_7")) == []


def test_assistant_without_deltas_emits_its_text_once() -> None:
    p = parser()
    events = run(
        p,
        init(),
        assistant(
            [
                {"type": "text", "text": "Hello "},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}},
                {"type": "text", "text": "world"},
                {"type": "text", "text": ""},
            ],
            message_id="msg_ns",
        ),
    )
    assert texts(events) == ["Hello ", "world"]
    # The tool_use block is reported as activity (before the text), never as content.
    assert kinds(events) == ["activity", "text", "text"]
    assert events[0].activity.kind == "tool_use"


def test_assistant_lines_per_block_without_deltas_all_emit_text() -> None:
    # docs/claude-cli.md "Stream-json output": one assistant line per block, one message.id.
    p = parser()
    events = run(
        p,
        assistant([{"type": "thinking", "thinking": "let me think", "signature": "sig"}]),
        assistant([{"type": "text", "text": "The answer is 4."}]),
    )
    assert texts(events) == ["The answer is 4."]


def test_synthetic_error_assistant_emits_no_content() -> None:
    p = parser()
    events = run(p, synthetic_error("API Error: 500 Internal server error.", "server_error"))
    assert events == []


def test_synthetic_model_without_error_field_emits_nothing() -> None:
    p = parser()
    events = run(p, assistant([{"type": "text", "text": "API Error: x"}], model="<synthetic>"))
    assert events == []


def test_rate_limit_event_with_details() -> None:
    p = parser()
    (event,) = run(p, rate_limit_event("allowed_warning", RESET_AT))
    status = event.rate_limit
    assert status.status == "allowed_warning"
    assert status.resets_at == RESET_AT
    assert status.limit_type == "five_hour"
    assert status.utilization == pytest.approx(0.92)


def test_rate_limit_event_minimal() -> None:
    (event,) = run(parser(), rate_limit_event("allowed"))
    assert event.rate_limit.status == "allowed"
    assert event.rate_limit.resets_at == 0
    assert event.rate_limit.limit_type == ""
    assert event.rate_limit.utilization == 0.0


def test_api_retry_becomes_activity() -> None:
    p = parser()
    (event,) = run(
        p,
        {
            "type": "system",
            "subtype": "api_retry",
            "attempt": 1,
            "max_retries": 10,
            "retry_delay_ms": 2000,
            "error_status": 429,
            "error": "rate_limit",
            "session_id": SESSION,
        },
    )
    assert event.activity.kind == "api_retry"
    assert "1" in event.activity.detail and "429" in event.activity.detail
    (event,) = run(
        p,
        {
            "type": "system",
            "subtype": "api_retry",
            "attempt": 2,
            "error_status": None,
            "error": "overloaded",
        },
    )
    assert "2" in event.activity.detail and "overloaded" in event.activity.detail
    assert not p.result_seen


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", pb.FINISH_STOP),
        ("stop_sequence", pb.FINISH_STOP),
        ("max_tokens", pb.FINISH_LENGTH),
        ("tool_use", pb.FINISH_TOOL_CALLS),
        ("refusal", pb.FINISH_CONTENT_FILTER),
        (None, pb.FINISH_STOP),
        ("pause_turn", pb.FINISH_STOP),
    ],
)
def test_result_success_stop_reasons(stop_reason: str | None, finish: int) -> None:
    events = run(parser(), result_success(stop_reason))
    assert kinds(events) == ["usage", "finish"]
    assert events[1].finish.reason == finish


@pytest.mark.parametrize(
    ("status", "code", "category"),
    [
        (500, pb.UPSTREAM_ERROR, "server_error"),
        (502, pb.UPSTREAM_ERROR, "server_error"),
        (529, pb.UPSTREAM_OVERLOADED, "server_error"),
        (429, pb.RATE_LIMITED, "rate_limit"),
        (401, pb.UPSTREAM_AUTH, "authentication_failed"),
        (403, pb.UPSTREAM_AUTH, "authentication_failed"),
        (404, pb.MODEL_NOT_FOUND, "model_not_found"),
        (400, pb.INVALID_REQUEST, "unknown"),
    ],
)
def test_result_api_error_status_maps_to_code(status: int, code: int, category: str) -> None:
    text = f"API Error: {status} something failed"
    p = parser()
    events = run(p, synthetic_error(text, category), result_api_error(text, status))
    assert kinds(events)[0] == "usage"
    error = only_error(events)
    assert error.code == code
    assert error.upstream_status == status
    assert error.message == text
    assert error.retry_after_ms == 0
    assert p.result_seen


@pytest.mark.parametrize(
    ("category", "code"),
    [
        ("rate_limit", pb.RATE_LIMITED),
        ("authentication_failed", pb.UPSTREAM_AUTH),
        ("server_error", pb.UPSTREAM_ERROR),
        ("model_not_found", pb.MODEL_NOT_FOUND),
        ("unknown", pb.UPSTREAM_ERROR),
    ],
)
def test_result_error_without_status_uses_synthetic_category(category: str, code: int) -> None:
    text = "API Error: Unable to connect to API (ConnectionRefused)"
    events = run(parser(), synthetic_error(text, category), result_api_error(text, None))
    error = only_error(events)
    assert error.code == code
    assert error.upstream_status == 0


def test_result_error_without_status_or_category_is_upstream_error() -> None:
    error = only_error(run(parser(), result_api_error("Not logged in", None)))
    assert error.code == pb.UPSTREAM_ERROR


def test_prompt_too_long_is_context_too_long() -> None:
    text = "API Error: 400 prompt is too long: 250000 tokens > 200000 maximum"
    error = only_error(run(parser(), result_api_error(text, 400)))
    assert error.code == pb.CONTEXT_TOO_LONG
    assert error.upstream_status == 400


def test_429_after_rejected_rate_limit_event_gets_retry_after() -> None:
    now = RESET_AT * 1000 - 42_000
    p = parser(now_ms=now)
    text = "API Error: Server is temporarily limiting requests (not your usage limit)"
    events = run(
        p,
        synthetic_error(text, "rate_limit"),
        rate_limit_event("rejected", RESET_AT),
        result_api_error(text, 429),
    )
    assert kinds(events) == ["rate_limit", "usage", "error"]
    error = events[-1].error
    assert error.code == pb.RATE_LIMITED
    assert error.retry_after_ms == 42_000
    assert error.upstream_status == 429


def test_a_plain_rate_limit_rests_for_the_clis_retry_delay() -> None:
    """A 429 with only retry-after: the CLI says `rejected` with no window [197, 332]; no quota
    report (no usage window was refused), and the error's retry-after is the CLI's last wait."""
    text = "API Error: Server is temporarily limiting requests (not your usage limit)"
    retry = {"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 1}
    retry.update(retry_delay_ms=3116, error_status=429, error="rate_limit")
    events = run(
        parser(now_ms=RESET_AT * 1000),
        retry,
        rate_limit_event("rejected"),
        synthetic_error(text, "rate_limit"),
        result_api_error(text, 429),
    )
    assert kinds(events) == ["activity", "usage", "error"]
    assert events[-1].error.code == pb.RATE_LIMITED
    assert events[-1].error.retry_after_ms == 3116


def test_retry_after_never_negative_when_reset_has_passed() -> None:
    p = parser(now_ms=(RESET_AT + 10) * 1000)
    events = run(p, rate_limit_event("rejected", RESET_AT), result_api_error("x", 429))
    assert only_error(events).retry_after_ms == 0


def test_retry_after_only_for_rate_limited_errors() -> None:
    p = parser(now_ms=RESET_AT * 1000 - 5_000)
    events = run(p, rate_limit_event("rejected", RESET_AT), result_api_error("boom", 500))
    assert only_error(events).retry_after_ms == 0


def test_error_max_turns_in_plain_chat_finishes_normally() -> None:
    p = parser(tools_allowed=False)
    events = run(
        p,
        message_start(),
        text_delta("I will run a command."),
        {
            "type": "result",
            "subtype": "error_max_turns",
            "is_error": True,
            "api_error_status": None,
            "num_turns": 1,
            "stop_reason": "tool_use",
            "terminal_reason": "max_turns",
            "errors": ["Reached maximum number of turns (1)"],
            "usage": RESULT_USAGE,
        },
    )
    assert "error" not in kinds(events)
    finishes = [e.finish for e in events if e.WhichOneof("kind") == "finish"]
    assert [f.reason for f in finishes] == [pb.FINISH_STOP]
    assert kinds(events)[-1] == "finish"
    assert p.result_seen
    assert p.finish(1) == []


def test_error_max_turns_with_tools_allowed_finishes_with_length() -> None:
    # An agent that used up its turns: what it said so far stands, cut short (not an error).
    p = parser(tools_allowed=True)
    events = run(
        p,
        message_start(),
        text_delta("Working on it."),
        assistant([{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]),
        {
            "type": "result",
            "subtype": "error_max_turns",
            "is_error": True,
            "api_error_status": None,
            "stop_reason": "tool_use",
            "terminal_reason": "max_turns",
            "errors": ["Reached maximum number of turns (1)"],
            "usage": {"input_tokens": 20, "output_tokens": 5},
        },
    )
    assert "error" not in kinds(events)
    assert texts(events) == ["Working on it."]
    assert kinds(events)[-2:] == ["usage", "finish"]
    assert events[-2].usage.input_tokens == 20
    assert events[-1].finish.reason == pb.FINISH_LENGTH
    assert p.result_seen
    assert p.finish(1) == []


def test_max_output_tokens_category_finishes_with_length() -> None:
    text = "API Error: Claude's response exceeded the 64000 output token maximum."
    events = run(parser(), synthetic_error(text, "max_output_tokens"), result_api_error(text, None))
    assert kinds(events) == ["usage", "finish"]
    assert events[-1].finish.reason == pb.FINISH_LENGTH


def test_error_during_execution_uses_errors_list() -> None:
    events = run(
        parser(),
        {
            "type": "result",
            "subtype": "error_during_execution",
            "is_error": True,
            "errors": ["first problem", "second problem"],
            "usage": {"input_tokens": 3},
        },
    )
    error = only_error(events)
    assert error.message == "first problem; second problem"
    assert events[0].usage.input_tokens == 3


def test_error_message_masks_secrets() -> None:
    text = "API Error: 401 bad token sk-ant-oat01-abcdefghijklmnop"
    error = only_error(run(parser(), result_api_error(text, 401)))
    assert "abcdefghijklmnop" not in error.message
    assert "redacted" in error.message


def test_error_result_without_any_text_has_a_message() -> None:
    error = only_error(run(parser(), {"type": "result", "subtype": "x", "is_error": True}))
    assert error.message
    assert error.code == pb.UPSTREAM_ERROR


def test_garbage_lines_are_counted_not_fatal() -> None:
    p = parser()
    assert p.feed_line(b"Could not parse message into JSON: {this is not json\n") == []
    assert p.feed_line(b"[1, 2, 3]\n") == []
    assert p.feed_line(b'"just a string"') == []
    assert p.feed_line(b"\xff\xfe\xfa not utf-8\n") == []
    assert p.feed_line(b"\n") == []
    assert p.feed_line(b"   \r\n") == []
    assert p.garbage_lines == 4
    assert texts(run(p, message_start(), text_delta("still works"))) == ["still works"]


def test_finish_without_result_reports_worker_crashed() -> None:
    p = parser()
    run(p, init(), message_start(), text_delta("partial"))
    p.feed_line(b"garbage\n")
    (event,) = p.finish(143)
    assert event.error.code == pb.WORKER_CRASHED
    assert "exit code 143" in event.error.message
    assert "1 unparseable" in event.error.message


def test_finish_without_result_and_without_exit_code() -> None:
    (event,) = parser().finish(None)
    assert event.error.code == pb.WORKER_CRASHED
    assert "no exit code" in event.error.message
    assert "unparseable" not in event.error.message


def test_finish_after_error_result_adds_nothing() -> None:
    p = parser()
    run(p, result_api_error("boom", 500))
    assert p.finish(1) == []


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "user", "message": {"role": "user", "content": "plain text"}},
        {"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": "x"}]}},
        {"type": "user"},
        {"type": "system", "subtype": "model_fallback", "fallback_model": "claude-haiku"},
        {"type": "system", "subtype": "thinking_tokens", "estimated_tokens": 3},
        {"type": "system", "subtype": "init"},
        {"type": "keep_alive"},
        {"type": "control_response", "response": {"subtype": "success", "request_id": "i1"}},
        {"type": "transcript_mirror", "entries": []},
        {"no_type": True},
        {"type": None},
        {"type": "stream_event", "event": {"type": "ping"}},
        {"type": "stream_event", "event": {"type": "brand_new_event"}},
    ],
)
def test_unknown_types_are_ignored(obj: dict[str, Any]) -> None:
    p = parser()
    assert p.feed_line(line(obj)) == []
    assert p.garbage_lines == 0
    assert not p.result_seen


def test_feed_accepts_decoded_objects() -> None:
    events = parser().feed(text_delta("direct"))
    assert texts(events) == ["direct"]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, pb.INVALID_REQUEST),
        (401, pb.UPSTREAM_AUTH),
        (403, pb.UPSTREAM_AUTH),
        (404, pb.MODEL_NOT_FOUND),
        (413, pb.CONTEXT_TOO_LONG),
        (422, pb.INVALID_REQUEST),
        (429, pb.RATE_LIMITED),
        (500, pb.UPSTREAM_ERROR),
        (502, pb.UPSTREAM_ERROR),
        (503, pb.UPSTREAM_ERROR),
        (529, pb.UPSTREAM_OVERLOADED),
    ],
)
def test_status_code_table(status: int, code: int) -> None:
    assert status_code(status) == code


def test_usage_of_ignores_non_numbers() -> None:
    usage = usage_of(
        {
            "input_tokens": 10,
            "output_tokens": 2.0,
            "cache_read_input_tokens": "70",
            "cache_creation_input_tokens": None,
        }
    )
    assert (usage.input_tokens, usage.output_tokens) == (10, 2)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (0, 0)
    assert usage_of({}) == pb.Usage()


def test_partial_messages_with_thinking_then_text_are_not_duplicated() -> None:
    p = parser()
    events = run(
        p,
        message_start("msg_t"),
        stream(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            }
        ),
        assistant([{"type": "thinking", "thinking": "hmm", "signature": "s"}], "msg_t"),
        text_delta("It is ", index=1),
        text_delta("4.", index=1),
        assistant([{"type": "text", "text": "It is 4."}], "msg_t"),
        result_success(),
    )
    assert texts(events) == ["It is ", "4."]


def test_tool_loop_second_message_streams_too() -> None:
    p = parser(tools_allowed=True)
    events = run(
        p,
        message_start("msg_1"),
        text_delta("I will run a command."),
        assistant([{"type": "text", "text": "I will run a command."}], "msg_1"),
        assistant([{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}], "msg_1"),
        {"type": "user", "message": {"role": "user", "content": [{"type": "tool_result"}]}},
        message_start("msg_2"),
        text_delta("Done."),
        assistant([{"type": "text", "text": "Done."}], "msg_2"),
        result_success(),
    )
    # The second agent turn starts on a new paragraph (see the separator tests below).
    assert texts(events) == ["I will run a command.", "\n\n", "Done."]
    assert kinds(events).count("model_info") == 1


# --- agent mode: turn separation and tool activity -------------------------------------------


def tool_use_line(
    name: str = "Bash", tool_input: dict[str, Any] | None = None, message_id: str = "msg_1"
) -> dict[str, Any]:
    block = {"type": "tool_use", "id": "toolu_1", "name": name, "input": tool_input or {}}
    return assistant([block], message_id)


def tool_result_line(content: Any, is_error: bool = False) -> dict[str, Any]:
    block = {"tool_use_id": "toolu_1", "type": "tool_result", "content": content}
    block["is_error"] = is_error
    return {
        "type": "user",
        "message": {"role": "user", "content": [block]},
        "parent_tool_use_id": None,
        "session_id": SESSION,
        "uuid": "u",
        "tool_use_result": {"stdout": "hi", "stderr": "", "interrupted": False},
    }


def activities(events: list[pb.Event]) -> list[tuple[str, str]]:
    return [
        (e.activity.kind, e.activity.detail) for e in events if e.WhichOneof("kind") == "activity"
    ]


def test_first_text_has_no_separator() -> None:
    events = run(parser(tools_allowed=True), message_start("msg_1"), text_delta("Hi"))
    assert texts(events) == ["Hi"]


def test_second_agent_message_starts_with_a_paragraph_break() -> None:
    p = parser(tools_allowed=True)
    first = run(
        p,
        message_start("msg_1"),
        text_delta("I will run "),
        text_delta("a command."),
        assistant([{"type": "text", "text": "I will run a command."}], "msg_1"),
        tool_use_line(message_id="msg_1"),
        tool_result_line("hi"),
    )
    assert texts(first) == ["I will run ", "a command."]
    second = run(p, message_start("msg_2"), text_delta("It "), text_delta("printed hi."))
    assert texts(second) == ["\n\n", "It ", "printed hi."]
    third = run(p, message_start("msg_3"), text_delta("Done."))
    assert texts(third) == ["\n\n", "Done."]


def test_paragraph_break_also_without_partial_messages() -> None:
    p = parser(tools_allowed=True)
    events = run(
        p,
        assistant([{"type": "text", "text": "Let me look."}], "msg_1"),
        tool_use_line(message_id="msg_1"),
        tool_result_line("file.txt"),
        assistant([{"type": "text", "text": "Found "}], "msg_2"),
        assistant([{"type": "text", "text": "one file."}], "msg_2"),
    )
    assert texts(events) == ["Let me look.", "\n\n", "Found ", "one file."]


def test_no_separator_when_the_first_message_had_no_text() -> None:
    p = parser(tools_allowed=True)
    events = run(
        p,
        message_start("msg_1"),
        tool_use_line(message_id="msg_1"),
        tool_result_line("hi"),
        message_start("msg_2"),
        text_delta("It printed hi."),
    )
    assert texts(events) == ["It printed hi."]


def test_tool_use_becomes_activity_with_tool_name_and_input() -> None:
    p = parser(tools_allowed=True)
    events = run(p, tool_use_line("Bash", {"command": "ls -la"}))
    assert kinds(events) == ["activity"]
    ((kind, detail),) = activities(events)
    assert kind == "tool_use"
    assert detail.startswith("Bash")
    assert "ls -la" in detail


def test_each_tool_use_block_is_one_activity() -> None:
    message = assistant(
        [
            {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "a"}},
            {"type": "tool_use", "id": "toolu_2", "name": "Grep", "input": {"pattern": "b"}},
        ]
    )
    details = [detail for _, detail in activities(run(parser(tools_allowed=True), message))]
    assert [d.split()[0] for d in details] == ["Read", "Grep"]


def test_tool_use_detail_is_masked_and_bounded() -> None:
    secret = "sk-ant-oat01-abcdefghijklmnopqrstuvwxyz"
    events = run(
        parser(tools_allowed=True),
        tool_use_line("Bash", {"command": f"curl -H 'x-api-key: {secret}' " + "x" * 1000}),
    )
    ((_, detail),) = activities(events)
    assert "abcdefghijklmnop" not in detail
    assert len(detail) <= 300


def test_tool_use_without_name_still_reported() -> None:
    events = run(parser(tools_allowed=True), assistant([{"type": "tool_use", "id": "t"}]))
    assert [kind for kind, _ in activities(events)] == ["tool_use"]


def test_tool_result_becomes_activity() -> None:
    events = run(parser(tools_allowed=True), tool_result_line("hi\npgid= 8293"))
    assert kinds(events) == ["activity"]
    ((kind, detail),) = activities(events)
    assert kind == "tool_result"
    assert "pgid= 8293" in detail


def test_failed_tool_result_becomes_tool_error() -> None:
    events = run(
        parser(tools_allowed=True),
        tool_result_line("<tool_use_error>Error: No such tool available: Bash", is_error=True),
    )
    ((kind, detail),) = activities(events)
    assert kind == "tool_error"
    assert "No such tool available" in detail


def test_tool_result_detail_is_masked_and_bounded() -> None:
    secret = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"
    events = run(parser(tools_allowed=True), tool_result_line(f"key={secret} " + "y" * 1000))
    ((_, detail),) = activities(events)
    assert "abcdefghijklmnop" not in detail
    assert len(detail) <= 300


def test_tool_result_with_block_list_content() -> None:
    events = run(
        parser(tools_allowed=True), tool_result_line([{"type": "text", "text": "listing done"}])
    )
    ((kind, detail),) = activities(events)
    assert kind == "tool_result"
    assert "listing done" in detail


def test_tool_activity_is_never_text() -> None:
    p = parser(tools_allowed=True)
    events = run(
        p,
        tool_use_line("Bash", {"command": "echo SECRET-OUTPUT"}),
        tool_result_line("SECRET-OUTPUT"),
        result_success(),
    )
    assert texts(events) == []
    assert kinds(events) == ["activity", "activity", "usage", "finish"]


# --- structured output (--json-schema) -------------------------------------------------------


def result_structured(output: Any) -> dict[str, Any]:
    obj = result_success(text="")
    obj["structured_output"] = output
    return obj


def test_structured_mode_emits_only_the_structured_output() -> None:
    p = parser(structured=True)
    output = {"height_m": 330, "name": "Tour Eiffel — Paris"}
    events = run(
        p,
        message_start("msg_1"),
        text_delta("Some "),
        text_delta("prose."),
        assistant([{"type": "text", "text": "Some prose."}], "msg_1"),
        assistant(
            [{"type": "tool_use", "id": "toolu_1", "name": "StructuredOutput", "input": output}],
            "msg_1",
        ),
        message_start("msg_2"),
        text_delta("More prose."),
        assistant([{"type": "text", "text": "More prose."}], "msg_2"),
        result_structured(output),
    )
    (text,) = texts(events)
    assert json.loads(text) == output
    assert "—" in text  # not \u-escaped
    assert kinds(events)[-3:] == ["text", "usage", "finish"]
    assert events[-1].finish.reason == pb.FINISH_STOP
    assert events[-2].usage.output_tokens == 12


def test_structured_mode_without_deltas_suppresses_assistant_text() -> None:
    p = parser(structured=True)
    events = run(p, assistant([{"type": "text", "text": "prose"}], "msg_1"))
    assert texts(events) == []


@pytest.mark.parametrize("output", [{}, [1, 2], "text", 42, None])
def test_structured_output_of_any_json_type(output: Any) -> None:
    events = run(parser(structured=True), result_structured(output))
    (text,) = texts(events)
    assert json.loads(text) == output
    assert events[-1].finish.reason == pb.FINISH_STOP


def test_structured_mode_error_result_is_an_error() -> None:
    text = "API Error: 500 Internal server error."
    events = run(
        parser(structured=True),
        synthetic_error(text, "server_error"),
        result_api_error(text, 500),
    )
    assert only_error(events).code == pb.UPSTREAM_ERROR
    assert texts(events) == []


def test_structured_output_ignored_when_not_in_structured_mode() -> None:
    p = parser()
    events = run(p, message_start(), text_delta("plain"), result_structured({"a": 1}))
    assert texts(events) == ["plain"]
    assert events[-1].finish.reason == pb.FINISH_STOP


def test_a_plain_chat_cut_at_max_tokens_is_done_with_length() -> None:
    parser = StreamJsonParser(tools_allowed=False)
    start = {
        "type": "message_start",
        "message": {
            "id": "m1",
            "model": "claude-sonnet-5",
            "usage": {"input_tokens": 4, "cache_read_input_tokens": 2, "output_tokens": 1},
        },
    }
    parser.feed({"type": "stream_event", "event": start})
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens"},
        "usage": {"output_tokens": 5},
    }
    events = parser.feed({"type": "stream_event", "event": delta})
    assert parser.done and not parser.result_seen
    assert [e.WhichOneof("kind") for e in events] == ["usage", "finish"]
    assert events[0].usage.output_tokens == 5 and events[0].usage.cache_read_tokens == 2
    assert events[1].finish.reason == pb.FINISH_LENGTH
    assert parser.finish(0) == []


def test_an_agent_cut_at_max_tokens_goes_on() -> None:
    parser = StreamJsonParser(tools_allowed=True)
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens"},
        "usage": {"output_tokens": 5},
    }
    assert parser.feed({"type": "stream_event", "event": delta}) == []
    assert not parser.done


# --- client tools over MCP (issue 9) ---------------------------------------------------------


def client_parser(tools_allowed: bool = False, resumed: bool = False) -> StreamJsonParser:
    return StreamJsonParser(tools_allowed=tools_allowed, client_tools=True, resumed=resumed)


def raw_start(message_id: str = "msg_1", **usage: int) -> dict[str, Any]:
    """A complete upstream message_start (valid for the SDK too)."""
    return upstream_message_start("claude-opus-4-8", message_id, **usage)


def cli_lines(raw: list[dict[str, Any]], prefix: str = BRIDGE_PREFIX) -> list[dict[str, Any]]:
    """The CLI's lines for upstream events: tool names as the model saw them, and one
    `assistant` line per finished block just before its content_block_stop (docs/claude-cli.md)."""
    lines: list[dict[str, Any]] = []
    blocks: dict[int, dict[str, Any]] = {}
    partials: dict[int, str] = {}
    message_id = ""
    for event in raw:
        event = json.loads(json.dumps(event))
        kind = event["type"]
        if kind == "message_start":
            message_id = event["message"]["id"]
        elif kind == "content_block_start":
            block = event["content_block"]
            if block["type"] == "tool_use":
                block["name"] = prefix + block["name"]
            blocks[event["index"]] = dict(block)  # the start event keeps the block as it began
        elif kind == "content_block_delta":
            delta = event["delta"]
            block = blocks[event["index"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                partials[event["index"]] = partials.get(event["index"], "") + delta["partial_json"]
        elif kind == "content_block_stop":
            block = blocks.pop(event["index"])
            if event["index"] in partials:
                block["input"] = json.loads(partials.pop(event["index"]))
            lines.append(assistant([block], message_id))
        lines.append(stream(event))
    return lines


def api_worker(raw: list[dict[str, Any]]) -> list[pb.Event]:
    """What an api worker's StreamTranslator makes of the same upstream events."""
    translator = StreamTranslator()
    events: list[pb.Event] = []
    for event in raw:
        events.extend(translator.feed(event))
    return events + translator.finish()


def tool_calls(events: list[pb.Event]) -> list[pb.ToolCallDelta]:
    return [e.tool_call for e in events if e.WhichOneof("kind") == "tool_call"]


ONE_CALL_AFTER_TEXT = [
    raw_start(),
    raw_text_start(0),
    raw_text(0, "Let me "),
    raw_text(0, "check."),
    raw_stop(0),
    raw_tool_start(1, "toolu_1", "get_weather"),
    raw_json(1, ""),
    raw_json(1, '{"location": '),
    raw_json(1, '"Paris", "unit'),
    raw_json(1, '": "c"}'),
    raw_stop(1),
    raw_message_delta("tool_use", 40),
    RAW_MESSAGE_STOP,
]
TWO_CALLS = [
    raw_start(),
    raw_tool_start(0, "toolu_a", "get_weather"),
    raw_json(0, '{"location": "Paris"}'),
    raw_stop(0),
    raw_tool_start(1, "toolu_b", "get-time_v2"),
    raw_json(1, '{"tz": '),
    raw_json(1, '"CET"}'),
    raw_stop(1),
    raw_message_delta("tool_use"),
    RAW_MESSAGE_STOP,
]
WHOLE_INPUTS = [
    raw_start(),
    raw_tool_start(0, "toolu_x", "ping"),
    raw_stop(0),
    raw_tool_start(1, "toolu_y", "lookup", {"city": "Zürich", "n": [1, 2]}),
    raw_stop(1),
    raw_message_delta("tool_use"),
    RAW_MESSAGE_STOP,
]


@pytest.mark.parametrize("raw", [ONE_CALL_AFTER_TEXT, TWO_CALLS, WHOLE_INPUTS])
def test_client_tool_calls_match_an_api_worker(raw: list[dict[str, Any]]) -> None:
    cli = run(client_parser(), *cli_lines(raw))
    api = api_worker(raw)
    assert tool_calls(cli) == tool_calls(api)  # ids, indexes, names and every fragment
    assert texts(cli) == texts(api)
    assert [k for k in kinds(cli) if k != "model_info"] == [
        k for k in kinds(api) if k != "model_info"
    ]
    assert cli[-2].usage == api[-2].usage
    assert cli[-1].finish.reason == api[-1].finish.reason == pb.FINISH_TOOL_CALLS


def test_text_then_one_client_call_in_three_fragments() -> None:
    p = client_parser()
    events = run(p, *cli_lines(ONE_CALL_AFTER_TEXT))
    assert kinds(events) == [
        "model_info",
        "text",
        "text",
        "tool_call",
        "tool_call",
        "tool_call",
        "tool_call",
        "usage",
        "finish",
    ]
    assert texts(events) == ["Let me ", "check."]
    first, *fragments = tool_calls(events)
    assert first == pb.ToolCallDelta(index=0, id="toolu_1", name="get_weather", arguments_delta="")
    assert [(f.index, f.id, f.name) for f in fragments] == [(0, "", "")] * 3
    assert "".join(f.arguments_delta for f in fragments) == '{"location": "Paris", "unit": "c"}'
    assert [f.arguments_delta for f in fragments] == ['{"location": ', '"Paris", "unit', '": "c"}']
    assert activities(events) == []  # the client's call is content, not agent activity


def test_two_client_calls_in_one_message() -> None:
    p = client_parser()
    calls = tool_calls(run(p, *cli_lines(TWO_CALLS)))
    starts = [(c.index, c.id, c.name) for c in calls if c.id]
    assert starts == [(0, "toolu_a", "get_weather"), (1, "toolu_b", "get-time_v2")]
    arguments: dict[int, str] = {}
    for call in calls:
        arguments[call.index] = arguments.get(call.index, "") + call.arguments_delta
    assert arguments == {0: '{"location": "Paris"}', 1: '{"tz": "CET"}'}
    assert p.awaiting_tools == ["toolu_a", "toolu_b"]


def test_a_call_whose_input_comes_whole_with_its_block_start() -> None:
    calls = tool_calls(run(client_parser(), *cli_lines(WHOLE_INPUTS)))
    assert [(c.index, c.id, c.name, c.arguments_delta) for c in calls] == [
        (0, "toolu_x", "ping", ""),
        (0, "", "", "{}"),
        (1, "toolu_y", "lookup", ""),
        (1, "", "", json.dumps({"city": "Zürich", "n": [1, 2]})),
    ]


def test_the_pause_ends_the_response_with_usage_then_tool_calls() -> None:
    p = client_parser()
    lines = cli_lines(ONE_CALL_AFTER_TEXT[:-2])
    events = run(p, *lines)
    assert not p.done and p.awaiting_tools == []
    # message_delta: final output figures; a null leaves the message_start figure as it was.
    delta = raw_message_delta("tool_use", 40, input_tokens=12, cache_read_input_tokens=None)
    events = run(p, stream(delta))
    assert kinds(events) == ["usage", "finish"]
    assert events[0].usage == pb.Usage(
        input_tokens=12, output_tokens=40, cache_read_tokens=5, cache_write_tokens=7
    )
    assert events[1].finish.reason == pb.FINISH_TOOL_CALLS
    assert p.done and not p.result_seen
    assert p.awaiting_tools == ["toolu_1"]
    assert p.finish(None) == []
    assert run(p, stream(RAW_MESSAGE_STOP), rate_limit_event("allowed"))[0].rate_limit.status


def test_the_pause_bills_every_message_of_the_response() -> None:
    # An agent with client tools: its own Bash step does not pause, the client's call does.
    p = client_parser(tools_allowed=True)
    bash = [
        raw_start("msg_1", input_tokens=100, cache_read_input_tokens=0),
        raw_tool_start(0, "toolu_bash", "Bash"),
        raw_json(0, '{"command": "ls"}'),
        raw_stop(0),
        raw_message_delta("tool_use", 20),
        RAW_MESSAGE_STOP,
    ]
    events = run(p, *cli_lines(bash, prefix=""), tool_result_line("a.txt"))
    assert tool_calls(events) == []
    assert [kind for kind, _ in activities(events)] == ["tool_use", "tool_result"]
    assert activities(events)[0][1].startswith("Bash")
    assert not p.done
    client = [raw_start("msg_2", input_tokens=150, cache_read_input_tokens=100), *TWO_CALLS[1:]]
    events = run(p, *cli_lines(client))
    assert [c.index for c in tool_calls(events) if c.id] == [0, 1]
    assert kinds(events)[-2:] == ["usage", "finish"]
    assert events[-2].usage == pb.Usage(
        input_tokens=250, output_tokens=33, cache_read_tokens=100, cache_write_tokens=14
    )
    assert p.done and p.awaiting_tools == ["toolu_a", "toolu_b"]


def test_a_resumed_parser_bills_only_its_own_messages() -> None:
    # The CLI turn: msg_1 (calls out, billed by the first response), then after the results
    # msg_2 (the continuation); its result.usage sums both.
    first = client_parser()
    paused = run(first, *cli_lines(TWO_CALLS))
    p = client_parser(resumed=True)
    continuation = [
        raw_start("msg_2", input_tokens=30, cache_read_input_tokens=18),
        raw_text_start(0),
        raw_text(0, "Sunny, 21 °C."),
        raw_stop(0),
        raw_message_delta("end_turn", 9),
        RAW_MESSAGE_STOP,
    ]
    result = result_success(text="Sunny, 21 °C.")
    result["usage"] = {
        "input_tokens": 41,
        "output_tokens": 22,
        "cache_read_input_tokens": 23,
        "cache_creation_input_tokens": 14,
    }
    events = run(p, tool_result_line("21 °C"), *cli_lines(continuation), result)
    assert texts(events) == ["Sunny, 21 °C."]
    assert kinds(events)[-2:] == ["usage", "finish"]
    assert events[-2].usage == pb.Usage(
        input_tokens=30, output_tokens=9, cache_read_tokens=18, cache_write_tokens=7
    )
    assert events[-1].finish.reason == pb.FINISH_STOP
    # Both responses together bill what the CLI turn cost.
    total = pb.Usage()
    for usage in (paused[-2].usage, events[-2].usage):
        total.input_tokens += usage.input_tokens
        total.output_tokens += usage.output_tokens
        total.cache_read_tokens += usage.cache_read_tokens
        total.cache_write_tokens += usage.cache_write_tokens
    assert total == usage_of(result["usage"])
    assert p.result_seen and p.awaiting_tools == []


def test_a_resumed_parser_sums_several_messages() -> None:
    p = client_parser(tools_allowed=True, resumed=True)
    events = run(
        p,
        stream(raw_start("msg_2", input_tokens=10)),
        stream(raw_message_delta("tool_use", 3)),
        stream(raw_start("msg_3", input_tokens=20)),
        stream(raw_message_delta("end_turn", 4)),
        result_success(),
    )
    assert events[-2].usage == pb.Usage(
        input_tokens=30, output_tokens=7, cache_read_tokens=10, cache_write_tokens=14
    )


def test_without_resumed_the_result_usage_stands() -> None:
    p = client_parser()
    events = run(p, *cli_lines(ONE_CALL_AFTER_TEXT[:5]), result_success())
    assert events[-2].usage == usage_of(RESULT_USAGE)


def test_block_indexes_reset_per_message_but_call_indexes_do_not() -> None:
    p = client_parser(tools_allowed=True)
    events = run(
        p,
        stream(raw_start("msg_1")),
        stream(raw_tool_start(0, "toolu_1", BRIDGE_PREFIX + "f")),
        stream(raw_json(0, "{}")),
        stream(raw_stop(0)),
        stream(raw_message_delta("max_tokens")),  # an agent goes on: no pause
        stream(raw_start("msg_2")),
        stream(raw_json(0, '{"stale": 1}')),  # block 0 of msg_1 is gone
        stream(raw_stop(0)),
        stream(raw_tool_start(1, "toolu_2", BRIDGE_PREFIX + "g")),
        stream(raw_stop(1)),
    )
    assert [(c.index, c.id, c.name, c.arguments_delta) for c in tool_calls(events)] == [
        (0, "toolu_1", "f", ""),
        (0, "", "", "{}"),
        (1, "toolu_2", "g", ""),
        (1, "", "", "{}"),
    ]


def test_client_tool_blocks_never_become_text_or_activity() -> None:
    p = client_parser()
    run(p, stream(raw_start("msg_1")), stream(raw_tool_start(0, "toolu_1", BRIDGE_PREFIX + "f")))
    block = {"type": "tool_use", "id": "toolu_1", "name": BRIDGE_PREFIX + "f", "input": {"a": 1}}
    assert run(p, assistant([block], "msg_1")) == []
    # Even an assistant line alone (no stream events) reports no activity for it.
    q = client_parser()
    assert run(q, assistant([block, {"type": "text", "text": "hi"}], "msg_9")) == [
        pb.Event(text=pb.TextDelta(text="hi"))
    ]


def test_a_non_client_tool_use_stays_activity() -> None:
    p = client_parser(tools_allowed=True)
    bash = [
        raw_start(),
        raw_tool_start(0, "toolu_1", "Bash"),
        raw_json(0, '{"command": "echo hi"}'),
        raw_stop(0),
        raw_message_delta("tool_use"),
        RAW_MESSAGE_STOP,
    ]
    events = run(p, *cli_lines(bash, prefix=""))
    assert tool_calls(events) == []
    ((kind, detail),) = activities(events)
    assert kind == "tool_use" and detail.startswith("Bash") and "echo hi" in detail
    assert not p.done and p.awaiting_tools == []


def test_without_client_tools_bridge_names_are_not_calls() -> None:
    p = StreamJsonParser(tools_allowed=True)
    events = run(p, *cli_lines(ONE_CALL_AFTER_TEXT))
    assert tool_calls(events) == []
    assert texts(events) == ["Let me ", "check."]
    ((kind, detail),) = activities(events)
    assert kind == "tool_use" and detail.startswith(BRIDGE_PREFIX + "get_weather")
    assert not p.done and p.awaiting_tools == []


def test_error_max_turns_with_client_tools_finishes_with_length() -> None:
    p = client_parser()
    events = run(
        p,
        {
            "type": "result",
            "subtype": "error_max_turns",
            "is_error": True,
            "stop_reason": "tool_use",
            "errors": ["Reached maximum number of turns (1)"],
            "usage": RESULT_USAGE,
        },
    )
    assert kinds(events) == ["usage", "finish"]
    assert events[-1].finish.reason == pb.FINISH_LENGTH
    assert activities(events) == []


def test_control_requests_are_not_the_parsers_business() -> None:
    p = client_parser()
    call = {
        "method": "tools/call",
        "params": {"name": "get_weather", "arguments": {"location": "Paris"}},
        "jsonrpc": "2.0",
        "id": 2,
    }
    request = {"subtype": "mcp_message", "server_name": "c", "message": call}
    line_ = {"type": "control_request", "request_id": "0b9e", "request": request}
    assert run(p, line_) == []
    assert run(parser(), line_) == []
    assert not p.done and p.garbage_lines == 0


def test_structured_mode_without_structured_output_is_a_422_carrying_the_text() -> None:
    """The CLI gave up on the schema: the model's prose reaches the client in a clear error
    that neither the controller nor an SDK retries."""
    events = run(parser(structured=True), result_success(text="It is sunny in Paris."))
    error = only_error(events)
    assert error.code == pb.OUTPUT_INVALID and error.param == "response_format"
    assert "It is sunny in Paris." in error.message


# --- one decoder for both worker kinds ---------------------------------------------------------

REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}


def test_redacted_thinking_reaches_the_client_as_from_an_api_worker() -> None:
    raw = [
        raw_start(),
        {"type": "content_block_start", "index": 0, "content_block": dict(REDACTED)},
        raw_stop(0),
        raw_text_start(1),
        raw_text(1, "ok"),
        raw_stop(1),
        raw_message_delta("end_turn"),
        RAW_MESSAGE_STOP,
    ]
    cli = run(parser(), *cli_lines(raw), result_success())
    api = api_worker(raw)
    thinking = [e.thinking for e in cli if e.WhichOneof("kind") == "thinking"]
    assert thinking == [pb.ThinkingDelta(redacted="EmwKAhgBEgy3va3pzix")]  # once: not the line
    assert thinking == [e.thinking for e in api if e.WhichOneof("kind") == "thinking"]
    assert kinds(cli) == kinds(api) == ["model_info", "thinking", "text", "usage", "finish"]


def test_a_structured_run_shows_no_redacted_thinking() -> None:
    raw = [
        raw_start(),
        {"type": "content_block_start", "index": 0, "content_block": dict(REDACTED)},
        raw_stop(0),
    ]
    assert "thinking" not in kinds(run(parser(structured=True), *cli_lines(raw)))
