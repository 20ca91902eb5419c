"""common/answer.py: the assistant message one call's events make."""

from __future__ import annotations

from common.answer import Answer
from protos import common_pb2 as pb


def fold(*events: pb.Event) -> Answer:
    answer = Answer()
    for event in events:
        answer.observe(event)
    return answer


def test_thinking_then_text_then_calls_in_order() -> None:
    answer = fold(
        pb.Event(thinking=pb.ThinkingDelta(text="hmm ")),
        pb.Event(thinking=pb.ThinkingDelta(text="ok")),
        pb.Event(thinking=pb.ThinkingDelta(signature="sig1")),
        pb.Event(thinking=pb.ThinkingDelta(text="more")),
        pb.Event(text=pb.TextDelta(text="Hel")),
        pb.Event(tool_call=pb.ToolCallDelta(index=1, id="b", name="two", arguments_delta="{}")),
        pb.Event(text=pb.TextDelta(text="lo")),
        pb.Event(tool_call=pb.ToolCallDelta(index=0, id="a", name="one", arguments_delta='{"x"')),
        pb.Event(tool_call=pb.ToolCallDelta(index=0, arguments_delta=": 1}")),
    )
    message = answer.message()

    assert message is not None and message.role == pb.ROLE_ASSISTANT
    kinds = [block.WhichOneof("kind") for block in message.content]
    assert kinds == ["thinking", "thinking", "text", "tool_use", "tool_use"]
    assert (message.content[0].thinking.text, message.content[0].thinking.signature) == (
        "hmm ok",
        "sig1",
    )
    assert message.content[1].thinking.text == "more"
    assert message.content[2].text == "Hello"
    first, second = message.content[3].tool_use, message.content[4].tool_use
    assert (first.id, first.name, first.arguments_json) == ("a", "one", '{"x": 1}')
    assert (second.id, second.name) == ("b", "two")
    without = answer.message(with_thinking=False)
    assert without is not None and without.content[0].HasField("text")


def test_redacted_thinking_is_kept_as_its_own_block() -> None:
    answer = fold(
        pb.Event(thinking=pb.ThinkingDelta(redacted="opaque")),
        pb.Event(thinking=pb.ThinkingDelta(text="visible")),
        pb.Event(thinking=pb.ThinkingDelta(signature="s")),
        pb.Event(text=pb.TextDelta(text="done")),
    )
    message = answer.message()
    assert message is not None
    assert [block.thinking for block in message.content[:2]] == [
        pb.ThinkingBlock(redacted="opaque"),
        pb.ThinkingBlock(text="visible", signature="s"),
    ]


def test_nothing_said_is_none() -> None:
    assert Answer().message() is None
    thought_only = fold(pb.Event(thinking=pb.ThinkingDelta(text="hmm")))
    assert thought_only.message(with_thinking=False) is None
