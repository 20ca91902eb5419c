"""workerd/api/sse.py: server-sent events out of bytes split anywhere."""

from __future__ import annotations

import pytest

from workerd.api.sse import SseDecoder, SseEvent

STREAM = (
    'event: message_start\ndata: {"type": "message_start"}\n\n'
    ": a keepalive comment\n\n"
    'event: content_block_delta\r\ndata: {"text": "h\u00e9\u6f22"}\r\n\r\n'
    "data: line one\ndata: line two\nid: 7\n\n"
).encode()
EXPECTED = [
    SseEvent("message_start", '{"type": "message_start"}'),
    SseEvent("content_block_delta", '{"text": "h\u00e9\u6f22"}'),
    SseEvent("message", "line one\nline two"),
]


def decode(chunks: list[bytes]) -> list[SseEvent]:
    decoder = SseDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_a_whole_stream_in_one_chunk() -> None:
    assert decode([STREAM]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_chunks_split_anywhere_give_the_same_events(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert decode(chunks) == EXPECTED  # split lines, CRLF pairs and UTF-8 characters


def test_an_event_is_given_only_once_its_blank_line_arrived() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"event: ping\ndata: {}\n") == []
    assert decoder.feed(b"\n") == [SseEvent("ping", "{}")]


def test_lone_carriage_returns_end_lines() -> None:
    assert decode([b"event: a\rdata: 1\r\r", b"x"]) == [SseEvent("a", "1")]


def test_a_field_without_a_space_and_unknown_fields() -> None:
    assert decode([b"data:x\nretry: 10\nfoo\n\n"]) == [SseEvent("message", "x")]
