"""workerd/cli/invocation.py: argv, stdin lines and env of one CLI run (cli and agent modes)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from protos import common_pb2 as pb
from workerd.cli.bridge import MCP_CONFIG, alias
from workerd.cli.invocation import (
    JSON_OBJECT_SCHEMA,
    MAX_SCHEMA_BYTES,
    SAMPLING_KEYS,
    AgentOptions,
    CliInvocation,
    build_invocation,
    sampling_env,
    settings_request,
)
from workerd.errors import UnservableRequest

BIN = "/opt/claude/bin/claude"
SYSTEM_FILE = "/state/workers/1/chat/req-1.system.txt"
USER_TEXT = "UNIQUE-USER-MARKER how tall is the Eiffel tower?"
SYSTEM_TEXT = "UNIQUE-SYSTEM-MARKER You are a terse assistant."
BUDGET = 400_000
SCHEMA = json.dumps(
    {"type": "object", "properties": {"height_m": {"type": "number"}}, "required": ["height_m"]}
)


def msg(role: pb.Role, *blocks: pb.ContentBlock) -> pb.ChatMessage:
    return pb.ChatMessage(role=role, content=list(blocks))


def text(value: str) -> pb.ContentBlock:
    return pb.ContentBlock(text=value)


def user(value: str) -> pb.ChatMessage:
    return msg(pb.ROLE_USER, text(value))


def assistant(value: str) -> pb.ChatMessage:
    return msg(pb.ROLE_ASSISTANT, text(value))


def request(*messages: pb.ChatMessage, **fields: Any) -> pb.ChatRequest:
    return pb.ChatRequest(request_id="req-1", model="sonnet", messages=list(messages), **fields)


def simple(**fields: Any) -> pb.ChatRequest:
    return request(msg(pb.ROLE_SYSTEM, text(SYSTEM_TEXT)), user(USER_TEXT), **fields)


def build(
    req: pb.ChatRequest,
    agent: AgentOptions | None = None,
    max_prompt_chars: int = BUDGET,
) -> CliInvocation:
    return build_invocation(BIN, req, SYSTEM_FILE, agent=agent, max_prompt_chars=max_prompt_chars)


def decode(line: str) -> dict[str, Any]:
    assert "\n" not in line and "\r" not in line
    obj = json.loads(line)
    assert isinstance(obj, dict)
    return obj


def flag_value(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, flag
    return argv[argv.index(flag) + 1]


def all_lines(invocation: CliInvocation) -> list[str]:
    return [line for _, line in invocation.history] + [invocation.final_line]


def unsupported(req: pb.ChatRequest, agent: AgentOptions | None = None) -> UnservableRequest:
    with pytest.raises(UnservableRequest) as info:
        build(req, agent)
    return info.value


# --- argv: cli mode --------------------------------------------------------------------------


def test_cli_mode_argv_shape() -> None:
    invocation = build(simple())
    argv = invocation.argv
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
    for absent in (
        "--system-prompt",
        "--append-system-prompt-file",
        "--permission-mode",
        "--allowedTools",
        "--disallowedTools",
        "--json-schema",
    ):
        assert absent not in argv, absent
    assert all(isinstance(arg, str) for arg in argv)
    assert not invocation.tools_allowed
    assert not invocation.structured


def test_full_model_id_goes_to_model_flag() -> None:
    req = simple()
    req.model = "claude-opus-4-8"
    assert flag_value(build(req).argv, "--model") == "claude-opus-4-8"


# --- argv: agent mode ------------------------------------------------------------------------


def test_agent_mode_argv_shape() -> None:
    invocation = build(simple(), AgentOptions(max_turns=7))
    argv = invocation.argv
    assert argv[0] == BIN
    assert flag_value(argv, "--permission-mode") == "bypassPermissions"
    assert flag_value(argv, "--max-turns") == "7"
    assert flag_value(argv, "--append-system-prompt-file") == SYSTEM_FILE
    assert flag_value(argv, "--model") == "sonnet"
    assert flag_value(argv, "--input-format") == "stream-json"
    assert "--tools" not in argv  # the agent keeps Claude Code's own tools
    assert "--system-prompt-file" not in argv  # ... and its own system prompt
    assert "--allowedTools" not in argv
    assert "--disallowedTools" not in argv
    assert invocation.tools_allowed
    assert not invocation.structured


def test_agent_default_max_turns() -> None:
    argv = build(simple(), AgentOptions()).argv
    assert flag_value(argv, "--max-turns") == str(AgentOptions().max_turns)


def test_agent_tool_lists_are_joined_with_commas() -> None:
    agent = AgentOptions(
        allowed_tools=("Bash", "Read", "Edit"), disallowed_tools=("WebFetch", "WebSearch")
    )
    argv = build(simple(), agent).argv
    assert flag_value(argv, "--allowedTools") == "Bash,Read,Edit"
    assert flag_value(argv, "--disallowedTools") == "WebFetch,WebSearch"


def test_agent_only_disallowed_tools() -> None:
    argv = build(simple(), AgentOptions(disallowed_tools=("Bash",))).argv
    assert "--allowedTools" not in argv
    assert flag_value(argv, "--disallowedTools") == "Bash"


@pytest.mark.parametrize("agent", [None, AgentOptions(allowed_tools=("Bash",))])
def test_argv_never_contains_prompt_or_system_text(agent: AgentOptions | None) -> None:
    req = request(
        msg(pb.ROLE_SYSTEM, text(SYSTEM_TEXT)),
        user("UNIQUE-OLD-USER-MARKER"),
        assistant("UNIQUE-OLD-ASSISTANT-MARKER"),
        user(USER_TEXT),
    )
    invocation = build(req, agent)
    for arg in invocation.argv:
        for marker in ("UNIQUE-", "Eiffel", "terse"):
            assert marker not in arg
    assert invocation.system_prompt == SYSTEM_TEXT
    joined = "".join(all_lines(invocation))
    assert "UNIQUE-OLD-USER-MARKER" in joined
    assert "UNIQUE-OLD-ASSISTANT-MARKER" in joined
    assert "Eiffel" in invocation.final_line
    assert "UNIQUE-SYSTEM-MARKER" not in joined  # system text goes to the file only


# --- unsupported requests --------------------------------------------------------------------


def test_client_tools_on_an_agent_need_agent_client_tools() -> None:
    req = simple()
    req.tools.append(pb.ToolSpec(name="get_weather", parameters_json="{}"))
    error = unsupported(req, AgentOptions())
    assert error.param == "tools" and "AGENT_CLIENT_TOOLS" in str(error)
    both = build(req, AgentOptions(client_tools=True))
    assert flag_value(both.argv, "--mcp-config") == MCP_CONFIG
    assert flag_value(both.argv, "--permission-mode") == "bypassPermissions"


def test_remote_image_url_is_unsupported_even_in_history() -> None:
    req = request(
        msg(pb.ROLE_USER, pb.ContentBlock(image=pb.ImageBlock(url="https://example.com/a.png"))),
        assistant("nice"),
        user("and now?"),
    )
    assert unsupported(req).param == "messages"


def test_last_message_from_assistant_is_unsupported() -> None:
    req = request(msg(pb.ROLE_SYSTEM, text("s")), user("hi"), assistant("hello"))
    error = unsupported(req)
    assert error.param == "messages"
    assert str(error)


def test_no_user_message_is_unsupported() -> None:
    assert unsupported(request(msg(pb.ROLE_SYSTEM, text("s")))).param == "messages"
    assert unsupported(request()).param == "messages"


# --- response_format -------------------------------------------------------------------------


def test_json_object_becomes_object_schema() -> None:
    invocation = build(simple(response_format=pb.RESPONSE_FORMAT_JSON_OBJECT))
    assert json.loads(flag_value(invocation.argv, "--json-schema")) == {"type": "object"}
    assert JSON_OBJECT_SCHEMA == {"type": "object"}
    assert flag_value(invocation.argv, "--max-turns") == "2"  # the schema needs its tool turn
    assert invocation.structured
    assert not invocation.tools_allowed


def test_json_schema_is_passed_verbatim() -> None:
    req = simple(response_format=pb.RESPONSE_FORMAT_JSON_SCHEMA, json_schema=SCHEMA)
    invocation = build(req)
    assert flag_value(invocation.argv, "--json-schema") == SCHEMA
    assert flag_value(invocation.argv, "--max-turns") == "2"
    assert flag_value(invocation.argv, "--tools") == ""
    assert invocation.structured


def test_json_schema_in_agent_mode_keeps_agent_turns() -> None:
    req = simple(response_format=pb.RESPONSE_FORMAT_JSON_SCHEMA, json_schema=SCHEMA)
    invocation = build(req, AgentOptions(max_turns=5))
    assert flag_value(invocation.argv, "--json-schema") == SCHEMA
    assert flag_value(invocation.argv, "--max-turns") == "5"
    assert invocation.structured and invocation.tools_allowed


def test_schema_ignored_for_text_format() -> None:
    invocation = build(simple(response_format=pb.RESPONSE_FORMAT_TEXT, json_schema=SCHEMA))
    assert "--json-schema" not in invocation.argv
    assert not invocation.structured


def test_schema_at_the_size_limit_is_accepted() -> None:
    padding = MAX_SCHEMA_BYTES - len('{"description": ""}')
    schema = json.dumps({"description": "x" * padding})
    assert len(schema.encode()) == MAX_SCHEMA_BYTES
    req = simple(response_format=pb.RESPONSE_FORMAT_JSON_SCHEMA, json_schema=schema)
    assert flag_value(build(req).argv, "--json-schema") == schema


@pytest.mark.parametrize(
    "description",
    [
        "x" * (MAX_SCHEMA_BYTES - len('{"description": ""}') + 1),
        "é" * (MAX_SCHEMA_BYTES // 2),  # fewer characters than the limit, more bytes
    ],
)
def test_oversized_schema_is_rejected(description: str) -> None:
    schema = json.dumps({"description": description}, ensure_ascii=False)
    assert MAX_SCHEMA_BYTES == 64 * 1024
    req = simple(response_format=pb.RESPONSE_FORMAT_JSON_SCHEMA, json_schema=schema)
    assert unsupported(req).param == "response_format"


# --- stdin lines -----------------------------------------------------------------------------


def test_single_turn_is_one_normal_user_line() -> None:
    invocation = build(simple())
    assert invocation.history == []
    obj = decode(invocation.final_line)
    assert obj["type"] == "user"
    assert obj["message"] == {"role": "user", "content": USER_TEXT}
    assert obj["parent_tool_use_id"] is None
    assert "shouldQuery" not in obj


def test_history_lines_replay_earlier_turns_in_order() -> None:
    req = request(
        msg(pb.ROLE_SYSTEM, text(SYSTEM_TEXT)),
        user("What is 2+2?"),
        assistant("It is 4."),
        user("And times 3?"),
        assistant("12."),
        user("Minus 2?"),
    )
    invocation = build(req)
    assert [role for role, _ in invocation.history] == ["user", "assistant", "user", "assistant"]
    first, second, third, fourth = (decode(line) for _, line in invocation.history)
    for silent, content in ((first, "What is 2+2?"), (third, "And times 3?")):
        assert silent["type"] == "user"
        assert silent["shouldQuery"] is False
        assert silent["message"] == {"role": "user", "content": content}
    for n, (reply, content) in enumerate(((second, "It is 4."), (fourth, "12."))):
        assert reply["type"] == "assistant"
        assert reply["message"] == {
            "id": f"msg_replay_{2 * n + 1}",  # the CLI merges assistant lines without ids
            "role": "assistant",
            "content": [{"type": "text", "text": content}],
        }
        assert "shouldQuery" not in reply
    final = decode(invocation.final_line)
    assert final["message"] == {"role": "user", "content": "Minus 2?"}
    assert "shouldQuery" not in final


def test_every_line_is_valid_json_and_keeps_unicode() -> None:
    tricky = 'line one\nline two\r\n\u2028 — ünïcode 🐍 "quoted" \\ back'
    req = request(user(tricky), assistant(tricky), user(tricky))
    invocation = build(req)
    lines = all_lines(invocation)
    assert len(lines) == 3
    for line in lines:
        obj = decode(line)
        content = obj["message"]["content"]
        assert tricky in (content if isinstance(content, str) else content[0]["text"])
    assert "🐍" in invocation.final_line  # not \\u-escaped


def test_image_block_becomes_base64_source() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00binary\xff"
    req = request(
        msg(
            pb.ROLE_USER,
            text("what is in this image?"),
            pb.ContentBlock(image=pb.ImageBlock(media_type="image/png", data=data)),
        )
    )
    content = decode(build(req).final_line)["message"]["content"]
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


def test_tool_messages_become_user_turns_with_labelled_text() -> None:
    req = request(
        user("weather in Oslo?"),
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
    )
    invocation = build(req)
    assert [role for role, _ in invocation.history] == ["user", "assistant"]
    call = decode(invocation.history[1][1])["message"]["content"]
    assert len(call) == 1 and call[0]["type"] == "text"
    assert "get_weather" in call[0]["text"] and '{"city":"Oslo"}' in call[0]["text"]
    final = decode(invocation.final_line)["message"]["content"]
    assert isinstance(final, str)
    assert "call_1" in final and "sunny" in final


def test_truncation_follows_the_prompt_budget() -> None:
    req = request(user("a" * 5_000), assistant("b" * 5_000), user("c" * 100))
    full = build(req, max_prompt_chars=20_000)
    assert len(full.history) == 2
    cut = build(req, max_prompt_chars=1_000)
    assert cut.history == []
    final = decode(cut.final_line)["message"]["content"]
    assert isinstance(final, list)
    assert "2 earlier messages" in final[0]["text"]
    assert final[1] == {"type": "text", "text": "c" * 100}


def test_system_prompt_joins_system_messages() -> None:
    req = request(
        msg(pb.ROLE_SYSTEM, text("first")),
        user("hi"),
        msg(pb.ROLE_SYSTEM, text("second"), text("more")),
        msg(pb.ROLE_SYSTEM),
        user("again"),
    )
    invocation = build(req)
    assert invocation.system_prompt == "first\n\nsecond\nmore"
    assert build(request(user("hi"))).system_prompt == ""


# --- sampling env ----------------------------------------------------------------------------


def test_sampling_env_empty_without_knobs() -> None:
    assert sampling_env(simple()) == {}
    assert build(simple()).env == {}


def test_max_tokens_only() -> None:
    env = sampling_env(request(user("x"), max_tokens=256))
    assert env == {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "256"}


def test_sampling_knobs_go_to_extra_body_and_disable_thinking() -> None:
    req = request(user("x"), max_tokens=1000, temperature=0.7, top_p=0.9, stop=["END", "\n\n"])
    env = build(req).env
    assert env == sampling_env(req)
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "1000"
    assert env["CLAUDE_CODE_DISABLE_THINKING"] == "1"
    assert json.loads(env["CLAUDE_CODE_EXTRA_BODY"]) == {
        "temperature": 0.7,
        "top_p": 0.9,
        "stop_sequences": ["END", "\n\n"],
    }


def test_zero_temperature_is_still_sent() -> None:
    env = sampling_env(request(user("x"), temperature=0.0))
    assert json.loads(env["CLAUDE_CODE_EXTRA_BODY"]) == {"temperature": 0.0}
    assert env["CLAUDE_CODE_DISABLE_THINKING"] == "1"
    assert "CLAUDE_CODE_MAX_OUTPUT_TOKENS" not in env


def test_top_p_alone_disables_thinking() -> None:
    env = sampling_env(request(user("x"), top_p=0.5))
    assert json.loads(env["CLAUDE_CODE_EXTRA_BODY"]) == {"top_p": 0.5}
    assert env["CLAUDE_CODE_DISABLE_THINKING"] == "1"


def test_stop_alone_goes_to_extra_body_and_keeps_thinking() -> None:
    env = sampling_env(request(user("x"), stop=["STOP"]))
    assert env == {"CLAUDE_CODE_EXTRA_BODY": json.dumps({"stop_sequences": ["STOP"]})}
    assert "CLAUDE_CODE_DISABLE_THINKING" not in env


def test_sampling_settings_are_not_part_of_the_signature() -> None:
    plain = build(simple())
    tuned = build(simple(max_tokens=50, temperature=0.2))
    assert tuned.signature == plain.signature  # one warm process serves both
    assert tuned.env != plain.env
    other_model = simple()
    other_model.model = "opus"
    assert build(other_model).signature != plain.signature


def test_settings_request_sets_given_keys_and_clears_the_others() -> None:
    assert settings_request({"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "50"}) == {
        "subtype": "apply_flag_settings",
        "settings": {
            "env": {
                "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "50",
                "CLAUDE_CODE_EXTRA_BODY": "",
                "CLAUDE_CODE_DISABLE_THINKING": "",
            }
        },
    }
    assert set(settings_request({})["settings"]["env"]) == set(SAMPLING_KEYS)


# --- client tools over the MCP bridge ------------------------------------------------------


def with_tools(**fields: Any) -> pb.ChatRequest:
    req = simple(**fields)
    req.tools.append(pb.ToolSpec(name="get_weather", description="d", parameters_json="{}"))
    req.tools.append(pb.ToolSpec(name="get_time", parameters_json="{}"))
    return req


def extra_body(invocation: CliInvocation) -> dict[str, Any]:
    return dict(json.loads(invocation.env.get("CLAUDE_CODE_EXTRA_BODY", "{}")))


def test_tools_run_over_the_bridge_with_builtins_off() -> None:
    invocation = build(with_tools())
    argv = invocation.argv
    assert flag_value(argv, "--tools") == ""
    assert flag_value(argv, "--mcp-config") == MCP_CONFIG
    assert flag_value(argv, "--allowedTools") == "mcp__c"
    assert int(flag_value(argv, "--max-turns")) >= 100  # each tool step is a model call
    assert invocation.signature is not None
    assert [t.name for t in invocation.signature.client_tools] == ["get_weather", "get_time"]
    assert invocation.signature != build(simple()).signature  # the tool set is in it


@pytest.mark.parametrize(
    ("mode", "name", "expected"),
    [
        (pb.TOOL_CHOICE_AUTO, "", {"type": "auto"}),
        (pb.TOOL_CHOICE_NONE, "", {"type": "none"}),
        (pb.TOOL_CHOICE_REQUIRED, "", {"type": "any"}),
        (pb.TOOL_CHOICE_NAMED, "get_time", {"type": "tool", "name": "mcp__c__get_time"}),
    ],
)
def test_tool_choice_goes_into_the_body(
    mode: pb.ToolChoiceMode, name: str, expected: dict[str, str]
) -> None:
    invocation = build(with_tools(tool_choice=pb.ToolChoice(mode=mode, name=name)))
    assert extra_body(invocation)["tool_choice"] == expected
    forced = expected["type"] in ("any", "tool")
    assert (invocation.env.get("CLAUDE_CODE_DISABLE_THINKING") == "1") is forced


def test_no_parallel_calls_and_sampling_share_the_body() -> None:
    invocation = build(with_tools(parallel_tool_calls=False, temperature=0.5))
    assert extra_body(invocation) == {
        "temperature": 0.5,
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }


def test_without_a_choice_nothing_is_added() -> None:
    assert "tool_choice" not in extra_body(build(with_tools()))


@pytest.mark.parametrize(
    ("req", "param"),
    [
        (
            with_tools(tool_choice=pb.ToolChoice(mode=pb.TOOL_CHOICE_NAMED, name="nope")),
            "tool_choice",
        ),
        (with_tools(response_format=pb.RESPONSE_FORMAT_JSON_OBJECT), "response_format"),
        (simple(tool_choice=pb.ToolChoice(mode=pb.TOOL_CHOICE_REQUIRED)), "tool_choice"),
    ],
)
def test_what_tools_cannot_honour_is_refused(req: pb.ChatRequest, param: str) -> None:
    assert unsupported(req).param == param


def test_tool_history_is_real_blocks_with_tools_and_text_without() -> None:
    call = pb.ContentBlock(
        tool_use=pb.ToolUseBlock(id="toolu_1", name="get_weather", arguments_json='{"a": 1}')
    )
    result = pb.ContentBlock(tool_result=pb.ToolResultBlock(tool_use_id="toolu_1", content="ok"))
    messages = [user("weather?"), msg(pb.ROLE_ASSISTANT, text("let me see"), call)]
    messages.append(msg(pb.ROLE_TOOL, result))
    req = with_tools()
    del req.messages[:]
    req.messages.extend(messages)

    invocation = build(req)

    assert invocation.history[1][0] == "assistant"
    assistant_message = decode(invocation.history[1][1])["message"]
    assert assistant_message["id"] == "msg_replay_1"
    assert assistant_message["content"][1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "mcp__c__get_weather",
        "input": {"a": 1},
    }
    final = decode(invocation.final_line)  # the results: the model goes on from them
    assert "shouldQuery" not in final
    assert final["message"]["content"] == [  # as the CLI sends what the bridge gave it
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": [{"type": "text", "text": "ok"}],
        }
    ]
    plain = request(*messages[:2], user("and?"))
    assert "[called tool get_weather" in all_lines(build(plain))[1]  # no tools: labelled text


def test_tool_arguments_that_are_not_an_object_are_refused() -> None:
    call = pb.ContentBlock(
        tool_use=pb.ToolUseBlock(id="t", name="get_weather", arguments_json="[1]")
    )
    req = with_tools()
    req.messages.extend([msg(pb.ROLE_ASSISTANT, call), user("go on")])
    assert unsupported(req).param == "messages"


# --- client JSON that once broke the worker (issue 21) ---------------------------------------


def with_call(arguments: str, name: str = "get_weather") -> pb.ChatRequest:
    call = pb.ContentBlock(tool_use=pb.ToolUseBlock(id="t", name=name, arguments_json=arguments))
    req = with_tools()
    req.messages.extend([msg(pb.ROLE_ASSISTANT, call), user("go on")])
    return req


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ('{"a": ' + "[" * 990 + "]" * 990 + "}", "nested deeper"),
        ('{"a": NaN}', "NaN"),
        ('{"a": Infinity}', "Infinity"),
        ('{"a": 1e999}', "too large"),
    ],
)
def test_tool_arguments_json_cannot_carry_are_the_requests_400(arguments: str, why: str) -> None:
    refused = unsupported(with_call(arguments))
    assert refused.param == "messages" and why in str(refused)


def test_a_tool_schema_nested_too_deep_is_refused_naming_the_tool() -> None:
    req = with_tools()
    req.tools[1].parameters_json = '{"type": "object", "x": ' + "[" * 990 + "]" * 990 + "}"
    assert unsupported(req).param == "tools[1].function.parameters"


def test_a_nan_temperature_never_reaches_the_cli() -> None:
    with pytest.raises(ValueError):
        build(simple(temperature=float("nan")))


# --- the bridge's aliases (issue 21): the model never sees a name over 128 characters --------


LONG = "t" * 128


@pytest.mark.parametrize("name", [LONG, "x y__Bash", "ü__Bash"])
def test_a_name_the_model_cannot_see_goes_by_its_alias_everywhere(name: str) -> None:
    req = with_call('{"a": 1}', name)
    req.tools[0].name = name
    req.tool_choice.CopyFrom(pb.ToolChoice(mode=pb.TOOL_CHOICE_NAMED, name=name))

    invocation = build(req)

    [use] = [
        block
        for line in all_lines(invocation)
        for block in decode(line)["message"]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_use"
    ]
    chosen = extra_body(invocation)["tool_choice"]["name"]
    assert use["name"] == chosen != "mcp__c__" + name
    assert len(chosen) <= 128 and re.fullmatch(r"[A-Za-z0-9_-]+", chosen)
    assert build(req).final_line == invocation.final_line  # the same tools, the same names


def test_two_tools_one_alias_are_refused() -> None:
    req = with_tools()
    req.tools[0].name = "ü__Bash"
    req.tools[1].name = alias("ü__Bash")
    assert unsupported(req).param == "tools"
