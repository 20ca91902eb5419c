"""Pure: turn a neutral ChatRequest into the CLI's argv, stdin lines and per-request env.

Prompts never go through argv (128 KiB per-argument limit, and argv is visible to every user):
the system prompt goes into a file, the conversation into stream-json lines on stdin.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from protos import common_pb2 as pb

HISTORY_OPEN = "<conversation_history>"
HISTORY_CLOSE = "</conversation_history>"
_SPEAKERS = {pb.ROLE_USER: "User", pb.ROLE_ASSISTANT: "Assistant", pb.ROLE_TOOL: "Tool result"}


class UnsupportedRequest(Exception):
    """The request asks for something this mode cannot honour; the client gets a 400."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class CliInvocation:
    """Everything needed to start one CLI run."""

    argv: list[str]
    system_prompt: str
    stdin_lines: list[str]
    env: dict[str, str] = field(default_factory=dict)


def build_chat_invocation(
    bin_path: str, request: pb.ChatRequest, system_file: str
) -> CliInvocation:
    """Plain chat (`cli` mode): no tools, one turn, no settings, no session files."""
    _reject_unsupported(request)
    argv = [
        bin_path,
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
        "--tools",
        "",
        "--setting-sources",
        "",
        "--disable-slash-commands",
        "--strict-mcp-config",
        "--no-session-persistence",
        "--max-turns",
        "1",
        "--model",
        request.model,
        "--system-prompt-file",
        system_file,
    ]
    return CliInvocation(
        argv=argv,
        system_prompt=system_prompt(request),
        stdin_lines=[user_line(conversation_blocks(request))],
        env=sampling_env(request),
    )


def _reject_unsupported(request: pb.ChatRequest) -> None:
    if request.tools:
        raise UnsupportedRequest(
            "tools need a worker in api mode; cli workers cannot call tools", "tools"
        )
    if request.response_format != pb.RESPONSE_FORMAT_TEXT:
        raise UnsupportedRequest(
            "response_format is not supported by cli workers yet", "response_format"
        )
    for message in request.messages:
        for block in message.content:
            if block.HasField("image") and block.image.url:
                raise UnsupportedRequest(
                    "remote image URLs are not fetched; send the image as a data: URL", "messages"
                )


def system_prompt(request: pb.ChatRequest) -> str:
    parts = [_text_of(m) for m in request.messages if m.role == pb.ROLE_SYSTEM]
    return "\n\n".join(part for part in parts if part)


def sampling_env(request: pb.ChatRequest) -> dict[str, str]:
    """Request-level knobs the CLI takes from its environment (cli-protocol.md 5.1)."""
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
        env["CLAUDE_CODE_DISABLE_THINKING"] = "1"  # sampling settings are refused with thinking on
    return env


def conversation_blocks(request: pb.ChatRequest) -> list[dict[str, Any]]:
    """The newest user turn as content blocks, earlier turns rendered as a quoted transcript."""
    turns = [m for m in request.messages if m.role != pb.ROLE_SYSTEM]
    last_user = max((i for i, m in enumerate(turns) if m.role == pb.ROLE_USER), default=-1)
    if last_user < 0:
        raise UnsupportedRequest("the conversation has no user message", "messages")
    history, current = turns[:last_user], turns[last_user:]
    blocks: list[dict[str, Any]] = []
    if history:
        transcript = "\n\n".join(f"{_SPEAKERS.get(m.role, 'User')}: {_text_of(m)}" for m in history)
        blocks.append({"type": "text", "text": f"{HISTORY_OPEN}\n{transcript}\n{HISTORY_CLOSE}"})
    for message in current:
        blocks.extend(_blocks_of(message))
    return blocks


def user_line(blocks: list[dict[str, Any]]) -> str:
    content: Any = blocks[0]["text"] if len(blocks) == 1 and blocks[0]["type"] == "text" else blocks
    message = {
        "type": "user",
        "message": {"role": "user", "content": content},
        "parent_tool_use_id": None,
    }
    return json.dumps(message, ensure_ascii=False)


def _blocks_of(message: pb.ChatMessage) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        kind = block.WhichOneof("kind")
        if kind == "text" and block.text:
            blocks.append({"type": "text", "text": block.text})
        elif kind == "image":
            data = base64.b64encode(block.image.data).decode()
            source = {"type": "base64", "media_type": block.image.media_type, "data": data}
            blocks.append({"type": "image", "source": source})
        elif kind in ("tool_use", "tool_result"):
            blocks.append({"type": "text", "text": _block_text(block)})
    return blocks


def _text_of(message: pb.ChatMessage) -> str:
    return "\n".join(_block_text(block) for block in message.content)


def _block_text(block: pb.ContentBlock) -> str:
    kind = block.WhichOneof("kind")
    if kind == "text":
        return block.text
    if kind == "image":
        return "[image]"
    if kind == "tool_use":
        return f"[called tool {block.tool_use.name} with {block.tool_use.arguments_json}]"
    if kind == "tool_result":
        return f"[tool {block.tool_result.tool_use_id} returned: {block.tool_result.content}]"
    return ""
