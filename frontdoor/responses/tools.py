"""Pure: the Responses API's client tools as the neutral request's functions, and back.

What a client such as the Codex CLI declares, and what the model sees:
* `function` tools: as they are.
* `custom` (freeform) tools: a function of one string parameter `input`, the tool's format (a
  grammar, if any) in that parameter's description. The model's calls go back to the client as
  `custom_tool_call` items carrying the `input` text.
* `namespace` tools (a named group of function and custom tools): each member as
  `<namespace>__<name>`; calls go back under the member's own name with `namespace` set.
* Anything else is a tool the provider would run itself (web_search, file_search,
  code_interpreter, tool_search, mcp, ...): this proxy cannot, so it is left out (and logged),
  and the model answers without it.

The output side rebuilds the same table from the request's tools (the echo of `tools` every
response object carries), so both directions agree on every name."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from frontdoor.core.errors import ApiError
from frontdoor.core.limits import ANTHROPIC_TOOL_NAME, tool_name

CLIENT_TYPES = ("function", "custom")
NAMESPACE_SEPARATOR = "__"


@dataclass(frozen=True)
class ClientTool:
    """One tool the client runs, under the name the model sees (`flat`)."""

    kind: str  # "function" or "custom"
    name: str  # the client's own name
    namespace: str = ""
    description: str = ""
    parameters: Mapping[str, Any] | None = None
    format: Mapping[str, Any] | None = None

    @property
    def flat(self) -> str:
        return flat_name(self.name, self.namespace)

    def parameters_json(self) -> str:
        if self.kind == "custom":
            return json.dumps(custom_parameters(self.format))
        return json.dumps(self.parameters or {"type": "object"})


def flat_name(name: str, namespace: str | None) -> str:
    """The model's name of a tool: a namespace member is `<namespace>__<name>`."""
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


def custom_parameters(fmt: Mapping[str, Any] | None) -> dict[str, Any]:
    """The JSON schema a freeform tool is called with: one string, `input`."""
    about = "The tool's whole input, as free text (not JSON)."
    if fmt and fmt.get("type") == "grammar" and fmt.get("definition"):
        syntax = str(fmt.get("syntax") or "lark")
        about += f" It must match this {syntax} grammar:\n{fmt['definition']}"
    return {
        "type": "object",
        "properties": {"input": {"type": "string", "description": about}},
        "required": ["input"],
        "additionalProperties": False,
    }


def declared(tools: Sequence[Mapping[str, Any]]) -> tuple[list[ClientTool], list[str]]:
    """The client-run tools of a request's `tools` (as JSON) and the types left out.

    A function or custom tool without a name, or a name given twice, is a 400."""
    out: list[ClientTool] = []
    dropped: list[str] = []
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        kind = str(tool.get("type"))
        if kind == "namespace":
            namespace = _name(tool, param, "a namespace tool")
            members = tool.get("tools")
            if not isinstance(members, list):
                raise ApiError(
                    400, "a namespace tool needs a list of tools", param=f"{param}.tools"
                )
            for n, member in enumerate(members):
                where = f"{param}.tools[{n}]"
                if not isinstance(member, Mapping):
                    raise ApiError(400, "a namespace member must be a tool object", param=where)
                if member.get("type") in CLIENT_TYPES:
                    out.append(_client_tool(member, where, namespace))
                else:
                    dropped.append(f"{namespace}.{member.get('type')}")
        elif kind in CLIENT_TYPES:
            out.append(_client_tool(tool, param, ""))
        else:
            dropped.append(kind)
    seen: set[str] = set()
    for client in out:
        tool_name(client.flat, "tools", ANTHROPIC_TOOL_NAME)  # <namespace>__<name> upstream
        if client.flat in seen:
            raise ApiError(400, f"tool {client.flat!r} is declared twice", param="tools")
        seen.add(client.flat)
    return out, dropped


def table(tools: Sequence[Mapping[str, Any]]) -> dict[str, ClientTool]:
    """The model's tool name -> the client's tool (for naming calls on the way out)."""
    found, _ = declared(tools)
    return {tool.flat: tool for tool in found}


def _name(tool: Mapping[str, Any], param: str, what: str) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, f"{what} needs a name", param=f"{param}.name")
    return tool_name(name, f"{param}.name")


def _client_tool(tool: Mapping[str, Any], param: str, namespace: str) -> ClientTool:
    kind = str(tool["type"])
    name = _name(tool, param, f"a {kind} tool")
    parameters = tool.get("parameters")
    fmt = tool.get("format")
    return ClientTool(
        kind=kind,
        name=name,
        namespace=namespace,
        description=str(tool.get("description") or ""),
        parameters=parameters if isinstance(parameters, Mapping) else None,
        format=fmt if isinstance(fmt, Mapping) else None,
    )


def custom_input(arguments: str) -> str:
    """A freeform call's input from the model's arguments: `{"input": "..."}` gives its text;
    arguments of any other shape are passed on as they are."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(parsed, dict) and isinstance(parsed.get("input"), str):
        return str(parsed["input"])
    return arguments


def custom_arguments(text: str) -> str:
    """The arguments a freeform call's `input` came from (a replayed `custom_tool_call`)."""
    return json.dumps({"input": text})
