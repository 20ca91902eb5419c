"""Reasoning end to end, unit by unit: each door's effort mapping, each worker's translation of
the effort and of the model's thinking, and each door's rendering of ThinkingDelta events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.events import is_output
from frontdoor.chat.models import ChatCompletionRequest
from frontdoor.chat.output import CompletionAccumulator
from frontdoor.chat.stream import OpenAIChunks, StreamContext
from frontdoor.chat.translate import to_chat_request as openai_request
from frontdoor.core.errors import ApiError
from frontdoor.messages.models import MessagesRequest
from frontdoor.messages.output import MessageAccumulator, MessageStream
from frontdoor.messages.translate import to_chat_request as anthropic_request
from protos import common_pb2 as pb
from workerd.anthropic.content import turn_of
from workerd.cli.invocation import build_invocation, sampling_env
from workerd.cli.stream_json import StreamJsonParser

SIGNATURE = "sig-EqQBCkgIBhAB"


def thinking(text: str = "", signature: str = "") -> pb.Event:
    return pb.Event(thinking=pb.ThinkingDelta(text=text, signature=signature))


def text(value: str) -> pb.Event:
    return pb.Event(text=pb.TextDelta(text=value))


FINISH = pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet-5"))
EVENTS = [
    thinking("Let me "),
    thinking("think."),
    thinking(signature=SIGNATURE),
    text("42"),
    FINISH,
]


# --- doors in -------------------------------------------------------------------------------


def openai(**fields: Any) -> pb.ChatRequest:
    body = ChatCompletionRequest.model_validate(
        {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}], **fields}
    )
    return openai_request(body, "sonnet", "r1")


@pytest.mark.parametrize(
    ("effort", "neutral"),
    [
        ("none", "none"),
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "xhigh"),
        ("max", "max"),
    ],
)
def test_openai_reasoning_effort_maps_to_the_neutral_effort(effort: str, neutral: str) -> None:
    assert openai(reasoning_effort=effort).reasoning_effort == neutral


def test_openai_without_reasoning_effort_asks_nothing() -> None:
    assert openai().reasoning_effort == ""


def test_openai_unknown_reasoning_effort_is_a_400() -> None:
    with pytest.raises(ApiError) as caught:
        openai(reasoning_effort="extreme")
    assert caught.value.status == 400 and caught.value.param == "reasoning_effort"


def anthropic(**fields: Any) -> pb.ChatRequest:
    body = MessagesRequest.model_validate(
        {
            "model": "sonnet",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}],
            **fields,
        }
    )
    return anthropic_request(body, "sonnet", "r1")


@pytest.mark.parametrize(
    ("fields", "neutral"),
    [
        ({}, ""),
        ({"thinking": {"type": "disabled"}}, "none"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 16384}}, "high"),
        ({"thinking": {"type": "enabled", "budget_tokens": 60000}}, "high"),
        ({"thinking": {"type": "adaptive"}}, "high"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}, "low"),
        ({"output_config": {"effort": "max"}}, "max"),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 2000},
                "output_config": {"effort": "xhigh"},
            },
            "xhigh",
        ),
        ({"thinking": {"type": "disabled"}, "output_config": {"effort": "high"}}, "none"),
    ],
)
def test_anthropic_thinking_and_effort_map_to_the_neutral_effort(
    fields: dict[str, Any], neutral: str
) -> None:
    assert anthropic(**fields).reasoning_effort == neutral


def test_anthropic_enabled_thinking_without_budget_is_a_400() -> None:
    with pytest.raises(ApiError) as caught:
        anthropic(thinking={"type": "enabled"})
    assert caught.value.param == "thinking.budget_tokens"


# --- CLI worker -----------------------------------------------------------------------------


def cli_request(effort: str) -> pb.ChatRequest:
    message = pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hi")])
    return pb.ChatRequest(
        request_id="r1", model="sonnet", messages=[message], reasoning_effort=effort
    )


def test_cli_effort_is_a_flag_of_the_spawn_signature() -> None:
    def invocation(effort: str) -> Any:
        return build_invocation(
            "claude", cli_request(effort), "/tmp/s", agent=None, max_prompt_chars=100_000
        )

    high = invocation("high")
    assert high.argv[high.argv.index("--effort") + 1] == "high"
    assert high.signature is not None and "--effort" in high.signature.flags
    low = invocation("low")
    assert low.signature is not None and low.signature.key != high.signature.key
    for effort in ("", "none"):
        plain = invocation(effort)
        assert "--effort" not in plain.argv


def test_cli_effort_none_disables_thinking_per_request() -> None:
    assert sampling_env(cli_request("none")) == {"CLAUDE_CODE_DISABLE_THINKING": "1"}
    assert sampling_env(cli_request("high")) == {}


def stream_line(event: dict[str, Any]) -> bytes:
    return json.dumps({"type": "stream_event", "event": event}).encode()


def test_cli_thinking_deltas_become_thinking_events() -> None:
    parser = StreamJsonParser(tools_allowed=False)
    start = {"type": "message_start", "message": {"id": "m1", "model": "claude-sonnet-5"}}
    block = {"type": "thinking", "thinking": "", "signature": ""}
    lines = [
        stream_line(start),
        stream_line({"type": "content_block_start", "index": 0, "content_block": block}),
        stream_line(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            }
        ),
        stream_line(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": SIGNATURE},
            }
        ),
        json.dumps(
            {
                "type": "assistant",
                "message": {"id": "m1", "content": [{**block, "thinking": "hmm"}]},
            }
        ).encode(),
    ]
    events = [event for line in lines for event in parser.feed_line(line)]
    got = [(e.thinking.text, e.thinking.signature) for e in events if e.HasField("thinking")]
    assert got == [("hmm", ""), ("", SIGNATURE)]  # the assistant line repeats nothing


def test_cli_structured_runs_show_no_thinking() -> None:
    parser = StreamJsonParser(tools_allowed=False, structured=True)
    delta = {"type": "thinking_delta", "thinking": "hmm"}
    assert (
        parser.feed_line(stream_line({"type": "content_block_delta", "index": 0, "delta": delta}))
        == []
    )


def test_thinking_is_output() -> None:
    assert is_output(thinking("a"))


# --- doors out ------------------------------------------------------------------------------


def test_openai_message_has_reasoning_content_never_the_signature() -> None:
    result = CompletionAccumulator("chatcmpl-1", 1, "sonnet")
    for event in EVENTS:
        result.add(event)
    message = result.response()["choices"][0]["message"]
    assert message["reasoning_content"] == "Let me think."
    assert message["content"] == "42"
    assert SIGNATURE not in json.dumps(result.response())


def test_openai_message_without_thinking_has_no_reasoning_content() -> None:
    result = CompletionAccumulator("chatcmpl-1", 1, "sonnet")
    result.add(text("42"))
    assert "reasoning_content" not in result.response()["choices"][0]["message"]


def test_openai_stream_sends_reasoning_content_deltas() -> None:
    writer = OpenAIChunks(StreamContext("r1", 1, "sonnet", include_usage=False))
    out = b"".join(writer.event(event)[0] for event in EVENTS)
    chunks = [json.loads(line[6:]) for line in out.split(b"\n\n") if line.startswith(b"data: ")]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[:3] == [
        {"reasoning_content": "Let me "},
        {"reasoning_content": "think."},
        {"content": "42"},
    ]
    assert SIGNATURE.encode() not in out


def test_anthropic_message_has_a_signed_thinking_block_first() -> None:
    result = MessageAccumulator("msg_1", "sonnet")
    for event in EVENTS:
        result.add(event)
    assert result.response()["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": SIGNATURE},
        {"type": "text", "text": "42"},
    ]


def test_anthropic_message_starts_a_new_thinking_block_after_a_signature() -> None:
    result = MessageAccumulator("msg_1", "sonnet")
    for event in (thinking("a", SIGNATURE), thinking("b"), thinking(signature="s2")):
        result.add(event)
    assert [b["thinking"] for b in result.response()["content"]] == ["a", "b"]
    assert [b["signature"] for b in result.response()["content"]] == [SIGNATURE, "s2"]


def sse_events(out: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(part.split(b"data: ", 1)[1]) for part in out.split(b"\n\n") if b"data: " in part
    ]


def test_anthropic_stream_has_thinking_then_text_blocks() -> None:
    writer = MessageStream("msg_1", "sonnet")
    out = b"".join(writer.event(event)[0] for event in EVENTS) + writer.closing(True)
    events = sse_events(out)
    shapes = [
        (e["type"], e.get("index"), (e.get("delta") or e.get("content_block") or {}).get("type"))
        for e in events
    ]
    assert shapes == [
        ("content_block_start", 0, "thinking"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "text"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    assert events[0]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert events[3]["delta"]["signature"] == SIGNATURE


def test_cli_history_leaves_thinking_out() -> None:
    thought = pb.ContentBlock(thinking=pb.ThinkingBlock(text="hmm", signature=SIGNATURE))
    message = pb.ChatMessage(role=pb.ROLE_ASSISTANT, content=[thought, pb.ContentBlock(text="ok")])
    assert turn_of(message).blocks == [{"type": "text", "text": "ok"}]
