"""workerd/api/coalesce.py: fragments that arrived together become one event, in order."""

from __future__ import annotations

from protos import common_pb2 as pb
from workerd.api.coalesce import coalesced


def text(value: str) -> pb.Event:
    return pb.Event(text=pb.TextDelta(text=value))


def call(index: int, arguments: str, call_id: str = "", name: str = "") -> pb.Event:
    delta = pb.ToolCallDelta(index=index, id=call_id, name=name, arguments_delta=arguments)
    return pb.Event(tool_call=delta)


def test_adjacent_text_deltas_are_joined() -> None:
    info = pb.Event(model_info=pb.ModelInfo(model="m"))
    usage = pb.Event(usage=pb.Usage(output_tokens=3))
    events = coalesced([info, text("Hel"), text("lo "), text("there"), usage])
    assert events == [info, text("Hello there"), usage]


def test_other_events_keep_their_place_between_texts() -> None:
    thinking = pb.Event(thinking=pb.ThinkingDelta(text="hmm"))
    events = coalesced([text("a"), thinking, text("b"), text("c")])
    assert events == [text("a"), thinking, text("bc")]


def test_argument_fragments_of_one_call_are_joined_after_its_first_delta() -> None:
    events = coalesced(
        [
            call(0, "", "call_1", "get_weather"),
            call(0, '{"loc'),
            call(0, 'ation": "Paris"}'),
            call(1, "", "call_2", "get_time"),
            call(1, "{}"),
            call(0, "never after another call's start"),
        ]
    )
    assert events == [
        call(0, "", "call_1", "get_weather"),
        call(0, '{"location": "Paris"}'),
        call(1, "", "call_2", "get_time"),
        call(1, "{}"),
        call(0, "never after another call's start"),
    ]


def test_a_single_event_or_none_is_returned_as_is() -> None:
    assert coalesced([]) == []
    assert coalesced([text("x")]) == [text("x")]
