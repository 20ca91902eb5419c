"""Pure: the assistant message one call's events add to its conversation.

Thinking blocks (with the signatures a continuation needs) first, then the text, then the tool
calls in their order: the order Anthropic requires of an assistant turn, and the form a CLI
worker's held conversation takes (workerd/cli/outcome.py), so a stored conversation sent back
compares equal to what a live process holds.
"""

from __future__ import annotations

from protos import common_pb2 as pb


class Answer:
    """Folds the events of one call into the assistant message."""

    def __init__(self) -> None:
        self.thinking: list[pb.ThinkingBlock] = []
        self.text: list[str] = []
        self.calls: dict[int, pb.ToolUseBlock] = {}

    def observe(self, event: pb.Event) -> None:
        kind = event.WhichOneof("kind")
        if kind == "text":
            self.text.append(event.text.text)
        elif kind == "thinking":
            self._think(event.thinking)
        elif kind == "tool_call":
            delta = event.tool_call
            call = self.calls.setdefault(delta.index, pb.ToolUseBlock())
            call.id = call.id or delta.id
            call.name = call.name or delta.name
            call.arguments_json += delta.arguments_delta

    def _think(self, delta: pb.ThinkingDelta) -> None:
        """Text, then its signature, make one block; text after a signature starts the next;
        redacted thinking is a block of its own."""
        if delta.redacted:
            self.thinking.append(pb.ThinkingBlock(redacted=delta.redacted))
            return
        last = self.thinking[-1] if self.thinking else None
        if last is None or last.redacted or (last.signature and delta.text):
            last = pb.ThinkingBlock()
            self.thinking.append(last)
        last.text += delta.text
        last.signature += delta.signature

    def message(self, with_thinking: bool = True) -> pb.ChatMessage | None:
        """The assistant message, or None when the call said nothing."""
        out = pb.ChatMessage(role=pb.ROLE_ASSISTANT)
        if with_thinking:
            for block in self.thinking:
                out.content.add(thinking=block)
        if reply := "".join(self.text):
            out.content.add(text=reply)
        for index in sorted(self.calls):
            out.content.add(tool_use=self.calls[index])
        return out if out.content else None
