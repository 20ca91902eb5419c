"""Pure: what one CLI turn did, and the conversation its process holds afterwards.

The held conversation is the one the client will send back: the request's turns plus the
answer as the client saw it (its text, and the tool calls it was given). Comparing the next
request with it decides whether the process can simply go on (sessions.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.answer import Answer
from common.events import is_output
from protos import common_pb2 as pb
from workerd.anthropic.content import Turn, turn_of
from workerd.cli.bridge import model_name
from workerd.cli.invocation import CliInvocation
from workerd.errors import UnservableRequest


@dataclass
class TurnOutcome:
    """Whether its process may hold the conversation for the next request, and what it holds."""

    result_ok: bool = False
    failed: bool = False
    output_seen: bool = False
    awaiting: tuple[str, ...] = ()  # tool_use ids the process now waits on
    answer: Answer = field(default_factory=Answer)

    def observe(self, event: pb.Event) -> None:
        self.output_seen = self.output_seen or is_output(event)
        self.answer.observe(event)
        if event.WhichOneof("kind") == "error":
            self.failed = True

    def held(self, invocation: CliInvocation) -> list[Turn] | None:
        """The conversation the process now holds; None when it must not be continued: a
        failed, cut or structured turn (the CLI keeps a failed turn in its history:
        docs/claude-cli.md, "Errors and retries")."""
        if self.failed or invocation.structured or not (self.result_ok or self.awaiting):
            return None
        answer = self.answer.message(with_thinking=False)  # the CLI keeps its own thinking
        if answer is None:
            return None
        try:
            turn = turn_of(answer, model_name if invocation.signature_tools else None)
        except UnservableRequest:
            return None
        return [*invocation.turns, turn]
