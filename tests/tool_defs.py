"""Tools the tests and benchmarks declare (the mock's scenarios call them): as chat completions
takes them, and the same tools as the Responses and Messages APIs take them."""

from __future__ import annotations

from typing import Any, cast

from anthropic.types import ToolParam
from openai.types.responses import FunctionToolParam

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["location"],
        },
    },
}
TIME: dict[str, Any] = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


def responses_tool(tool: dict[str, Any]) -> FunctionToolParam:
    """A chat completions tool as the Responses API declares it (flat, not strict)."""
    return cast(FunctionToolParam, {"type": "function", **tool["function"], "strict": False})


def messages_tool(tool: dict[str, Any]) -> ToolParam:
    """A chat completions tool as the Messages API declares it."""
    function = tool["function"]
    declared = {"name": function["name"], "input_schema": function["parameters"]}
    if "description" in function:
        declared["description"] = function["description"]
    return cast(ToolParam, declared)
