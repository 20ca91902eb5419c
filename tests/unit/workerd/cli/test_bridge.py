"""workerd/cli/bridge.py: the MCP server of the client's tools, over the CLI's control protocol."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from workerd.cli.bridge import (
    MAX_RESULT_CHARS,
    MAX_TOOL_NAME,
    Bridge,
    ToolDef,
    ToolResult,
    alias,
    client_names,
    control_response,
    mcp_message,
    model_name,
)
from workerd.cli.stream_json import StreamJsonParser

WEATHER = ToolDef("get_weather", "Weather in a city", '{"type":"object","properties":{}}')
TIME = ToolDef("get_time", "", "")


def answer(line: str) -> tuple[str, dict[str, Any]]:
    """(control request id, JSON-RPC response) of one stdin line the bridge wrote."""
    obj = json.loads(line)
    assert obj["type"] == "control_response"
    response = obj["response"]
    assert response["subtype"] == "success"
    return response["request_id"], response["response"]["mcp_response"]


def call(rpc_id: int, tool_use_id: str, name: str = "get_weather") -> dict[str, Any]:
    meta = {"claudecode/toolUseId": tool_use_id, "progressToken": rpc_id}
    params = {"name": name, "arguments": {"location": "Paris"}, "_meta": meta}
    return {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": params}


def test_handshake_answers_initialize_with_the_clients_protocol_version() -> None:
    bridge = Bridge((WEATHER,))
    message = {"jsonrpc": "2.0", "id": 0, "method": "initialize"}
    message["params"] = {"protocolVersion": "2025-11-25", "capabilities": {}}
    [line] = bridge.handle("r1", message)
    request_id, rpc = answer(line)
    assert request_id == "r1" and rpc["id"] == 0
    assert rpc["result"]["protocolVersion"] == "2025-11-25"
    assert rpc["result"]["capabilities"] == {"tools": {}}
    assert rpc["result"]["serverInfo"]["name"] == "c"


def test_notifications_are_answered_too() -> None:
    """The CLI stalls its first turn until a notification is answered."""
    bridge = Bridge(())
    [line] = bridge.handle("r2", {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert answer(line)[0] == "r2"


def test_tools_are_listed_in_the_clients_order_byte_stable() -> None:
    bridge = Bridge((WEATHER, TIME))
    assert not bridge.listed
    [first] = bridge.handle("a", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    [again] = bridge.handle("a", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert first == again and bridge.listed
    tools = answer(first)[1]["result"]["tools"]
    assert [t["name"] for t in tools] == ["get_weather", "get_time"]
    assert tools[0]["description"] == "Weather in a city"
    assert tools[0]["inputSchema"] == {"type": "object", "properties": {}}
    assert tools[1]["inputSchema"] == {"type": "object", "properties": {}}  # none given
    assert tools[0]["_meta"] == {"anthropic/maxResultSizeChars": MAX_RESULT_CHARS}


def test_a_call_waits_for_the_clients_result() -> None:
    bridge = Bridge((WEATHER,))
    assert bridge.handle("c1", call(2, "toolu_1")) == []
    assert list(bridge.pending) == ["toolu_1"]

    [line] = bridge.give([ToolResult("toolu_1", "18C")])

    request_id, rpc = answer(line)
    assert request_id == "c1" and rpc["id"] == 2
    assert rpc["result"] == {"content": [{"type": "text", "text": "18C"}]}
    assert bridge.pending == {}


def test_an_error_result_is_an_mcp_error_result() -> None:
    bridge = Bridge((WEATHER,))
    bridge.handle("c1", call(2, "toolu_1"))
    [line] = bridge.give([ToolResult("toolu_1", "no such city", is_error=True)])
    assert answer(line)[1]["result"] == {
        "content": [{"type": "text", "text": "no such city"}],
        "isError": True,
    }


def test_results_for_calls_not_asked_yet_wait_for_them() -> None:
    """The CLI asks for parallel calls one at a time: the second comes after the first."""
    bridge = Bridge((WEATHER, TIME))
    bridge.handle("c1", call(2, "toolu_1"))
    lines = bridge.give([ToolResult("toolu_1", "18C"), ToolResult("toolu_2", "noon")])
    assert [answer(line)[0] for line in lines] == ["c1"]

    [line] = bridge.handle("c2", call(3, "toolu_2", "get_time"))

    assert answer(line) == ("c2", {"jsonrpc": "2.0", "id": 3, "result": _text("noon")})
    assert bridge.calls_seen == 2 and bridge.results == {}


def test_unknown_methods_get_a_json_rpc_error() -> None:
    [line] = Bridge(()).handle("x", {"jsonrpc": "2.0", "id": 7, "method": "resources/list"})
    assert answer(line)[1]["error"]["code"] == -32601


def test_mcp_message_recognises_only_requests_for_our_server() -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    request = {"subtype": "mcp_message", "server_name": "c", "message": message}
    line = {"type": "control_request", "request_id": "q", "request": request}
    assert mcp_message(line) == ("q", message)
    assert mcp_message({**line, "request": {**request, "server_name": "other"}}) is None
    assert mcp_message({**line, "request": {"subtype": "can_use_tool"}}) is None
    assert mcp_message({"type": "stream_event"}) is None


def test_control_response_shape() -> None:
    line = control_response("rid", {"jsonrpc": "2.0", "id": 1, "result": {}})
    assert json.loads(line) == {
        "type": "control_response",
        "response": {
            "subtype": "success",
            "request_id": "rid",
            "response": {"mcp_response": {"jsonrpc": "2.0", "id": 1, "result": {}}},
        },
    }


def _text(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}]}


# --- aliases (issue 21): the model never sees a name over 128 characters; the client its own --


@pytest.mark.parametrize("name", ["t" * 121, "t" * 128, "x y__Bash", "ü__Bash", ""])
def test_a_name_the_model_cannot_see_is_listed_under_a_short_stable_alias(name: str) -> None:
    bridge = Bridge((ToolDef(name, "", ""),))
    [line] = bridge.handle("a", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    [listed] = answer(line)[1]["result"]["tools"]

    assert listed["name"] == alias(name) != name
    assert re.fullmatch(r"[A-Za-z0-9_-]+", listed["name"])
    assert len(model_name(name)) <= MAX_TOOL_NAME
    assert alias(name) == alias(name) and client_names([name, "ok"]) == {alias(name): name}


def test_a_name_the_model_can_see_is_listed_as_it_is() -> None:
    for name in ["get_weather", "t" * (MAX_TOOL_NAME - len(model_name("")))]:
        assert alias(name) == name and len(model_name(name)) <= MAX_TOOL_NAME
    assert client_names(["get_weather"]) == {}


def test_names_differing_past_the_readable_part_get_different_aliases() -> None:
    assert alias("t" * 200 + "a") != alias("t" * 200 + "b")


def test_a_call_under_an_alias_reaches_the_client_under_its_own_name() -> None:
    name = "ü" + "t" * 130
    parser = StreamJsonParser(
        tools_allowed=False, client_tools=True, tool_names=client_names([name])
    )
    start = {"type": "content_block_start", "index": 0}
    start["content_block"] = {"type": "tool_use", "id": "toolu_1", "name": model_name(name)}
    message = {"type": "message_start", "message": {"id": "m1", "usage": {}}}
    events = [e for obj in (message, start) for e in parser.feed(stream_event(obj))]

    assert [e.tool_call.name for e in events if e.HasField("tool_call")] == [name]


def stream_event(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "stream_event", "event": event}
