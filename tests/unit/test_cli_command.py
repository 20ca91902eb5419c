"""workerd/cli_command.py: argv, stdin lines and env of one plain-chat CLI run."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from protos import common_pb2 as pb
from workerd.cli_command import (
    HISTORY_CLOSE,
    HISTORY_OPEN,
    UnsupportedRequest,
    build_chat_invocation,
    conversation_blocks,
    sampling_env,
    system_prompt,
    user_line,
)

BIN = "/opt/claude/bin/claude"
SYSTEM_FILE = "/state/workers/1/chat/req-1.system.txt"
USER_TEXT = "UNIQUE-USER-MARKER how tall is the Eiffel tower?"
SYSTEM_TEXT = "UNIQUE-SYSTEM-MARKER You are a terse assistant."


def msg(role: pb.Role, *blocks: pb.ContentBlock) -> pb.ChatMessage:
    return pb.ChatMessage(role=role, content=list(blocks))


def text(value: str) -> pb.ContentBlock:
    return pb.ContentBlock(text=value)


def request(*messages: pb.ChatMessage, **fields: Any) -> pb.ChatRequest:
    return pb.ChatRequest(request_id="req-1", model="sonnet", messages=list(messages), **fields)


def simple() -> pb.ChatRequest:
    return request(msg(pb.ROLE_SYSTEM, text(SYSTEM_TEXT)), msg(pb.ROLE_USER, text(USER_TEXT)))


def stdin_message(line: str) -> dict[str, Any]:
    obj = json.loads(line)
    assert isinstance(obj, dict)
    return obj


def flag_value(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, flag
    return argv[argv.index(flag) + 1]


def test_argv_never_contains_prompt_or_system_text() -> None:
    invocation = build_chat_invocation(BIN, simple(), SYSTEM_FILE)
    for arg in invocation.argv:
        assert "UNIQUE-USER-MARKER" not in arg
        assert "UNIQUE-SYSTEM-MARKER" not in arg
        assert "Eiffel" not in arg
    assert invocation.system_prompt == SYSTEM_TEXT
    assert USER_TEXT in "".join(invocation.stdin_lines)


def test_argv_shape() -> None:
    argv = build_chat_invocation(BIN, simple(), SYSTEM_FILE).argv
    assert argv[0] == BIN
    assert "-p" in argv
    assert flag_value(argv, "--tools") == ""
    assert flag_value(argv, "--max-turns") == "1"
    assert flag_value(argv, "--system-prompt-file") == SYSTEM_FILE
    assert flag_value(argv, "--model") == "sonnet"
    assert flag_value(argv, "--input-format") == "stream-json"
    assert flag_value(argv, "--output-format") == "stream-json"
    assert "--verbose" in argv
    assert "--include-partial-messages" in argv
    assert "--no-session-persistence" in argv
    assert "--system-prompt" not in argv
    assert all(isinstance(arg, str) for arg in argv)


def test_full_model_id_goes_to_model_flag() -> None:
    req = simple()
    req.model = "claude-opus-4-8"
    assert flag_value(build_chat_invocation(BIN, req, SYSTEM_FILE).argv, "--model") == (
        "claude-opus-4-8"
    )


def test_stdin_is_one_json_user_line() -> None:
    invocation = build_chat_invocation(BIN, simple(), SYSTEM_FILE)
    assert len(invocation.stdin_lines) == 1
    line = invocation.stdin_lines[0]
    obj = stdin_message(line)
    assert obj["type"] == "user"
    assert obj["message"]["role"] == "user"
    assert obj["message"]["content"] == USER_TEXT
    assert obj["parent_tool_use_id"] is None


def test_stdin_line_has_no_raw_newline_and_keeps_unicode() -> None:
    req = request(msg(pb.ROLE_USER, text("line one\nline two\r\n\u2028 — ünïcode 🐍")))
    (line,) = build_chat_invocation(BIN, req, SYSTEM_FILE).stdin_lines
    assert "\n" not in line and "\r" not in line
    assert stdin_message(line)["message"]["content"] == "line one\nline two\r\n\u2028 — ünïcode 🐍"


def test_several_system_messages_are_joined() -> None:
    req = request(
        msg(pb.ROLE_SYSTEM, text("first")),
        msg(pb.ROLE_USER, text("hi")),
        msg(pb.ROLE_SYSTEM, text("second"), text("more")),
        msg(pb.ROLE_SYSTEM),
    )
    assert system_prompt(req) == "first\n\nsecond\nmore"


def test_no_system_message_is_empty_prompt() -> None:
    req = request(msg(pb.ROLE_USER, text("hi")))
    assert system_prompt(req) == ""
    assert build_chat_invocation(BIN, req, SYSTEM_FILE).system_prompt == ""


def test_tools_are_unsupported() -> None:
    req = simple()
    req.tools.append(pb.ToolSpec(name="get_weather", parameters_json="{}"))
    with pytest.raises(UnsupportedRequest) as info:
        build_chat_invocation(BIN, req, SYSTEM_FILE)
    assert info.value.param == "tools"


@pytest.mark.parametrize("fmt", [pb.RESPONSE_FORMAT_JSON_OBJECT, pb.RESPONSE_FORMAT_JSON_SCHEMA])
def test_response_format_is_unsupported(fmt: pb.ResponseFormat) -> None:
    req = simple()
    req.response_format = fmt
    with pytest.raises(UnsupportedRequest) as info:
        build_chat_invocation(BIN, req, SYSTEM_FILE)
    assert info.value.param == "response_format"


def test_remote_image_url_is_unsupported_even_in_history() -> None:
    req = request(
        msg(pb.ROLE_USER, pb.ContentBlock(image=pb.ImageBlock(url="https://example.com/a.png"))),
        msg(pb.ROLE_ASSISTANT, text("nice")),
        msg(pb.ROLE_USER, text("and now?")),
    )
    with pytest.raises(UnsupportedRequest) as info:
        build_chat_invocation(BIN, req, SYSTEM_FILE)
    assert info.value.param == "messages"


def test_no_user_message_is_unsupported() -> None:
    req = request(msg(pb.ROLE_SYSTEM, text("s")), msg(pb.ROLE_ASSISTANT, text("a")))
    with pytest.raises(UnsupportedRequest) as info:
        build_chat_invocation(BIN, req, SYSTEM_FILE)
    assert info.value.param == "messages"


def test_image_block_becomes_base64_source() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00binary\xff"
    req = request(
        msg(
            pb.ROLE_USER,
            text("what is in this image?"),
            pb.ContentBlock(image=pb.ImageBlock(media_type="image/png", data=data)),
        )
    )
    (line,) = build_chat_invocation(BIN, req, SYSTEM_FILE).stdin_lines
    content = stdin_message(line)["message"]["content"]
    assert content == [
        {"type": "text", "text": "what is in this image?"},
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": base64.b64encode(data).decode(),
            },
        },
    ]


def test_history_is_rendered_before_the_newest_user_turn() -> None:
    req = request(
        msg(pb.ROLE_SYSTEM, text(SYSTEM_TEXT)),
        msg(pb.ROLE_USER, text("What is 2+2?")),
        msg(pb.ROLE_ASSISTANT, text("It is 4.")),
        msg(pb.ROLE_USER, text("And times 3?")),
    )
    (line,) = build_chat_invocation(BIN, req, SYSTEM_FILE).stdin_lines
    content = stdin_message(line)["message"]["content"]
    assert isinstance(content, list) and len(content) == 2
    transcript, newest = content
    assert newest == {"type": "text", "text": "And times 3?"}
    assert transcript["type"] == "text"
    body = transcript["text"]
    assert body.startswith(HISTORY_OPEN + "\n")
    assert body.endswith("\n" + HISTORY_CLOSE)
    assert body.index("User: What is 2+2?") < body.index("Assistant: It is 4.")
    assert "And times 3?" not in body
    assert "UNIQUE-SYSTEM-MARKER" not in body  # system text goes to the file only


def test_history_renders_tool_calls_and_results() -> None:
    req = request(
        msg(pb.ROLE_USER, text("weather in Oslo?")),
        msg(
            pb.ROLE_ASSISTANT,
            pb.ContentBlock(
                tool_use=pb.ToolUseBlock(
                    id="call_1", name="get_weather", arguments_json='{"city":"Oslo"}'
                )
            ),
        ),
        msg(
            pb.ROLE_TOOL,
            pb.ContentBlock(tool_result=pb.ToolResultBlock(tool_use_id="call_1", content="sunny")),
        ),
        msg(pb.ROLE_ASSISTANT, text("It is sunny.")),
        msg(pb.ROLE_USER, text("thanks")),
    )
    blocks = conversation_blocks(req)
    body = blocks[0]["text"]
    assert "get_weather" in body and '{"city":"Oslo"}' in body
    assert "Tool result:" in body and "sunny" in body
    assert body.index("get_weather") < body.index("sunny") < body.index("It is sunny.")
    assert blocks[1:] == [{"type": "text", "text": "thanks"}]


def test_single_turn_has_no_history_block() -> None:
    blocks = conversation_blocks(request(msg(pb.ROLE_USER, text("a"), text("b"))))
    assert blocks == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert all(HISTORY_OPEN not in b.get("text", "") for b in blocks)


def test_user_line_content_is_string_only_for_one_text_block() -> None:
    one = stdin_message(user_line([{"type": "text", "text": "x"}]))
    assert one["message"]["content"] == "x"
    two = stdin_message(user_line([{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]))
    assert two["message"]["content"] == [
        {"type": "text", "text": "x"},
        {"type": "text", "text": "y"},
    ]


def test_sampling_env_empty_without_knobs() -> None:
    assert sampling_env(simple()) == {}
    assert build_chat_invocation(BIN, simple(), SYSTEM_FILE).env == {}


def test_max_tokens_only() -> None:
    env = sampling_env(request(msg(pb.ROLE_USER, text("x")), max_tokens=256))
    assert env == {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "256"}


def test_sampling_knobs_go_to_extra_body_and_disable_thinking() -> None:
    req = request(
        msg(pb.ROLE_USER, text("x")),
        max_tokens=1000,
        temperature=0.7,
        top_p=0.9,
        stop=["END", "\n\n"],
    )
    env = build_chat_invocation(BIN, req, SYSTEM_FILE).env
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "1000"
    assert env["CLAUDE_CODE_DISABLE_THINKING"] == "1"
    assert json.loads(env["CLAUDE_CODE_EXTRA_BODY"]) == {
        "temperature": 0.7,
        "top_p": 0.9,
        "stop_sequences": ["END", "\n\n"],
    }


def test_zero_temperature_is_still_sent() -> None:
    env = sampling_env(request(msg(pb.ROLE_USER, text("x")), temperature=0.0))
    assert json.loads(env["CLAUDE_CODE_EXTRA_BODY"]) == {"temperature": 0.0}
    assert env["CLAUDE_CODE_DISABLE_THINKING"] == "1"
    assert "CLAUDE_CODE_MAX_OUTPUT_TOKENS" not in env


def test_stop_alone_goes_to_extra_body() -> None:
    env = sampling_env(request(msg(pb.ROLE_USER, text("x")), stop=["STOP"]))
    assert json.loads(env["CLAUDE_CODE_EXTRA_BODY"]) == {"stop_sequences": ["STOP"]}
