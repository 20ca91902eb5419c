"""OpenAI function calling, one suite for an `api` worker and a `cli` worker.

The `cli` worker runs the real pinned CLI, which sees the client's tools through workerd's MCP
bridge; both talk to the same mock upstream. Whatever the worker, the client sees the same
calls, ids, indexes, argument fragments and finish reasons. On the `cli` worker the results of
a step go back into the process that asked for them: one upstream request per step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.mock_scenarios import FN_ARGS, FN_PREAMBLE, tool_answer
from tests.mock_upstream import MockUpstream, conversation
from tests.stack import Stack, claude_bin, wait_until
from tests.tool_defs import TIME, WEATHER

pytestmark = pytest.mark.stack


@pytest.fixture(params=["api", "cli"])
def stack(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Stack:
    return stacks[str(request.param)]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def complete(stack: Stack, session: str = "", **fields: Any) -> ChatCompletion:
    fields.setdefault("model", "sonnet")
    headers = {"X-Session-Id": session} if session else {}
    return cast(
        ChatCompletion, stack.client().chat.completions.create(extra_headers=headers, **fields)
    )


def chunks_of(stack: Stack, **fields: Any) -> list[ChatCompletionChunk]:
    fields.setdefault("model", "sonnet")
    stream = stack.client().chat.completions.create(stream=True, **fields)
    return list(cast(Iterable[ChatCompletionChunk], stream))


def tool_deltas(chunks: list[ChatCompletionChunk]) -> list[tuple[int, bool, str, str]]:
    """(index, carries an id, name, argument fragment) of every streamed tool-call delta."""
    return [
        (d.index, bool(d.id), (d.function.name or "") if d.function else "", _args(d))
        for c in chunks
        for d in (c.choices[0].delta.tool_calls or [])
    ]


def _args(delta: Any) -> str:
    return str(delta.function.arguments or "") if delta.function else ""


def test_one_call_non_streaming(stack: Stack) -> None:
    completion = complete(stack, messages=[user("SCN:fn_call:get_weather")], tools=[WEATHER])

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == FN_PREAMBLE
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("toolu_mock_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == FN_ARGS[0]


def test_streamed_calls_are_the_same_on_both_workers(stacks: dict[str, Stack]) -> None:
    seen = {}
    for kind, stack in stacks.items():
        chunks = chunks_of(
            stack, messages=[user("SCN:fn_two:get_weather,get_time")], tools=[WEATHER, TIME]
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
        seen[kind] = (tool_deltas(chunks), text, finishes)
    assert seen["api"] == seen["cli"]
    deltas, _, finishes = seen["cli"]
    assert [(i, name) for i, has_id, name, _ in deltas if has_id] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]
    assert len([d for d in deltas if d[3]]) >= 4, "arguments arrive in fragments"
    assert finishes == ["tool_calls"]


def test_the_results_go_back_into_the_process_that_asked(
    stacks: dict[str, Stack], upstream: MockUpstream
) -> None:
    stack = stacks["cli"]
    question = user("SCN:fn_two:get_weather,get_time")
    first = complete(stack, "steps", messages=[question], tools=[WEATHER, TIME])
    calls = first.choices[0].message.tool_calls or []
    [asked] = [e for e in stack.events("session") if e["request_id"] == _last_request(stack)]
    upstream.clear()

    final = complete(
        stack,
        "steps",
        messages=[
            question,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": "18C"},
            {"role": "tool", "tool_call_id": calls[1].id, "content": "noon"},
        ],
        tools=[WEATHER, TIME],
    )

    assert final.choices[0].message.content == tool_answer(["18C", "noon"])
    assert final.choices[0].finish_reason == "stop"
    [answered] = [e for e in stack.events("session") if e["request_id"] == _last_request(stack)]
    assert (answered["served"], answered["pid"]) == ("live", asked["pid"])
    [continuation] = upstream.message_requests()  # one upstream request for this step
    messages = conversation(continuation.json)
    assert [b["type"] for b in messages[-1]["content"]] == ["tool_result", "tool_result"]
    assert [b["tool_use_id"] for b in messages[-1]["content"]] == [c.id for c in calls]


def _last_request(stack: Stack) -> str:
    completes = stack.events("complete")
    return str(completes[-1]["request_id"])


def test_follow_up_answers_the_same_on_both_workers(stack: Stack) -> None:
    question = user("SCN:fn_call:get_weather")
    first = complete(stack, messages=[question], tools=[WEATHER])
    [call] = first.choices[0].message.tool_calls or []
    final = complete(
        stack,
        messages=[
            question,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
        ],
        tools=[WEATHER],
    )
    assert final.choices[0].message.content == tool_answer(["18C and sunny"])
    assert final.choices[0].finish_reason == "stop"


def test_a_rebuilt_conversation_sends_real_tool_blocks(
    stacks: dict[str, Stack], upstream: MockUpstream
) -> None:
    stack = stacks["cli"]
    question = user("SCN:fn_call:get_weather")
    first = complete(stack, "one", messages=[question], tools=[WEATHER])
    [call] = first.choices[0].message.tool_calls or []
    upstream.clear()

    final = complete(  # another session: no process holds this conversation
        stack,
        "another",
        messages=[
            question,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "rainy", "name": "x"},
        ],
        tools=[WEATHER],
    )

    assert final.choices[0].message.content == tool_answer(["rainy"])
    [request] = upstream.message_requests()
    messages = conversation(request.json)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    use = [b for b in messages[1]["content"] if b["type"] == "tool_use"]
    assert use == [
        {"type": "tool_use", "id": call.id, "name": "mcp__c__get_weather", "input": FN_ARGS[0]}
    ]
    result = [b for b in messages[2]["content"] if b["type"] == "tool_result"]
    assert [(r["tool_use_id"], r["content"]) for r in result] == [
        (call.id, [{"type": "text", "text": "rainy"}])  # as a continued process sends it
    ]


@pytest.mark.parametrize(
    ("choice", "upstream_choice"),
    [
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_time"}}, {"type": "tool", "name": "T"}),
        ("none", {"type": "none"}),
    ],
)
def test_tool_choice_reaches_the_model(
    stack: Stack, upstream: MockUpstream, choice: Any, upstream_choice: dict[str, str]
) -> None:
    upstream.clear()
    complete(stack, messages=[user("hello")], tools=[WEATHER, TIME], tool_choice=choice)
    body = upstream.message_requests()[-1].json or {}
    time_tool = next(t["name"] for t in body["tools"] if t["name"].endswith("get_time"))
    expected = {k: (time_tool if v == "T" else v) for k, v in upstream_choice.items()}
    assert body["tool_choice"] == expected


def test_unusual_names_and_schemas(stack: Stack) -> None:
    name = "a-" + "x" * 60 + "-z"  # 64 characters, dashes
    tool = {
        "type": "function",
        "function": {
            "name": name,
            "description": "nested, enums",
            "parameters": {
                "type": "object",
                "properties": {
                    "mode": {"type": "string", "enum": ["fast", "slow"]},
                    "where": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            },
        },
    }
    completion = complete(stack, messages=[user(f"SCN:fn_call:{name}")], tools=[tool])
    [call] = completion.choices[0].message.tool_calls or []
    assert call.function.name == name  # type: ignore[union-attr]


def test_a_held_process_whose_client_never_returns_is_reaped(upstream: MockUpstream) -> None:
    worker = {"name": "cli", "mode": "cli", "bin": claude_bin(), "token": "sk-ant-oat01-t"}
    settings = {
        "WORKERS": json.dumps([worker]),
        "ANTHROPIC_BASE_URL": upstream.base_url,
        "TOOL_RESULT_TIMEOUT_MS": "1000",
        "REAPER_INTERVAL_MS": "200",
    }
    stack = Stack(settings).start()
    try:
        complete(stack, messages=[user("SCN:fn_call")], tools=[WEATHER])
        wait_until(
            lambda: any(e["reason"] == "tool_timeout" for e in stack.events("reap")),
            20,
            "the waiting process to be reaped",
        )
        states = [p["state"] for p in stack.get("/zombies")[1]["processes"]]
        assert "awaiting" not in states
    finally:
        stack.stop()


def test_a_warm_process_with_the_tools_serves_a_new_conversation(upstream: MockUpstream) -> None:
    """Ready means the CLI has listed the bridge's tools; then it serves without a spawn."""
    worker = {"name": "cli", "mode": "cli", "bin": claude_bin(), "token": "sk-ant-oat01-t"}
    settings = {"WORKERS": json.dumps([worker]), "ANTHROPIC_BASE_URL": upstream.base_url}
    stack = Stack(settings).start()
    try:
        complete(stack, "warm-0", messages=[user("teach the tool set")], tools=[WEATHER, TIME])

        def ready() -> list[int]:
            processes = stack.get("/zombies")[1]["processes"]
            return [p["pid"] for p in processes if p["state"] == "ready"]

        wait_until(lambda: len(ready()) == 2, 30, "two warm processes with the tools")
        warm = ready()
        complete(stack, "warm-1", messages=[user("SCN:fn_call:get_time")], tools=[WEATHER, TIME])
        [served] = [e for e in stack.events("session") if e["request_id"] == _last_request(stack)]
        assert served["served"] == "warm" and served["pid"] in warm
        assert not stack.events("warm_fallback")
    finally:
        stack.stop()


def test_tool_definitions_reach_the_model_unchanged_and_byte_stable(
    stacks: dict[str, Stack], upstream: MockUpstream
) -> None:
    upstream.clear()
    for n in range(2):
        complete(stacks["cli"], f"stable-{n}", messages=[user(f"hi {n}")], tools=[WEATHER, TIME])
    first, second = (r.json or {} for r in upstream.message_requests()[-2:])
    assert json.dumps(first["tools"]) == json.dumps(second["tools"])
    by_name = {t["name"]: t for t in first["tools"]}
    assert set(by_name) == {"mcp__c__get_weather", "mcp__c__get_time"}
    weather = by_name["mcp__c__get_weather"]
    assert weather["description"] == WEATHER["function"]["description"]
    assert weather["input_schema"] == WEATHER["function"]["parameters"]
