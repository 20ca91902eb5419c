"""Pure: a neutral ChatRequest as one CLI run: its argv, settings, env and stdin lines, in one pass.

`build_invocation` reads top to bottom: what the run may do (the client's tools, a schema), the
conversation as Anthropic turns (the codec, workerd/anthropic/), the spawn signature (argv
flags, system prompt), the per-request settings the CLI takes from its environment, then the
turns that fit the prompt budget as stdin lines (lines.py). Whatever the CLI cannot honour is
an UnservableRequest naming the field.

Prompts never go through argv (128 KiB per-argument limit, and argv is visible to every user):
the system prompt goes into a file, the conversation into stream-json lines on stdin. When the
conversation exceeds the budget, the oldest turns go first; the newest user turn always stays
and a marker says where history was cut. The system prompt is not counted: it always stays.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from common import reasoning
from protos import common_pb2 as pb
from workerd.anthropic import client_json
from workerd.anthropic.content import (
    CONTINUATION,
    Turn,
    conversation_turns,
    schema_object,
    system_prompt,
    text_block,
    tool_choice,
)
from workerd.cli.bridge import ALLOWED, MCP_CONFIG, ToolDef, alias, model_name
from workerd.cli.lines import turn_lines
from workerd.errors import UnservableRequest

MAX_SCHEMA_BYTES = 64 * 1024
TOOL_MAX_TURNS = 1000  # every client tool step is one more model call of the same CLI turn
# The per-request settings the CLI reads from its environment; a running process takes new
# values through `apply_flag_settings` (docs/claude-cli.md, "What can change on a running
# process"), so they are not part of the spawn signature. "" clears a value.
SAMPLING_KEYS = (
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
    "CLAUDE_CODE_EXTRA_BODY",
    "CLAUDE_CODE_DISABLE_THINKING",
)
JSON_OBJECT_SCHEMA = {"type": "object"}
TRUNCATION_MARKER = "[... {count} earlier messages were truncated to fit the context budget ...]"


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
    key: str = field(init=False, repr=False, compare=False)
    """A short, stable id: equal signatures have equal keys (shown on /zombies, in events)."""

    def __post_init__(self) -> None:
        # Worked out once, as the signature is built: the pool asks for it on every request.
        object.__setattr__(self, "key", hashlib.sha256(repr(self).encode()).hexdigest()[:12])

    def argv(self, system_file: str) -> list[str]:
        return [self.bin_path, *self.flags, self.system_flag, system_file]


@dataclass(frozen=True)
class CliInvocation:
    """Everything needed to start one CLI run and feed it."""

    signature: Signature
    argv: list[str]
    history: list[tuple[str, str]]  # ("user", silent line) / ("assistant", line), in order
    final_line: str
    env: dict[str, str] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    """The whole conversation as the client sent it (before the budget cut)."""
    history_turns: list[Turn] = field(default_factory=list)
    """The earlier turns a new process is given (after the budget cut), as `history` says."""
    within_budget: bool = True
    """The whole conversation fits the prompt budget (a live process may simply go on)."""

    @property
    def system_prompt(self) -> str:
        return self.signature.system_prompt

    @property
    def tools_allowed(self) -> bool:
        return self.signature.tools_allowed

    @property
    def structured(self) -> bool:
        return self.signature.structured

    @property
    def signature_tools(self) -> tuple[ToolDef, ...]:
        return self.signature.client_tools


@dataclass(frozen=True)
class RenderedConversation:
    history: list[Turn]  # alternating, starting with a user turn
    current: Turn  # the user turn the CLI answers
    dropped: int
    within_budget: bool = True  # the whole conversation fits (nothing had to be cut)


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
    turns = conversation_turns(list(request.messages), model_name if tools else None)
    system = system_prompt(list(request.messages))
    schema = _schema(request)
    signature = Signature(
        bin_path=bin_path,
        mode="agent" if agent else "cli",
        model=request.model,
        flags=tuple(_flags(request, agent, schema, bool(tools))),
        system_flag="--append-system-prompt-file" if agent else "--system-prompt-file",
        system_prompt=system,
        tools_allowed=agent is not None,
        structured=schema is not None,
        client_tools=tools,
    )
    argv, env = signature.argv(system_file), request_env(request, tools)
    conversation = fit(turns, max_prompt_chars)
    history, final_line = turn_lines(conversation.history, conversation.current)
    return CliInvocation(
        signature=signature,
        argv=argv,
        history=history,
        final_line=final_line,
        env=env,
        turns=turns,
        history_turns=conversation.history,
        within_budget=conversation.within_budget,
    )


# --- what the run may do ---------------------------------------------------------------------


def client_tools(request: pb.ChatRequest, agent: AgentOptions | None) -> tuple[ToolDef, ...]:
    """The client's function tools, in its order, as the bridge serves them."""
    if not request.tools:
        tool_choice(request, ())  # refuses a choice that needs tools
        return ()
    if agent is not None and not agent.client_tools:
        raise UnservableRequest(
            "this worker is an agent with tools of its own; client tools need "
            "AGENT_CLIENT_TOOLS=true (or a cli or api worker)",
            "tools",
        )
    if request.response_format != pb.RESPONSE_FORMAT_TEXT:
        raise UnservableRequest(
            "response_format json_object/json_schema cannot be combined with tools",
            "response_format",
        )
    names = [tool.name for tool in request.tools]
    # Aliases too: the model must never see two tools under one name.
    if len(set(names)) != len(names) or len({alias(name) for name in names}) != len(names):
        raise UnservableRequest("tool names must be unique", "tools")
    for index, tool in enumerate(request.tools):
        _check_schema(tool.parameters_json, f"tools[{index}].function.parameters")
    return tuple(ToolDef(t.name, t.description, t.parameters_json) for t in request.tools)


def _check_schema(raw: str, param: str) -> None:
    """A tool's schema the bridge can list (it is read again when the CLI asks for it)."""
    schema_object(raw, param)


def _schema(request: pb.ChatRequest) -> str | None:
    if request.response_format == pb.RESPONSE_FORMAT_JSON_OBJECT:
        return json.dumps(JSON_OBJECT_SCHEMA)
    if request.response_format != pb.RESPONSE_FORMAT_JSON_SCHEMA:
        return None
    if len(request.json_schema.encode()) > MAX_SCHEMA_BYTES:
        raise UnservableRequest(
            f"json_schema is larger than {MAX_SCHEMA_BYTES} bytes", "response_format"
        )
    return request.json_schema


# --- the spawn signature's flags -------------------------------------------------------------


def _flags(
    request: pb.ChatRequest, agent: AgentOptions | None, schema: str | None, tools: bool
) -> list[str]:
    flags = _common_flags(request.model) + effort_flags(request)
    flags += _agent_flags(agent) if agent else _chat_flags(schema is not None, tools)
    if tools:
        flags += ["--mcp-config", MCP_CONFIG]
        flags += [] if agent else ["--allowedTools", ALLOWED]
    if schema is not None:
        flags += ["--json-schema", schema]
    return flags


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
        raise UnservableRequest(f"unknown reasoning effort {effort!r}", "reasoning_effort")
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


# --- the per-request settings ----------------------------------------------------------------


def request_env(request: pb.ChatRequest, tools: tuple[ToolDef, ...]) -> dict[str, str]:
    """The settings the CLI takes from its environment for this request (not part of the
    spawn signature: a running process is given them with `settings_request`)."""
    env = sampling_env(request)
    env.update(tool_choice_env(request, tools, env))
    return env


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
        env["CLAUDE_CODE_EXTRA_BODY"] = client_json.dumps(extra)
    if "temperature" in extra or "top_p" in extra:
        env["CLAUDE_CODE_DISABLE_THINKING"] = "1"  # sampling settings are refused with thinking on
    if request.reasoning_effort == reasoning.NONE:
        env["CLAUDE_CODE_DISABLE_THINKING"] = "1"
    return env


def tool_choice_env(
    request: pb.ChatRequest, tools: tuple[ToolDef, ...], env: dict[str, str]
) -> dict[str, str]:
    """tool_choice and parallel_tool_calls, sent upstream through CLAUDE_CODE_EXTRA_BODY."""
    if not tools:
        return {}
    body = tool_choice(request, {tool.name for tool in tools}, model_name)
    if body is None:
        return {}
    extra = json.loads(env.get("CLAUDE_CODE_EXTRA_BODY", "{}"))
    out = {"CLAUDE_CODE_EXTRA_BODY": json.dumps({**extra, "tool_choice": body})}
    if body["type"] in ("any", "tool"):
        out["CLAUDE_CODE_DISABLE_THINKING"] = "1"  # a forced tool call refuses thinking
    return out


def settings_request(env: dict[str, str]) -> dict[str, Any]:
    """The control request that gives a running process these sampling settings (and clears
    the ones not given: a value set earlier stays otherwise)."""
    values = {key: env.get(key, "") for key in SAMPLING_KEYS}
    return {"subtype": "apply_flag_settings", "settings": {"env": values}}


# --- the prompt budget -----------------------------------------------------------------------


_PLACEHOLDER = [text_block(CONTINUATION)]  # the first turn of a conversation the client began


def fit(turns: list[Turn], budget_chars: int) -> RenderedConversation:
    """The newest turns within the budget; a marker says how many earlier ones were cut.

    The kept turns are the conversation's own (no copy of a long history): only the first,
    which takes the marker, is a new one, so `turns` stay as the client sent them."""
    sizes = [_chars(turn) for turn in turns]
    kept, dropped = _fit(turns, sizes, budget_chars)
    dropped -= int(turns[0].blocks == _PLACEHOLDER and dropped > 0)  # not a client message
    if dropped:
        marker = text_block(TRUNCATION_MARKER.format(count=dropped))
        kept[0] = Turn(kept[0].role, [marker, *kept[0].blocks])
    return RenderedConversation(kept[:-1], kept[-1], dropped, sum(sizes) <= budget_chars)


def render(messages: list[pb.ChatMessage], budget_chars: int) -> RenderedConversation:
    """A conversation of plain chat (no client tools) within the budget."""
    return fit(conversation_turns(messages), budget_chars)


def _fit(turns: list[Turn], sizes: list[int], budget: int) -> tuple[list[Turn], int]:
    """Keep the newest turns that fit (the last one always); history starts on a user turn."""
    start, used = len(turns) - 1, sizes[-1]
    while start > 0 and used + sizes[start - 1] <= budget:
        start -= 1
        used += sizes[start]
    while turns[start].role != "user":
        start += 1
    return turns[start:], start


def _chars(turn: Turn) -> int:
    """What a turn counts against the budget: its text and image data."""
    return sum(
        len(b.get("text", "")) + len(b.get("source", {}).get("data", "")) for b in turn.blocks
    )
