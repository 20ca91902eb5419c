"""frontdoor/chat/output.py: a text delta's SSE bytes spliced into a template are the bytes
json.dumps writes for the whole chunk, whatever the text, the model or the usage setting."""

from __future__ import annotations

import pytest

from frontdoor.chat.output import ChunkBuilder, sse_data

TEXTS = [
    "hello",
    "",
    'quotes " and \\ backslashes',
    "new\nlines\tand\rcontrols\x00\x1f",
    "ünïcödé, 漢字 and an emoji 🎉",
    "\u2028\u2029 separators",
    "\x00delta text\x00",  # the template's own mark, as text
]


@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("text", TEXTS)
def test_text_and_reasoning_bytes_are_the_chunks(text: str, include_usage: bool) -> None:
    chunks = ChunkBuilder("chatcmpl-x1", 1_700_000_000, "claude-sonnet-4-5", include_usage)
    assert chunks.text_sse(text) == sse_data(chunks.text(text))
    assert chunks.reasoning_sse(text) == sse_data(chunks.reasoning(text))


def test_a_model_named_after_the_first_chunk_is_in_the_next() -> None:
    chunks = ChunkBuilder("chatcmpl-x2", 5, "sonnet")
    before = chunks.text_sse("a")
    chunks.model = 'claude-"quoted"-\x00delta text\x00'
    assert chunks.text_sse("b") == sse_data(chunks.text("b"))
    assert b'"model":"sonnet"' in before
