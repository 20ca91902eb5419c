"""An OpenAI-style conversation as stream-json turns, within a budget: the CLI's reading in
workerd/anthropic/content.py, the budget in cli/invocation.py, the lines in cli/lines.py."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from protos import common_pb2 as pb
from workerd.anthropic.content import CONTINUATION, Turn, system_prompt
from workerd.cli.invocation import TRUNCATION_MARKER, RenderedConversation, render
from workerd.cli.lines import assistant_line, user_line
from workerd.errors import UnservableRequest

BIG = 1_000_000


def msg(role: pb.Role, *blocks: pb.ContentBlock) -> pb.ChatMessage:
    return pb.ChatMessage(role=role, content=list(blocks))


def text(value: str) -> pb.ContentBlock:
    return pb.ContentBlock(text=value)


def user(*values: str) -> pb.ChatMessage:
    return msg(pb.ROLE_USER, *(text(v) for v in values))


def assistant(*values: str) -> pb.ChatMessage:
    return msg(pb.ROLE_ASSISTANT, *(text(v) for v in values))


def system(*values: str) -> pb.ChatMessage:
    return msg(pb.ROLE_SYSTEM, *(text(v) for v in values))


def tool_use(call_id: str, name: str, arguments: str) -> pb.ContentBlock:
    return pb.ContentBlock(
        tool_use=pb.ToolUseBlock(id=call_id, name=name, arguments_json=arguments)
    )


def tool_result(call_id: str, content: str, is_error: bool = False) -> pb.ContentBlock:
    return pb.ContentBlock(
        tool_result=pb.ToolResultBlock(tool_use_id=call_id, content=content, is_error=is_error)
    )


def t(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def shape(conversation: RenderedConversation) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every turn, the current one last, as (role, blocks)."""
    return [(turn.role, turn.blocks) for turn in [*conversation.history, conversation.current]]


def marker(count: int) -> dict[str, Any]:
    return t(TRUNCATION_MARKER.format(count=count))


# --- render: roles, merging, placeholders ----------------------------------------------------


def test_single_user_message() -> None:
    conversation = render([user("hi")], BIG)
    assert conversation.history == []
    assert conversation.current == Turn("user", [t("hi")])
    assert conversation.dropped == 0


def test_alternating_turns_keep_their_order() -> None:
    conversation = render(
        [user("u1"), assistant("a1"), user("u2"), assistant("a2"), user("u3")], BIG
    )
    assert shape(conversation) == [
        ("user", [t("u1")]),
        ("assistant", [t("a1")]),
        ("user", [t("u2")]),
        ("assistant", [t("a2")]),
        ("user", [t("u3")]),
    ]
    assert conversation.dropped == 0


def test_consecutive_same_role_messages_are_merged() -> None:
    conversation = render(
        [user("u1"), user("u2", "u3"), assistant("a1"), assistant("a2"), user("u4"), user("u5")],
        BIG,
    )
    assert shape(conversation) == [
        ("user", [t("u1"), t("u2"), t("u3")]),
        ("assistant", [t("a1"), t("a2")]),
        ("user", [t("u4"), t("u5")]),
    ]


def test_system_messages_are_excluded_and_do_not_split_turns() -> None:
    conversation = render(
        [system("sys1"), user("u1"), system("sys2"), user("u2"), assistant("a1"), user("u3")], BIG
    )
    assert shape(conversation) == [
        ("user", [t("u1"), t("u2")]),
        ("assistant", [t("a1")]),
        ("user", [t("u3")]),
    ]
    rendered = json.dumps([blocks for _, blocks in shape(conversation)])
    assert "sys1" not in rendered and "sys2" not in rendered


def test_empty_messages_are_skipped() -> None:
    conversation = render(
        [user("u1"), assistant(), msg(pb.ROLE_ASSISTANT, text("")), user("u2")], BIG
    )
    assert shape(conversation) == [("user", [t("u1"), t("u2")])]


def test_conversation_starting_with_assistant_gets_a_placeholder_user_turn() -> None:
    conversation = render([system("s"), assistant("Hello, how can I help?"), user("hi")], BIG)
    assert shape(conversation) == [
        ("user", [t(CONTINUATION)]),
        ("assistant", [t("Hello, how can I help?")]),
        ("user", [t("hi")]),
    ]


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [system("only a system prompt")],
        [user("hi"), assistant("hello")],
        [assistant("hello")],
        [user("hi"), assistant("hello"), user("")],
    ],
)
def test_conversation_must_end_with_a_user_turn(messages: list[pb.ChatMessage]) -> None:
    with pytest.raises(UnservableRequest):
        render(messages, BIG)


def test_remote_image_url_is_refused() -> None:
    image = pb.ContentBlock(image=pb.ImageBlock(url="https://example.com/cat.png"))
    with pytest.raises(UnservableRequest):
        render([msg(pb.ROLE_USER, text("look"), image)], BIG)


# --- render: content blocks ------------------------------------------------------------------


def test_images_become_base64_blocks() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\xff"
    image = pb.ContentBlock(image=pb.ImageBlock(media_type="image/png", data=data))
    conversation = render([msg(pb.ROLE_USER, text("what is this?"), image)], BIG)
    assert conversation.current.blocks == [
        t("what is this?"),
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": base64.b64encode(data).decode(),
            },
        },
    ]


def test_tool_use_and_tool_result_are_labelled_text() -> None:
    conversation = render(
        [
            user("weather in Oslo and Bergen?"),
            msg(
                pb.ROLE_ASSISTANT,
                text("Let me check."),
                tool_use("call_1", "get_weather", '{"city":"Oslo"}'),
                tool_use("call_2", "get_weather", '{"city":"Bergen"}'),
            ),
            msg(pb.ROLE_TOOL, tool_result("call_1", "sunny")),
            msg(pb.ROLE_TOOL, tool_result("call_2", "timeout", is_error=True)),
            assistant("Oslo is sunny; Bergen failed."),
            user("thanks"),
        ],
        BIG,
    )
    roles = [role for role, _ in shape(conversation)]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    calls = conversation.history[1].blocks
    assert [b["type"] for b in calls] == ["text", "text", "text"]
    assert calls[0] == t("Let me check.")
    for block, city, call_id in ((calls[1], "Oslo", "call_1"), (calls[2], "Bergen", "call_2")):
        assert "get_weather" in block["text"]
        assert call_id in block["text"]
        assert f'{{"city":"{city}"}}' in block["text"]
    ok, failed = conversation.history[2].blocks  # both tool messages merged into one user turn
    assert "call_1" in ok["text"] and "sunny" in ok["text"]
    assert "call_2" in failed["text"] and "timeout" in failed["text"]
    assert "failed" in failed["text"] and "failed" not in ok["text"]


def test_tool_result_as_the_newest_turn() -> None:
    conversation = render(
        [
            user("run it"),
            msg(pb.ROLE_ASSISTANT, tool_use("call_9", "run", "{}")),
            msg(pb.ROLE_TOOL, tool_result("call_9", "done")),
        ],
        BIG,
    )
    assert conversation.current.role == "user"
    (block,) = conversation.current.blocks
    assert "call_9" in block["text"] and "done" in block["text"]


# --- system_prompt ---------------------------------------------------------------------------


def test_system_prompt_joins_system_messages() -> None:
    messages = [
        system("first"),
        user("hi"),
        system("second", "more"),
        msg(pb.ROLE_SYSTEM),
        assistant("a"),
        user("u"),
    ]
    assert system_prompt(messages) == "first\n\nsecond\nmore"


def test_no_system_message_is_an_empty_prompt() -> None:
    assert system_prompt([user("hi"), assistant("a"), user("b")]) == ""


# --- truncation ------------------------------------------------------------------------------


def test_nothing_dropped_means_no_marker() -> None:
    messages = [user("a" * 10), assistant("b" * 10), user("c" * 10)]
    conversation = render(messages, 30)  # exactly the budget
    assert conversation.dropped == 0
    assert shape(conversation) == [
        ("user", [t("a" * 10)]),
        ("assistant", [t("b" * 10)]),
        ("user", [t("c" * 10)]),
    ]
    assert "truncated" not in json.dumps(shape(conversation))


def test_oldest_turns_are_dropped_first() -> None:
    messages = [
        user("u1" * 50),
        assistant("a1" * 50),
        user("u2" * 5),
        assistant("a2" * 5),
        user("u3" * 5),
    ]
    conversation = render(messages, 100)
    assert conversation.dropped == 2
    assert shape(conversation) == [
        ("user", [marker(2), t("u2" * 5)]),
        ("assistant", [t("a2" * 5)]),
        ("user", [t("u3" * 5)]),
    ]


def test_history_after_truncation_starts_with_a_user_turn() -> None:
    # a1 alone would fit next to u2, but history must not start with an assistant turn.
    messages = [user("u1" * 50), assistant("a1"), user("u2")]
    conversation = render(messages, 10)
    assert conversation.dropped == 2
    assert conversation.history == []
    assert conversation.current.blocks == [marker(2), t("u2")]


def test_newest_user_turn_is_kept_even_over_budget() -> None:
    newest = "n" * 500
    conversation = render([user("old"), assistant("reply"), user(newest)], 100)
    assert conversation.history == []
    assert conversation.dropped == 2
    assert conversation.current.blocks == [marker(2), t(newest)]
    alone = render([user(newest)], 100)
    assert alone.dropped == 0
    assert alone.current.blocks == [t(newest)]


def test_marker_goes_into_the_first_kept_turn_only() -> None:
    messages = [user("x" * 100), assistant("y" * 100), user("u2"), assistant("a2"), user("u3")]
    conversation = render(messages, 10)
    first, *rest = [blocks for _, blocks in shape(conversation)]
    assert first[0] == marker(2)
    assert "2 earlier messages" in first[0]["text"]
    assert all("truncated" not in json.dumps(blocks) for blocks in rest)


def test_image_data_counts_towards_the_budget() -> None:
    image = pb.ContentBlock(image=pb.ImageBlock(media_type="image/png", data=b"\0" * 300))
    messages = [msg(pb.ROLE_USER, image), assistant("ok"), user("and?")]
    assert render(messages, 1_000).dropped == 0
    assert render(messages, 100).dropped == 2


def test_placeholder_turn_is_dropped_with_the_rest() -> None:
    messages = [assistant("a" * 100), user("u1"), assistant("a1"), user("u2")]
    conversation = render(messages, 10)
    assert conversation.history[0].role == "user"
    assert conversation.history[0].blocks[0]["text"].startswith("[...")
    assert CONTINUATION not in json.dumps(shape(conversation))


# --- stream-json lines -----------------------------------------------------------------------


def test_user_line_with_one_text_block_has_string_content() -> None:
    obj = json.loads(user_line(Turn("user", [t("x")])))
    assert obj == {
        "type": "user",
        "message": {"role": "user", "content": "x"},
        "parent_tool_use_id": None,
    }


def test_user_line_with_several_blocks_has_a_block_list() -> None:
    blocks = [t("x"), t("y")]
    obj = json.loads(user_line(Turn("user", blocks)))
    assert obj["message"]["content"] == blocks


def test_user_line_with_only_an_image_has_a_block_list() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
    }
    obj = json.loads(user_line(Turn("user", [image])))
    assert obj["message"]["content"] == [image]


def test_silent_user_line_does_not_query_the_model() -> None:
    obj = json.loads(user_line(Turn("user", [t("earlier")]), silent=True))
    assert obj["shouldQuery"] is False
    assert obj["type"] == "user"
    assert obj["message"] == {"role": "user", "content": "earlier"}


def test_assistant_line_always_has_a_block_list() -> None:
    obj = json.loads(assistant_line(Turn("assistant", [t("It is 4.")])))
    assert obj["type"] == "assistant"
    assert obj["message"] == {"role": "assistant", "content": [t("It is 4.")]}
    assert "shouldQuery" not in obj


def test_lines_are_single_json_lines_with_raw_unicode() -> None:
    value = "a\nb\r\n\u2028 ünï 🐍"
    for line in (
        user_line(Turn("user", [t(value)])),
        user_line(Turn("user", [t(value)]), silent=True),
        assistant_line(Turn("assistant", [t(value)])),
    ):
        assert "\n" not in line and "\r" not in line
        assert "🐍" in line
        obj = json.loads(line)
        content = obj["message"]["content"]
        assert (content if isinstance(content, str) else content[0]["text"]) == value
