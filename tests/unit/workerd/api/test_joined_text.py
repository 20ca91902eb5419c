"""A non-streaming api answer's text deltas travel joined: same text, same order, fewer events."""

from __future__ import annotations

from protos import common_pb2 as pb
from workerd.api.coalesce import TextJoiner


def _text(text: str) -> pb.Event:
    return pb.Event(text=pb.TextDelta(text=text))


READS = [
    [pb.Event(model_info=pb.ModelInfo(model="m")), _text("a")],
    [_text("b")],
    [_text("c"), pb.Event(tool_call=pb.ToolCallDelta(index=0, name="x")), _text("d")],
    [_text("e")],
]


def _shape(events: list[pb.Event]) -> list[tuple[str, str]]:
    return [(e.WhichOneof("kind") or "", e.text.text) for e in events]


def test_the_first_text_goes_at_once_and_the_rest_joined_up_to_the_next_event() -> None:
    joiner = TextJoiner()
    released = [joiner.feed(read) for read in READS]
    released.append(joiner.feed([pb.Event(usage=pb.Usage(output_tokens=1))]))

    assert [len(out) for out in released] == [2, 0, 2, 0, 2]  # nothing waits for a later read
    assert _shape([e for out in released for e in out]) == [
        ("model_info", ""),
        ("text", "a"),
        ("text", "bc"),
        ("tool_call", ""),
        ("text", "de"),
        ("usage", ""),
    ]


def test_text_held_when_the_stream_fails_is_flushed_before_the_failure() -> None:
    joiner = TextJoiner()
    for read in READS:
        joiner.feed(read)
    assert _shape(joiner.flush()) == [("text", "de")]
    assert joiner.flush() == []
