"""workerd/cli/outcome.py: what a turn leaves its process holding, as the client will send it."""

from __future__ import annotations

from protos import common_pb2 as pb
from workerd.anthropic.content import Turn
from workerd.cli.invocation import CliInvocation, build_invocation
from workerd.cli.outcome import TurnOutcome


def invocation(tools: bool) -> CliInvocation:
    request = pb.ChatRequest(request_id="r", model="sonnet")
    request.messages.add(role=pb.ROLE_USER).content.add(text="weather?")
    if tools:
        request.tools.add(name="get_weather", parameters_json="{}")
    return build_invocation("/bin/claude", request, "", agent=None, max_prompt_chars=10_000)


def events(outcome: TurnOutcome, *items: pb.Event) -> None:
    for event in items:
        outcome.observe(event)


def call_delta(index: int, id: str = "", name: str = "", args: str = "") -> pb.Event:
    delta = pb.ToolCallDelta(index=index, id=id, name=name, arguments_delta=args)
    return pb.Event(tool_call=delta)


def test_a_text_answer_is_held_as_the_assistant_turn() -> None:
    outcome = TurnOutcome(result_ok=True)
    events(
        outcome,
        pb.Event(text=pb.TextDelta(text="It is ")),
        pb.Event(text=pb.TextDelta(text="sunny")),
    )
    held = outcome.held(invocation(tools=False))
    assert held is not None
    assert held[-1] == Turn("assistant", [{"type": "text", "text": "It is sunny"}])


def test_calls_out_are_held_as_real_tool_blocks_in_call_order() -> None:
    outcome = TurnOutcome(awaiting=("t1", "t2"))
    events(
        outcome,
        pb.Event(text=pb.TextDelta(text="Checking.")),
        call_delta(1, "t2", "get_weather", ""),
        call_delta(0, "t1", "get_weather", '{"city"'),
        call_delta(0, args=': "Paris"}'),
        call_delta(1, args="{}"),
    )
    held = outcome.held(invocation(tools=True))
    assert held is not None
    assert held[-1].blocks == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "t1", "name": "mcp__c__get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "t2", "name": "mcp__c__get_weather", "input": {}},
    ]


def test_nothing_is_held_after_a_failure_or_an_unfinished_turn() -> None:
    failed = TurnOutcome(result_ok=True)
    events(failed, pb.Event(text=pb.TextDelta(text="x")), pb.Event(error=pb.Error(code=pb.TIMEOUT)))
    assert failed.held(invocation(tools=False)) is None
    cut = TurnOutcome()  # no result, no calls out: cut short
    events(cut, pb.Event(text=pb.TextDelta(text="x")))
    assert cut.held(invocation(tools=False)) is None
    empty = TurnOutcome(result_ok=True)
    assert empty.held(invocation(tools=False)) is None


def test_calls_with_broken_arguments_are_not_held() -> None:
    outcome = TurnOutcome(awaiting=("t1",))
    events(outcome, call_delta(0, "t1", "get_weather", "{not json"))
    assert outcome.held(invocation(tools=True)) is None
