"""Pure: turn a neutral ChatRequest into the CLI's argv, stdin lines and per-request env.

Prompts never go through argv (128 KiB per-argument limit, and argv is visible to every user):
the system prompt goes into a file, the conversation into stream-json lines on stdin.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from common import reasoning
from protos import common_pb2 as pb
from workerd.cli.bridge import ALLOWED, MCP_CONFIG, PREFIX, ToolDef
from workerd.cli.prompt import (
    ConversationError,
    Turn,
    assistant_line,
    conversation_turns,
    fit,
    replay_id,
    system_prompt,
    user_line,
)

MAX_SCHEMA_BYTES = 64 * 1024
TOOL_MAX_TURNS = 1000  # every client tool step is one more model call of the same CLI turn
_TOOL_CHOICES = {
    pb.TOOL_CHOICE_AUTO: {"type": "auto"},
    pb.TOOL_CHOICE_NONE: {"type": "none"},
    pb.TOOL_CHOICE_REQUIRED: {"type": "any"},
}
# The per-request settings the CLI reads from its environment; a running process takes new
# values through `apply_flag_settings` (docs/claude-cli.md, "What can change on a running
# process"), so they are not part of the spawn signature. "" clears a value.
SAMPLING_KEYS = (
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
    "CLAUDE_CODE_EXTRA_BODY",
    "CLAUDE_CODE_DISABLE_THINKING",
)
JSON_OBJECT_SCHEMA = {"type": "object"}


class UnsupportedRequest(Exception):
    """The request asks for something this mode cannot honour; the client gets a 400."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class AgentOptions:
    """How `agent` workers run the CLI's own tools."""

    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    max_turns: int = 30
    client_tools: bool = False
    """The client's function tools next to the agent's own (AGENT_CLIENT_TOOLS)."""


@dataclass(frozen=True)
class Signature:
    """Everything fixed when a CLI process starts; requests with equal signatures share one.

    The system prompt goes into a file per process (never argv), so `argv` takes its path.
    """

    bin_path: str
    mode: str  # cli or agent
    model: str
    flags: tuple[str, ...]
    system_flag: str  # --system-prompt-file (cli) or --append-system-prompt-file (agent)
    system_prompt: str
    tools_allowed: bool = False
    structured: bool = False
    client_tools: tuple[ToolDef, ...] = ()
    """The client's function tools, served to the process by the MCP bridge."""

    def argv(self, system_file: str) -> list[str]:
        return [self.bin_path, *self.flags, self.system_flag, system_file]

    @cached_property
    def key(self) -> str:
        """A short, stable id: equal signatures have equal keys (shown on /zombies, in events)."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class CliInvocation:
    """Everything needed to start one CLI run and feed it."""

    argv: list[str]
    system_prompt: str
    history: list[tuple[str, str]]  # ("user", silent line) / ("assistant", line), in order
    final_line: str
    env: dict[str, str] = field(default_factory=dict)
    tools_allowed: bool = False
    structured: bool = False
    signature: Signature | None = None
    turns: list[Turn] = field(default_factory=list)
    """The whole conversation as the client sent it (before the budget cut)."""
    history_turns: list[Turn] = field(default_factory=list)
    """The earlier turns a new process is given (after the budget cut), as `history` says."""

    @property
    def signature_tools(self) -> tuple[ToolDef, ...]:
        return self.signature.client_tools if self.signature else ()


def build_invocation(
    bin_path: str,
    request: pb.ChatRequest,
    system_file: str,
    *,
    agent: AgentOptions | None,
    max_prompt_chars: int,
) -> CliInvocation:
    """`cli` mode when `agent` is None (plain chat), else `agent` mode; the client's tools
    reach the model over the MCP bridge."""
    tools = client_tools(request, agent)
    try:
        turns = conversation_turns(list(request.messages), real_tools=bool(tools))
    except ConversationError as exc:
        raise UnsupportedRequest(str(exc), "messages") from None
    schema = _schema(request)
    flags = _common_flags(request.model) + effort_flags(request)
    flags += _agent_flags(agent) if agent else _chat_flags(schema is not None, bool(tools))
    if tools:
        flags += ["--mcp-config", MCP_CONFIG]
        flags += [] if agent else ["--allowedTools", ALLOWED]
    if schema is not None:
        flags += ["--json-schema", schema]
    env = sampling_env(request)
    env.update(tool_choice_env(request, tools, env))
    signature = Signature(
        bin_path=bin_path,
        mode="agent" if agent else "cli",
        model=request.model,
        flags=tuple(flags),
        system_flag="--append-system-prompt-file" if agent else "--system-prompt-file",
        system_prompt=system_prompt(list(request.messages)),
        tools_allowed=agent is not None,
        structured=schema is not None,
        client_tools=tools,
    )
    conversation = fit(turns, max_prompt_chars)
    history, final_line = turn_lines(conversation.history, conversation.current)
    return CliInvocation(
        argv=signature.argv(system_file),
        system_prompt=signature.system_prompt,
        history=history,
        final_line=final_line,
        env=env,
        tools_allowed=signature.tools_allowed,
        structured=signature.structured,
        signature=signature,
        turns=turns,
        history_turns=conversation.history,
    )


def turn_lines(history: list[Turn], current: Turn) -> tuple[list[tuple[str, str]], str]:
    """Stdin lines for earlier turns (user lines silent) and the line the CLI answers."""
    lines = [
        ("user", user_line(turn, silent=True))
        if turn.role == "user"
        else ("assistant", assistant_line(turn, replay_id(n)))
        for n, turn in enumerate(history)
    ]
    return lines, user_line(current)


def _common_flags(model: str) -> list[str]:
    return [
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
        "--setting-sources",
        "",
        "--disable-slash-commands",
        "--strict-mcp-config",
        "--no-session-persistence",
        "--model",
        model,
    ]


def effort_flags(request: pb.ChatRequest) -> list[str]:
    """`--effort <level>` for a reasoning level (part of the spawn signature); none is
    CLAUDE_CODE_DISABLE_THINKING (sampling_env), no effort the CLI's default (adaptive)."""
    effort = request.reasoning_effort
    if effort and effort not in reasoning.EFFORTS:
        raise UnsupportedRequest(f"unknown reasoning effort {effort!r}", "reasoning_effort")
    return ["--effort", effort] if reasoning.thinks(effort) else []


def _chat_flags(structured: bool, tools: bool) -> list[str]:
    # The client's system prompt replaces Claude Code's; a schema needs a second turn for its tool.
    turns = TOOL_MAX_TURNS if tools else 2 if structured else 1
    return ["--tools", "", "--max-turns", str(turns)]


def _agent_flags(agent: AgentOptions) -> list[str]:
    # Claude Code's own prompt stays (its tools need it); the client's is appended to it.
    flags = ["--permission-mode", "bypassPermissions", "--max-turns", str(agent.max_turns)]
    if agent.allowed_tools:
        flags += ["--allowedTools", ",".join(agent.allowed_tools)]
    if agent.disallowed_tools:
        flags += ["--disallowedTools", ",".join(agent.disallowed_tools)]
    return flags


def client_tools(request: pb.ChatRequest, agent: AgentOptions | None) -> tuple[ToolDef, ...]:
    """The client's function tools, in its order, as the bridge serves them."""
    if not request.tools:
        if request.tool_choice.mode in (pb.TOOL_CHOICE_REQUIRED, pb.TOOL_CHOICE_NAMED):
            raise UnsupportedRequest("tool_choice needs tools", "tool_choice")
        return ()
    if agent is not None and not agent.client_tools:
        raise UnsupportedRequest(
            "this worker is an agent with tools of its own; client tools need "
            "AGENT_CLIENT_TOOLS=true (or a cli or api worker)",
            "tools",
        )
    if request.response_format != pb.RESPONSE_FORMAT_TEXT:
        raise UnsupportedRequest(
            "response_format json_object/json_schema cannot be combined with tools",
            "response_format",
        )
    names = [tool.name for tool in request.tools]
    if len(set(names)) != len(names):
        raise UnsupportedRequest("tool names must be unique", "tools")
    return tuple(ToolDef(t.name, t.description, t.parameters_json) for t in request.tools)


def tool_choice_env(
    request: pb.ChatRequest, tools: tuple[ToolDef, ...], env: dict[str, str]
) -> dict[str, str]:
    """tool_choice and parallel_tool_calls, sent upstream through CLAUDE_CODE_EXTRA_BODY."""
    if not tools:
        return {}
    choice = request.tool_choice
    body: dict[str, Any] | None = None
    if choice.mode == pb.TOOL_CHOICE_NAMED:
        if choice.name not in {tool.name for tool in tools}:
            raise UnsupportedRequest(
                f"tool_choice names {choice.name!r}, which is not in tools", "tool_choice"
            )
        body = {"type": "tool", "name": PREFIX + choice.name}
    elif choice.mode in _TOOL_CHOICES:
        body = dict(_TOOL_CHOICES[choice.mode])
    if request.HasField("parallel_tool_calls") and not request.parallel_tool_calls:
        body = {**(body or {"type": "auto"}), "disable_parallel_tool_use": True}
    if body is None:
        return {}
    extra = json.loads(env.get("CLAUDE_CODE_EXTRA_BODY", "{}"))
    out = {"CLAUDE_CODE_EXTRA_BODY": json.dumps({**extra, "tool_choice": body})}
    if body["type"] in ("any", "tool"):
        out["CLAUDE_CODE_DISABLE_THINKING"] = "1"  # a forced tool call refuses thinking
    return out


def _schema(request: pb.ChatRequest) -> str | None:
    if request.response_format == pb.RESPONSE_FORMAT_JSON_OBJECT:
        return json.dumps(JSON_OBJECT_SCHEMA)
    if request.response_format != pb.RESPONSE_FORMAT_JSON_SCHEMA:
        return None
    if len(request.json_schema.encode()) > MAX_SCHEMA_BYTES:
        raise UnsupportedRequest(
            f"json_schema is larger than {MAX_SCHEMA_BYTES} bytes", "response_format"
        )
    return request.json_schema


def settings_request(env: dict[str, str]) -> dict[str, Any]:
    """The control request that gives a running process these sampling settings (and clears
    the ones not given: a value set earlier stays otherwise)."""
    values = {key: env.get(key, "") for key in SAMPLING_KEYS}
    return {"subtype": "apply_flag_settings", "settings": {"env": values}}


def sampling_env(request: pb.ChatRequest) -> dict[str, str]:
    """Request-level knobs the CLI takes from its environment (docs/claude-cli.md)."""
    env: dict[str, str] = {}
    if request.HasField("max_tokens"):
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(request.max_tokens)
    extra: dict[str, Any] = {}
    if request.HasField("temperature"):
        extra["temperature"] = round(request.temperature, 4)
    if request.HasField("top_p"):
        extra["top_p"] = round(request.top_p, 4)
    if request.stop:
        extra["stop_sequences"] = list(request.stop)
    if extra:
        env["CLAUDE_CODE_EXTRA_BODY"] = json.dumps(extra)
    if "temperature" in extra or "top_p" in extra:
        env["CLAUDE_CODE_DISABLE_THINKING"] = "1"  # sampling settings are refused with thinking on
    if request.reasoning_effort == reasoning.NONE:
        env["CLAUDE_CODE_DISABLE_THINKING"] = "1"
    return env
