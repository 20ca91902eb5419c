"""Function-calling and JSON scenarios of the mock Anthropic API (tests/mock_upstream.py).

Pure planning: given the request body, what the reply holds. ``mock_upstream`` renders a plan as
a JSON message or as SSE chunks (tool input streamed in three ``input_json_delta`` fragments).

* ``fn_call[:<tool>]``: a text block ``FN_PREAMBLE`` then one ``tool_use`` of a tool the client
  declared (``<tool>``, else the first one) with input ``FN_ARGS[0]``; stop reason ``tool_use``.
* ``fn_two[:<tool>,<tool>]``: two ``tool_use`` blocks (the named tools, else the first two
  declared, else the first one twice) with inputs ``FN_ARGS[0]`` and ``FN_ARGS[1]``.
* ``json``: the tool forced by ``tool_choice: {"type": "tool"}`` called once with an input built
  from its schema (``json_answer``): what a model does for a forced JSON-answer tool.

When the newest user turn carries ``tool_result`` blocks, ``fn_call`` and ``fn_two`` answer with
the text ``tool_answer(contents)`` instead. A request that does not fit its scenario (an undeclared
tool, no forced tool) raises ``ValueError``, which the mock answers with a 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSONDict = dict[str, Any]

FN_PREAMBLE = "Let me check."
FN_ARGS: tuple[JSONDict, JSONDict] = (
    {"location": "Paris", "unit": "celsius"},
    {"location": "Tokyo", "unit": "celsius"},
)
JSON_OBJECT_ANSWER: JSONDict = {"answer": "mock"}
_SAMPLES: dict[str, Any] = {
    "string": "mock",
    "integer": 42,
    "number": 1.5,
    "boolean": True,
    "array": [],
    "null": None,
}
SCENARIOS = ("fn_call", "fn_two", "json")


@dataclass
class PlannedBlock:
    kind: str  # "text" or "tool_use"
    pieces: list[str]
    name: str = ""


@dataclass
class Plan:
    blocks: list[PlannedBlock] = field(default_factory=list)
    stop_reason: str = "end_turn"


def tool_answer(contents: list[str]) -> str:
    """The final text fn_call / fn_two give once they see the tool results."""
    return "tool said: " + "; ".join(contents)


def json_answer(schema: JSONDict) -> Any:
    """A value that fits `schema`: every property filled with a sample of its type."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0] if kind else "object"
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            return dict(JSON_OBJECT_ANSWER)
        return {name: json_answer(sub) for name, sub in properties.items()}
    return _SAMPLES.get(str(kind), "mock")


def _declared_as(tool: str, declared: list[str]) -> str:
    """The declared tool a scenario names: as is, or behind an MCP prefix (`mcp__c__<tool>`)."""
    for name in declared:
        if name == tool or (name.startswith("mcp__") and name.endswith("__" + tool)):
            return name
    raise ValueError(f"tool {tool!r} is not declared in the request")


def plan(name: str, arg: str | None, body: JSONDict, last_user: list[JSONDict]) -> Plan | None:
    """The plan for scenario `name`, or None when it is not one of SCENARIOS."""
    if name == "json":
        return _json(body)
    if name not in ("fn_call", "fn_two"):
        return None
    results = [_result_text(b) for b in last_user if b.get("type") == "tool_result"]
    if results:
        return Plan([PlannedBlock("text", [tool_answer(results)])])
    declared = [str(t.get("name")) for t in body.get("tools") or [] if isinstance(t, dict)]
    if not declared:
        raise ValueError(f"{name} needs tools in the request")
    wanted = [n for n in (arg or "").split(",") if n]
    if name == "fn_call":
        names = wanted[:1] or declared[:1]
        blocks = [PlannedBlock("text", [FN_PREAMBLE])]
    else:
        names = wanted[:2] or (declared[:2] if len(declared) > 1 else declared * 2)
        blocks = []
    for tool, arguments in zip(names, FN_ARGS, strict=False):
        name = _declared_as(tool, declared)
        blocks.append(PlannedBlock("tool_use", split3(json.dumps(arguments)), name))
    return Plan(blocks, "tool_use")


def _json(body: JSONDict) -> Plan:
    choice = body.get("tool_choice") or {}
    if not isinstance(choice, dict) or choice.get("type") != "tool":
        raise ValueError("json needs tool_choice {'type': 'tool', 'name': ...}")
    tools = {str(t.get("name")): t for t in body.get("tools") or [] if isinstance(t, dict)}
    tool = tools.get(str(choice.get("name")))
    if tool is None:
        raise ValueError("json: the forced tool is not declared")
    answer = json_answer(tool.get("input_schema") or {})
    return Plan([PlannedBlock("tool_use", split3(json.dumps(answer)), tool["name"])], "tool_use")


def _result_text(block: JSONDict) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content)


def split3(text: str) -> list[str]:
    n = len(text)
    return [p for p in (text[: n // 3], text[n // 3 : 2 * n // 3], text[2 * n // 3 :]) if p]
