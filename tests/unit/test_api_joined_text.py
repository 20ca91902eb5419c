"""A non-streaming api answer's text deltas travel joined: same text, same order, fewer events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from protos import common_pb2 as pb
from workerd.api.runner import _joined_text


def _text(text: str) -> pb.Event:
    return pb.Event(text=pb.TextDelta(text=text))


async def _events(fail: bool) -> AsyncIterator[pb.Event]:
    yield pb.Event(model_info=pb.ModelInfo(model="m"))
    for piece in "abc":
        yield _text(piece)
    yield pb.Event(tool_call=pb.ToolCallDelta(index=0, name="x"))
    yield _text("d")
    yield _text("e")
    if fail:
        raise TimeoutError
    yield pb.Event(usage=pb.Usage(output_tokens=1))


def _shape(events: list[pb.Event]) -> list[tuple[str, str]]:
    return [(e.WhichOneof("kind") or "", e.text.text) for e in events]


async def test_the_first_text_goes_at_once_and_the_rest_joined_up_to_the_next_event() -> None:
    out = [event async for event in _joined_text(_events(fail=False))]
    assert _shape(out) == [
        ("model_info", ""),
        ("text", "a"),
        ("text", "bc"),
        ("tool_call", ""),
        ("text", "de"),
        ("usage", ""),
    ]


async def test_text_held_when_the_stream_fails_comes_before_the_failure() -> None:
    out: list[pb.Event] = []
    with pytest.raises(TimeoutError):
        async for event in _joined_text(_events(fail=True)):
            out.append(event)
    assert _shape(out)[-1] == ("text", "de")
