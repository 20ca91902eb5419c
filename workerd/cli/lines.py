"""Pure: turns as the CLI takes them, as stream-json lines on stdin or records of a session file.

Prior turns are replayed as structured messages (docs/claude-cli.md, "Replaying history"): each
earlier user turn is written with `shouldQuery: false` and each assistant turn as an `assistant`
line, so the upstream sees real alternating messages, byte-stable from one request to the next.
The turns themselves (Anthropic content blocks) come from the codec, workerd/anthropic/.
"""

from __future__ import annotations

from typing import Any

from workerd.anthropic.client_json import dumps
from workerd.anthropic.content import Turn


def turn_lines(history: list[Turn], current: Turn) -> tuple[list[tuple[str, str]], str]:
    """Stdin lines for earlier turns (user lines silent) and the line the CLI answers."""
    lines = [
        ("user", user_line(turn, silent=True))
        if turn.role == "user"
        else ("assistant", assistant_line(turn, replay_id(n)))
        for n, turn in enumerate(history)
    ]
    return lines, user_line(current)


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
    return dumps(line, ensure_ascii=False)


def assistant_line(turn: Turn, message_id: str = "") -> str:
    message = assistant_message(turn, message_id)
    return dumps(
        {"type": "assistant", "message": message, "parent_tool_use_id": None}, ensure_ascii=False
    )
