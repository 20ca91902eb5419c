"""Pure: the MCP server "c" through which a CLI process sees the client's function tools.

The CLI is the MCP client; workerd serves the server over the CLI's own control protocol (an
SDK-type server: docs/claude-cli.md, "Client tools over MCP"). Every JSON-RPC message arrives
in a `control_request` `mcp_message` and its answer goes back in a `control_response`. The
handshake and `tools/list` are answered at once; a `tools/call` is never executed here: it
waits for the client, whose next request carries the result. The model sees the tools as
`mcp__c__<name>`; the prefix is stripped on the way out.

A name the model could not see as it is (the prefixed name over the API's 128 characters, or a
character outside `[A-Za-z0-9_-]`, which the CLI would rewrite) is listed under an alias
(`alias`), and mapped back for the client (`client_names`). An alias depends on the name alone:
the same tools get the same aliases in every process (a held one and a rebuilt one agree, and
the prompt's bytes stay the same for the cache).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workerd.anthropic import client_json

SERVER = "c"
PREFIX = f"mcp__{SERVER}__"
MCP_CONFIG = client_json.dumps({"mcpServers": {SERVER: {"type": "sdk", "name": SERVER}}})
ALLOWED = f"mcp__{SERVER}"
MAX_RESULT_CHARS = 500_000  # above ~50 000 the CLI would replace a result with a file preview
SERVER_VERSION = "1.0.0"
MAX_TOOL_NAME = 128  # the Messages API's limit on a tool's name, the prefix included
_VISIBLE = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
ALIAS_READABLE = 96  # what an alias keeps of the name (then `_` and its hash)
ALIAS_HASH = 16


def alias(name: str) -> str:
    """The name the bridge lists the client's tool `name` under: the name itself when the model
    can see it as it is, else its readable start and a hash of the whole name."""
    if _VISIBLE.fullmatch(name) and len(PREFIX) + len(name) <= MAX_TOOL_NAME:
        return name
    digest = hashlib.sha256(name.encode(errors="surrogatepass")).hexdigest()[:ALIAS_HASH]
    return f"{_UNSAFE.sub('_', name[:ALIAS_READABLE])}_{digest}"


def model_name(name: str) -> str:
    """The client's tool `name` as the model sees it (and calls it)."""
    return PREFIX + alias(name)


def client_names(names: Iterable[str]) -> dict[str, str]:
    """alias -> the client's name, for the tools listed under an alias."""
    return {alias(name): name for name in names if alias(name) != name}


@dataclass(frozen=True)
class ToolDef:
    """One client tool as the bridge serves it (its schema as the client's JSON text)."""

    name: str
    description: str
    parameters_json: str

    def listing(self) -> dict[str, Any]:
        schema = client_json.loads(self.parameters_json) if self.parameters_json else {}
        return {
            "name": alias(self.name),
            "description": self.description,
            "inputSchema": schema or {"type": "object", "properties": {}},
            "_meta": {"anthropic/maxResultSizeChars": MAX_RESULT_CHARS},
        }


@dataclass(frozen=True)
class ToolResult:
    tool_use_id: str
    content: str
    is_error: bool = False


@dataclass
class Call:
    """A `tools/call` the CLI waits on."""

    request_id: str  # the control request to answer
    rpc_id: Any
    tool_use_id: str


@dataclass
class Bridge:
    """One CLI process's bridge: its tools, the calls it waits on, results not yet asked for."""

    tools: tuple[ToolDef, ...]
    pending: dict[str, Call] = field(default_factory=dict)  # tool_use_id -> call
    results: dict[str, ToolResult] = field(default_factory=dict)
    calls_seen: int = 0
    listed: bool = False  # the CLI has asked for the tools: its handshake is done

    def handle(self, request_id: str, message: dict[str, Any]) -> list[str]:
        """An `mcp_message` from the CLI: the stdin lines that answer it now (none for a call
        whose result the client has not sent yet; it is then pending)."""
        method = message.get("method")
        rpc_id = message.get("id")
        if method == "tools/call":
            params = message.get("params") or {}
            meta = params.get("_meta") or {}
            tool_use_id = str(meta.get("claudecode/toolUseId", ""))
            self.calls_seen += 1
            call = Call(request_id, rpc_id, tool_use_id)
            result = self.results.pop(tool_use_id, None)
            if result is None:
                self.pending[tool_use_id] = call
                return []
            return [self._answer(call, result)]
        if method == "initialize":
            params = message.get("params") or {}
            reply = {
                "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": SERVER, "version": SERVER_VERSION},
            }
            return [control_response(request_id, _rpc(rpc_id, reply))]
        if method == "tools/list":
            self.listed = True
            reply = {"tools": [tool.listing() for tool in self.tools]}
            return [control_response(request_id, _rpc(rpc_id, reply))]
        if rpc_id is None:  # a notification; the CLI still waits for an answer to it
            return [control_response(request_id, _rpc(0, {}))]
        error = {"code": -32601, "message": f"method not found: {method}"}
        return [control_response(request_id, {"jsonrpc": "2.0", "id": rpc_id, "error": error})]

    def give(self, results: list[ToolResult]) -> list[str]:
        """The client's results: answers for the calls waiting now; the rest wait for theirs
        (the CLI asks for parallel calls one at a time)."""
        lines = []
        for result in results:
            call = self.pending.pop(result.tool_use_id, None)
            if call is None:
                self.results[result.tool_use_id] = result
            else:
                lines.append(self._answer(call, result))
        return lines

    @staticmethod
    def _answer(call: Call, result: ToolResult) -> str:
        reply: dict[str, Any] = {"content": [{"type": "text", "text": result.content}]}
        if result.is_error:
            reply["isError"] = True
        return control_response(call.request_id, _rpc(call.rpc_id, reply))


def mcp_message(obj: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(request id, JSON-RPC message) when `obj` is the CLI asking our MCP server something."""
    if obj.get("type") != "control_request":
        return None
    request = obj.get("request") or {}
    if request.get("subtype") != "mcp_message" or request.get("server_name") != SERVER:
        return None
    message = request.get("message")
    return (str(obj.get("request_id", "")), message) if isinstance(message, dict) else None


def control_response(request_id: str, rpc: dict[str, Any]) -> str:
    response = {"subtype": "success", "request_id": request_id, "response": {"mcp_response": rpc}}
    line = {"type": "control_response", "response": response}
    return client_json.dumps(line, ensure_ascii=False)


def _rpc(rpc_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "result": result}
