"""Self-test of tests/mock_upstream.py using the official anthropic SDK."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.mock_upstream import (
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    REDACTED_DATA,
    STOPSEQ_TEXT,
    THINKING_SIGNATURE,
    THINKING_TEXT,
    THOUGHT_ANSWER,
    MockUpstream,
    echo_reply,
)

pytestmark = pytest.mark.middle

MODEL = "claude-test-model"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    with MockUpstream() as server:
        yield server


@pytest.fixture
def client(mock: MockUpstream) -> Iterator[anthropic.Anthropic]:
    mock.clear()
    with anthropic.Anthropic(base_url=mock.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


def _ask(client: anthropic.Anthropic, text: str) -> anthropic.types.Message:
    return client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": text}]
    )


def test_echo_non_stream(client: anthropic.Anthropic, mock: MockUpstream) -> None:
    msg = _ask(client, "hello there SCN:echo")
    assert msg.model == MODEL
    assert msg.id.startswith("msg_mock_")
    assert msg.stop_reason == "end_turn"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == echo_reply("hello there SCN:echo") == "mock says: hello there"  # type: ignore[union-attr]
    assert msg.usage.input_tokens == INPUT_TOKENS
    assert msg.usage.cache_creation_input_tokens == CACHE_WRITE_TOKENS
    assert msg.usage.cache_read_input_tokens == CACHE_READ_TOKENS
    assert msg.usage.output_tokens == OUTPUT_TOKENS
    [rec] = mock.message_requests()
    assert rec.json is not None and rec.json["model"] == MODEL
    assert rec.size == len(rec.body) > 0
    auth = rec.headers.get("x-api-key") or rec.headers.get("authorization", "")
    assert auth.endswith("sk-test")


def test_echo_stream(client: anthropic.Anthropic) -> None:
    deltas: list[str] = []
    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "streamed words"}]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                deltas.append(event.delta.text)
        final = stream.get_final_message()
    assert len(deltas) == 3
    assert "".join(deltas) == echo_reply("streamed words")
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == INPUT_TOKENS
    assert final.usage.cache_read_input_tokens == CACHE_READ_TOKENS
    assert final.usage.output_tokens == OUTPUT_TOKENS


def test_err500(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as info:
        _ask(client, "SCN:err500")
    assert info.value.status_code == 500
    assert info.value.response.headers["x-should-retry"] == "false"


def test_err429_headers(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as info:
        _ask(client, "SCN:err429:7")
    headers = info.value.response.headers
    assert headers["retry-after"] == "7"
    assert headers["anthropic-ratelimit-unified-status"] == "rejected"


def test_tool_bash_round_trip(client: anthropic.Anthropic) -> None:
    msg = _ask(client, "run it SCN:tool_bash:/tmp/x.txt")
    assert msg.stop_reason == "tool_use"
    text, tool = msg.content
    assert text.type == "text" and tool.type == "tool_use"
    assert tool.name == "Bash" and tool.id.startswith("toolu_mock_")
    assert tool.input == {
        "command": "touch /tmp/x.txt && pwd > /tmp/x.txt",
        "description": "mock command",
    }
    follow = client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[
            {"role": "user", "content": "run it SCN:tool_bash:/tmp/x.txt"},
            {"role": "assistant", "content": msg.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "ok"}],
            },
        ],
    )
    assert follow.stop_reason == "end_turn"
    assert follow.content[0].text == "tool finished"  # type: ignore[union-attr]


def test_tool_bash_stream_input_fragments(client: anthropic.Anthropic) -> None:
    fragments: list[str] = []
    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "SCN:tool_bash:/tmp/y"}]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                fragments.append(event.delta.partial_json)
        final = stream.get_final_message()
    assert len(fragments) == 2
    assert final.stop_reason == "tool_use"
    assert final.content[1].type == "tool_use"


def test_unknown_route_is_404_and_recorded(client: anthropic.Anthropic, mock: MockUpstream) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.models.list()
    assert mock.requests[-1].path == "/v1/models"
    assert mock.message_requests() == []


def test_image_count_and_unknown_scenario(client: anthropic.Anthropic) -> None:
    image: anthropic.types.ImageBlockParam = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    msg = client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "SCN:image"}, image, image]}
        ],
    )
    assert msg.content[0].text == "saw 2 images"  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError):
        _ask(client, "SCN:no_such_scenario")


def test_think_answers_with_signed_thinking_only_when_asked(client: anthropic.Anthropic) -> None:
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "SCN:think hi"}]
    plain = client.messages.create(model="claude-sonnet-5", max_tokens=50, messages=messages)
    assert [b.type for b in plain.content] == ["text"]
    thought = client.messages.create(
        model="claude-sonnet-5", max_tokens=50, messages=messages, thinking={"type": "adaptive"}
    )
    first, answer = thought.content
    assert first.type == "thinking" and answer.type == "text"
    assert (first.thinking, first.signature, answer.text) == (
        THINKING_TEXT,
        THINKING_SIGNATURE,
        THOUGHT_ANSWER,
    )
    with client.messages.stream(
        model="claude-sonnet-5",
        max_tokens=50,
        messages=messages,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking"
    assert final.content[0].signature == THINKING_SIGNATURE


def test_redacted_adds_a_redacted_thinking_block(client: anthropic.Anthropic) -> None:
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "SCN:redacted"}]
    plain = client.messages.create(model="claude-sonnet-5", max_tokens=50, messages=messages)
    assert [b.type for b in plain.content] == ["text"]
    thought = client.messages.create(
        model="claude-sonnet-5", max_tokens=50, messages=messages, thinking={"type": "adaptive"}
    )
    assert [b.type for b in thought.content] == ["thinking", "redacted_thinking", "text"]
    assert thought.content[1].data == REDACTED_DATA  # type: ignore[union-attr]
    with client.messages.stream(
        model="claude-sonnet-5", max_tokens=50, messages=messages, thinking={"type": "adaptive"}
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    starts = [e.content_block for e in events if e.type == "content_block_start"]
    assert starts[1].type == "redacted_thinking" and starts[1].data == REDACTED_DATA
    assert not [e for e in events if e.type == "content_block_delta" and e.index == 1]
    assert [b.model_dump() for b in final.content][:2] == [
        b.model_dump() for b in thought.content[:2]
    ]


def test_stopseq_stops_on_the_request_stop_sequence(client: anthropic.Anthropic) -> None:
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "SCN:stopseq"}]
    msg = client.messages.create(
        model=MODEL, max_tokens=50, messages=messages, stop_sequences=["three", "four"]
    )
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", "three")
    assert msg.content[0].text == STOPSEQ_TEXT  # type: ignore[union-attr]
    with client.messages.stream(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "SCN:stopseq:END"}]
    ) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "END")
    with pytest.raises(anthropic.BadRequestError):
        _ask(client, "SCN:stopseq")
