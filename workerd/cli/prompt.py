"""Pure: render an OpenAI-style conversation as the CLI's stream-json turns, within a budget.

Prior turns are replayed as structured messages (docs/claude-cli.md, "Replaying history"): each
earlier user turn is written with `shouldQuery: false` and each assistant turn as an `assistant`
line, so the upstream sees real alternating messages, byte-stable from one request to the next.
Tool calls and results of earlier turns are rendered as labelled text inside their messages.
When the conversation exceeds the budget, the oldest turns go first; the newest user turn always
stays and a marker says where history was cut. The system prompt is not counted: it always
stays.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from protos import common_pb2 as pb
from workerd.cli.bridge import PREFIX

TRUNCATION_MARKER = "[... {count} earlier messages were truncated to fit the context budget ...]"
CONTINUATION = "(the conversation so far)"


class ConversationError(Exception):
    """The conversation cannot be rendered for the CLI; the client gets a 400."""


@dataclass
class Turn:
    """One user or assistant message as Anthropic content blocks."""

    role: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def chars(self) -> int:
        return sum(
            len(b.get("text", "")) + len(b.get("source", {}).get("data", "")) for b in self.blocks
        )


@dataclass(frozen=True)
class RenderedConversation:
    history: list[Turn]  # alternating, starting with a user turn
    current: Turn  # the user turn the CLI answers
    dropped: int


def render(messages: list[pb.ChatMessage], budget_chars: int) -> RenderedConversation:
    return fit(conversation_turns(messages), budget_chars)


def conversation_turns(messages: list[pb.ChatMessage], real_tools: bool = False) -> list[Turn]:
    """The whole conversation as alternating turns, ending on the user turn to answer.

    With `real_tools` (the request has tools, served over the MCP bridge) earlier tool calls
    and results are real `tool_use` / `tool_result` blocks; without, labelled text.
    """
    turns = _merge([turn_of(m, real_tools) for m in messages if m.role != pb.ROLE_SYSTEM])
    if not turns or turns[-1].role != "user":
        raise ConversationError("the last message must be a user or tool message")
    if turns[0].role == "assistant":
        turns.insert(0, Turn("user", [_text(CONTINUATION)]))
    return turns


def fits(turns: list[Turn], budget_chars: int) -> bool:
    return sum(turn.chars() for turn in turns) <= budget_chars


def fit(turns: list[Turn], budget_chars: int) -> RenderedConversation:
    """The newest turns within the budget; a marker says how many earlier ones were cut."""
    placeholder = turns[0].blocks == [_text(CONTINUATION)]
    kept, dropped = _fit([Turn(t.role, list(t.blocks)) for t in turns], budget_chars)
    dropped -= int(placeholder and dropped > 0)  # the placeholder is not a client message
    if dropped:
        kept[0].blocks.insert(0, _text(TRUNCATION_MARKER.format(count=dropped)))
    return RenderedConversation(kept[:-1], kept[-1], dropped)


def system_prompt(messages: list[pb.ChatMessage]) -> str:
    parts = [
        "\n".join(_block_text(b) for b in m.content) for m in messages if m.role == pb.ROLE_SYSTEM
    ]
    return "\n\n".join(p for p in parts if p)


def _fit(turns: list[Turn], budget: int) -> tuple[list[Turn], int]:
    """Keep the newest turns that fit (the last one always); history starts on a user turn."""
    kept = [turns[-1]]
    used = turns[-1].chars()
    for turn in reversed(turns[:-1]):
        if used + turn.chars() > budget:
            break
        kept.insert(0, turn)
        used += turn.chars()
    while kept[0].role != "user":
        kept.pop(0)
    return kept, len(turns) - len(kept)


def _merge(turns: list[Turn]) -> list[Turn]:
    merged: list[Turn] = []
    for turn in turns:
        if not turn.blocks:
            continue
        if merged and merged[-1].role == turn.role:
            merged[-1].blocks.extend(turn.blocks)
        else:
            merged.append(turn)
    return merged


def turn_of(message: pb.ChatMessage, real_tools: bool = False) -> Turn:
    role = "assistant" if message.role == pb.ROLE_ASSISTANT else "user"
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        if real_tools and block.WhichOneof("kind") in ("tool_use", "tool_result"):
            blocks.append(_tool_block(block))
        elif block.HasField("image"):
            if block.image.url:
                raise ConversationError(
                    "remote image URLs are not fetched by this deployment; send the image's "
                    "bytes inline (or set FETCH_REMOTE_IMAGES=true on the proxy)"
                )
            data = base64.b64encode(block.image.data).decode()
            source = {"type": "base64", "media_type": block.image.media_type, "data": data}
            blocks.append({"type": "image", "source": source})
        elif text := _block_text(block):
            blocks.append(_text(text))
    return Turn(role, blocks)


def _tool_block(block: pb.ContentBlock) -> dict[str, Any]:
    """A real tool block, the tool named as the model sees it over the bridge."""
    if block.HasField("tool_use"):
        use = block.tool_use
        try:
            arguments = json.loads(use.arguments_json or "{}")
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            raise ConversationError(f"the arguments of tool call {use.id} are not a JSON object")
        return {"type": "tool_use", "id": use.id, "name": PREFIX + use.name, "input": arguments}
    result = block.tool_result
    # As the CLI sends a result the bridge gave it: text blocks, or a string for an error;
    # so a rebuilt conversation reaches the model in the same bytes as a continued one.
    content: Any = result.content
    if not result.is_error:
        content = [{"type": "text", "text": result.content}]
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": result.tool_use_id}
    out["content"] = content
    if result.is_error:
        out["is_error"] = True
    return out


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _block_text(block: pb.ContentBlock) -> str:
    kind = block.WhichOneof("kind")
    if kind == "text":
        return block.text
    if kind == "tool_use":
        use = block.tool_use
        return f"[called tool {use.name} (id {use.id}) with {use.arguments_json}]"
    if kind == "tool_result":
        outcome = "failed" if block.tool_result.is_error else "returned"
        return f"[tool call {block.tool_result.tool_use_id} {outcome}: {block.tool_result.content}]"
    return ""


def user_message(turn: Turn) -> dict[str, Any]:
    """A user turn as the CLI takes it: one text block as a plain string."""
    content: Any = turn.blocks
    if len(turn.blocks) == 1 and turn.blocks[0]["type"] == "text":
        content = turn.blocks[0]["text"]
    return {"role": "user", "content": content}


def assistant_message(turn: Turn, message_id: str = "") -> dict[str, Any]:
    # Replayed assistant turns need ids of their own, or the CLI merges those that are
    # separated only by tool results (docs/claude-cli.md, "Client tools over MCP").
    message: dict[str, Any] = {"role": "assistant", "content": turn.blocks}
    return {"id": message_id, **message} if message_id else message


def replay_id(n: int) -> str:
    """The message id of earlier turn `n` of a rebuilt conversation."""
    return f"msg_replay_{n}"


def replay_message(turn: Turn, n: int) -> dict[str, Any]:
    """Earlier turn `n` of a rebuilt conversation, as the CLI is given it (over stdin or in a
    session file)."""
    if turn.role == "user":
        return user_message(turn)
    return assistant_message(turn, replay_id(n))


def user_line(turn: Turn, silent: bool = False) -> str:
    line: dict[str, Any] = {"type": "user", "message": user_message(turn)}
    line["parent_tool_use_id"] = None
    if silent:
        line["shouldQuery"] = False  # appended to history without calling the model
    return json.dumps(line, ensure_ascii=False)


def assistant_line(turn: Turn, message_id: str = "") -> str:
    message = assistant_message(turn, message_id)
    return json.dumps(
        {"type": "assistant", "message": message, "parent_tool_use_id": None}, ensure_ascii=False
    )
