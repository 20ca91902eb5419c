"""The Responses door with the tools the Codex CLI sends: function, custom (freeform) and
namespace tools as functions, provider-run tools left out, and custom and namespaced calls on
the way out (responses/tools.py, responses/translate.py, responses/output.py)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from frontdoor.core.errors import ApiError
from frontdoor.responses.models import ResponsesRequest
from frontdoor.responses.output import ResponseBuilder
from frontdoor.responses.tools import custom_arguments, custom_input, declared, flat_name
from frontdoor.responses.translate import to_chat_request
from protos import common_pb2 as pb

GRAMMAR = 'start: "*** Begin Patch" LF body\n%import common.LF\n'
EXEC: dict[str, Any] = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {"cmd": {"type": "string"}},
        "required": ["cmd"],
        "additionalProperties": False,
    },
}
PATCH: dict[str, Any] = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files. This is a FREEFORM tool.",
    "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR},
}
AGENTS: dict[str, Any] = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Sub-agents.",
    "tools": [
        {"type": "function", "name": "wait_agent", "parameters": {"type": "object"}},
        {"type": "custom", "name": "note", "description": "free text"},
        {"type": "web_search"},
    ],
}
HOSTED: list[dict[str, Any]] = [
    {"type": "web_search", "external_web_access": False, "search_content_types": ["text"]},
    {
        "type": "tool_search",
        "execution": "client",
        "description": "Searches deferred tools.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
    {"type": "file_search", "vector_store_ids": ["vs_1"]},
    {"type": "local_shell"},
]
# What the Codex CLI 0.171 sends besides input and tools (recorded from a real run).
CODEX_FIELDS: dict[str, Any] = {
    "stream": True,
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "01a22a26-da25-71c0-9bc3-12a880cb5431",
    "text": {"verbosity": "low"},
    "client_metadata": {"turn_id": "t1", "x-codex-window-id": "w:0"},
}


def _translate(**fields: Any) -> pb.ChatRequest:
    data: dict[str, Any] = {"model": "sonnet", "input": "hi", **fields}
    return to_chat_request(ResponsesRequest.model_validate(data), "sonnet", "req-1")


def _tools(request: pb.ChatRequest) -> dict[str, tuple[str, dict[str, Any]]]:
    return {t.name: (t.description, json.loads(t.parameters_json)) for t in request.tools}


def test_what_codex_sends_is_accepted_and_hosted_tools_are_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = ResponsesRequest.model_validate(
        {"model": "sonnet", "input": "hi", "tools": [EXEC, PATCH, AGENTS, *HOSTED], **CODEX_FIELDS}
    )
    assert body.ignored_fields() == []
    with caplog.at_level(logging.INFO, logger="frontdoor.responses.translate"):
        request = to_chat_request(body, "sonnet", "req-1")

    tools = _tools(request)
    assert list(tools) == [
        "exec_command",
        "apply_patch",
        "multi_agent_v1__wait_agent",
        "multi_agent_v1__note",
    ]
    assert tools["exec_command"] == ("Runs a command.", EXEC["parameters"])
    assert request.tool_choice.mode == pb.TOOL_CHOICE_AUTO
    assert request.parallel_tool_calls is True
    assert request.reasoning_effort == "medium" and request.stream
    [line] = [r.getMessage() for r in caplog.records if "leaving out" in r.getMessage()]
    for kind in ("multi_agent_v1.web_search", "web_search", "tool_search", "local_shell"):
        assert kind in line


def test_a_custom_tool_is_a_function_of_one_string() -> None:
    description, schema = _tools(_translate(tools=[PATCH]))["apply_patch"]
    assert description == PATCH["description"]
    assert schema["required"] == ["input"] and schema["additionalProperties"] is False
    assert list(schema["properties"]) == ["input"]
    about = schema["properties"]["input"]
    assert about["type"] == "string"
    assert "lark grammar" in about["description"] and GRAMMAR in about["description"]
    _, plain = _tools(_translate(tools=[{"type": "custom", "name": "note"}]))["note"]
    assert "grammar" not in plain["properties"]["input"]["description"]


def test_named_tool_choices_of_custom_and_namespaced_tools() -> None:
    request = _translate(tools=[PATCH], tool_choice={"type": "custom", "name": "apply_patch"})
    assert request.tool_choice.mode == pb.TOOL_CHOICE_NAMED
    assert request.tool_choice.name == "apply_patch"
    choice = {"type": "function", "name": "wait_agent", "namespace": "multi_agent_v1"}
    request = _translate(tools=[AGENTS], tool_choice=choice)
    assert request.tool_choice.name == "multi_agent_v1__wait_agent"


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ([{"type": "custom"}], "tools[0].name"),
        ([{"type": "namespace", "tools": []}], "tools[0].name"),
        ([{"type": "namespace", "name": "n"}], "tools[0].tools"),
        (
            [{"type": "namespace", "name": "n", "tools": [{"type": "function"}]}],
            "tools[0].tools[0].name",
        ),
        ([EXEC, {**PATCH, "name": "exec_command"}], "tools"),
    ],
)
def test_tool_refusals(tools: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(ApiError) as info:
        _translate(tools=tools)
    assert info.value.status == 400 and info.value.param == param


def test_a_hosted_tool_cannot_be_forced() -> None:
    with pytest.raises(ApiError) as info:
        _translate(tools=HOSTED[:1], tool_choice={"type": "web_search"})
    assert info.value.param == "tool_choice"


def test_custom_and_namespaced_calls_in_the_input() -> None:
    request = _translate(
        tools=[PATCH, AGENTS],
        input=[
            {"role": "user", "content": "fix it"},
            {
                "type": "custom_tool_call",
                "id": "ctc_1",
                "call_id": "call_p",
                "name": "apply_patch",
                "input": "*** Begin Patch\n*** End Patch\n",
            },
            {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Done!"},
            {
                "type": "function_call",
                "call_id": "call_w",
                "name": "wait_agent",
                "namespace": "multi_agent_v1",
                "arguments": '{"targets": []}',
            },
            {
                "type": "function_call_output",
                "call_id": "call_w",
                "output": [{"type": "input_text", "text": "idle"}],
            },
        ],
    )
    user, patch, patched, wait, waited = request.messages
    assert user.role == pb.ROLE_USER
    [use] = patch.content
    assert (use.tool_use.id, use.tool_use.name) == ("call_p", "apply_patch")
    assert json.loads(use.tool_use.arguments_json) == {"input": "*** Begin Patch\n*** End Patch\n"}
    assert patched.role == pb.ROLE_TOOL
    assert patched.content[0].tool_result.tool_use_id == "call_p"
    assert patched.content[0].tool_result.content == "Done!"
    assert wait.content[0].tool_use.name == "multi_agent_v1__wait_agent"
    assert wait.content[0].tool_use.arguments_json == '{"targets": []}'
    assert waited.content[0].tool_result.content == "idle"


@pytest.mark.parametrize(
    "item",
    [
        {"type": "custom_tool_call", "call_id": "c", "input": "x"},
        {"type": "custom_tool_call_output", "output": "x"},
    ],
)
def test_custom_items_need_their_ids(item: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as info:
        _translate(input=[item])
    assert info.value.param == "input[0]" and str(item["type"]) in info.value.message


# --- output ---------------------------------------------------------------------------------


def _call(index: int, arguments: str, call_id: str = "", name: str = "") -> pb.Event:
    return pb.Event(
        tool_call=pb.ToolCallDelta(index=index, id=call_id, name=name, arguments_delta=arguments)
    )


def _run(tools: list[dict[str, Any]], *events: pb.Event) -> tuple[ResponseBuilder, list[Any]]:
    body = ResponsesRequest.model_validate({"model": "sonnet", "input": "x", "tools": tools})
    echo = {"tools": [t.model_dump(by_alias=True, exclude_none=True) for t in body.tools or ()]}
    builder = ResponseBuilder("resp_abc", 1, "sonnet", echo)
    out = builder.opening()
    for event in events:
        out.extend(builder.add(event))
    out.append(builder.ending())
    return builder, out


def test_a_custom_call_goes_out_as_a_custom_tool_call_item() -> None:
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"
    arguments = json.dumps({"input": patch})
    builder, events = _run(
        [EXEC, PATCH],
        _call(0, "", "toolu_1", "apply_patch"),
        _call(0, arguments[:10]),
        _call(0, arguments[10:]),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_TOOL_CALLS)),
    )
    [item] = builder.response()["output"]
    assert item == {
        "id": item["id"],
        "type": "custom_tool_call",
        "call_id": "toolu_1",
        "name": "apply_patch",
        "input": patch,
        "status": "completed",
    }
    assert item["id"].startswith("ctc_")
    kinds = [e["type"] for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[2]["item"]
    assert added["type"] == "custom_tool_call" and added["input"] == ""
    assert events[3]["delta"] == patch and events[4]["input"] == patch
    assert events[5]["item"] == item
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_a_namespaced_call_names_its_namespace() -> None:
    builder, events = _run(
        [AGENTS, EXEC],
        _call(0, '{"a":', "toolu_1", "multi_agent_v1__wait_agent"),
        _call(0, "1}"),
        _call(1, "", "toolu_2", "exec_command"),
        _call(1, '{"cmd": "ls"}'),
        _call(2, '{"input": "n"}', "toolu_3", "multi_agent_v1__note"),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_TOOL_CALLS)),
    )
    wait, run, note = builder.response()["output"]
    assert (wait["type"], wait["name"], wait["namespace"]) == (
        "function_call",
        "wait_agent",
        "multi_agent_v1",
    )
    assert wait["arguments"] == '{"a":1}'
    assert "namespace" not in run and run["name"] == "exec_command"
    assert (note["type"], note["name"], note["namespace"], note["input"]) == (
        "custom_tool_call",
        "note",
        "multi_agent_v1",
        "n",
    )
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"a":', "1}", '{"cmd": "ls"}']


def test_custom_input_from_the_model_arguments() -> None:
    assert custom_input('{"input": "a\\nb"}') == "a\nb"
    assert custom_input('{"location": "Paris"}') == '{"location": "Paris"}'
    assert custom_input("not json") == "not json"
    assert custom_input('{"input": 3}') == '{"input": 3}'
    assert json.loads(custom_arguments("a\nb")) == {"input": "a\nb"}
    assert custom_input(custom_arguments('x "y"')) == 'x "y"'


def test_flat_names_and_the_declared_table() -> None:
    assert flat_name("wait_agent", "multi_agent_v1") == "multi_agent_v1__wait_agent"
    assert flat_name("f", None) == flat_name("f", "") == "f"
    found, dropped = declared([EXEC, AGENTS, *HOSTED])
    assert [(t.kind, t.flat) for t in found] == [
        ("function", "exec_command"),
        ("function", "multi_agent_v1__wait_agent"),
        ("custom", "multi_agent_v1__note"),
    ]
    assert dropped == [
        "multi_agent_v1.web_search",
        "web_search",
        "tool_search",
        "file_search",
        "local_shell",
    ]


# A "responses lite" model's request (the Codex CLI 0.171, recorded): no `tools`, its tools in
# an additional_tools input item before the conversation.
ADDITIONAL: dict[str, Any] = {
    "type": "additional_tools",
    "id": "at_01a22b20",
    "role": "developer",
    "tools": [{"type": "namespace", "name": "functions", "tools": [PATCH, EXEC]}, HOSTED[0]],
}


def test_tools_declared_in_the_input_join_the_requests_tools() -> None:
    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    body = ResponsesRequest.model_validate(
        {"model": "sonnet", "input": [ADDITIONAL, user], "tools": [AGENTS], **CODEX_FIELDS}
    )
    request = to_chat_request(body, "sonnet", "req-1")

    assert list(_tools(request)) == [
        "multi_agent_v1__wait_agent",
        "multi_agent_v1__note",
        "functions__apply_patch",
        "functions__exec_command",
    ]
    [message] = request.messages  # the item is no turn of the conversation
    assert message.role == pb.ROLE_USER and message.content[0].text == "hi"
    # The response names a call by the tool the input declared: a custom tool call here.
    arguments = json.dumps({"input": "*** Begin Patch\n*** End Patch\n"})
    builder, _ = _run(
        body.all_tools(),
        _call(0, "", "toolu_1", "functions__apply_patch"),
        _call(0, arguments),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_TOOL_CALLS)),
    )
    [item] = builder.response()["output"]
    assert item["type"] == "custom_tool_call" and item["name"] == "apply_patch"
    assert item["namespace"] == "functions"
