"""Pure: what one CLI turn did, and the conversation its process holds afterwards.

The held conversation is the one the client will send back: the request's turns plus the
answer as the client saw it (its text, and the tool calls it was given). Comparing the next
request with it decides whether the process can simply go on (sessions.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.events import is_output
from protos import common_pb2 as pb
from workerd.cli.command import CliInvocation
from workerd.cli.prompt import ConversationError, Turn, turn_of


@dataclass
class TurnOutcome:
    """Whether its process may hold the conversation for the next request, and what it holds."""

    result_ok: bool = False
    failed: bool = False
    output_seen: bool = False
    awaiting: tuple[str, ...] = ()  # tool_use ids the process now waits on
    text: list[str] = field(default_factory=list)
    calls: dict[int, pb.ToolUseBlock] = field(default_factory=dict)

    def observe(self, event: pb.Event) -> None:
        kind = event.WhichOneof("kind")
        self.output_seen = self.output_seen or is_output(event)
        if kind == "text":
            self.text.append(event.text.text)
        elif kind == "tool_call":
            delta = event.tool_call
            call = self.calls.setdefault(delta.index, pb.ToolUseBlock())
            call.id = call.id or delta.id
            call.name = call.name or delta.name
            call.arguments_json += delta.arguments_delta
        elif kind == "error":
            self.failed = True

    def held(self, invocation: CliInvocation) -> list[Turn] | None:
        """The conversation the process now holds; None when it must not be continued: a
        failed, cut or structured turn (the CLI keeps a failed turn in its history:
        docs/claude-cli.md, "Errors and retries")."""
        if self.failed or invocation.structured or not (self.result_ok or self.awaiting):
            return None
        answer = pb.ChatMessage(role=pb.ROLE_ASSISTANT)
        reply = "".join(self.text)
        if reply:
            answer.content.add(text=reply)
        for index in sorted(self.calls):
            answer.content.add(tool_use=self.calls[index])
        if not answer.content:
            return None
        try:
            turn = turn_of(answer, real_tools=bool(invocation.signature_tools))
        except ConversationError:
            return None
        return [*invocation.turns, turn]
