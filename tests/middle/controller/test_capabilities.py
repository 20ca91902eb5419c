"""Requests no worker can serve are refused at admission, in milliseconds, not after the queue.

The controller's real pool, scheduler and RequestRun over in-process fake workerds
(tests/middle/inprocess.py) whose Status says what they refuse.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.scheduling.request_run import NO_CLIENT_TOOLS
from protos import common_pb2 as pb
from tests.middle.inprocess import Rig, short_state_dir

pytestmark = pytest.mark.middle

ANSWER = [
    pb.Event(text=pb.TextDelta(text="ok")),
    pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet")),
]


def with_tools(request_id: str) -> pb.ChatRequest:
    return pb.ChatRequest(
        request_id=request_id,
        model="sonnet",
        source="ide",
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hi")])],
        tools=[pb.ToolSpec(name="get_weather", parameters_json='{"type": "object"}')],
    )


async def rig_of(root: str, modes: dict[str, str], refusing: set[str]) -> Rig:
    rig = await Rig.start(Path(root), modes)
    for name in refusing:
        rig.workers[name].status.no_client_tools = True
    for worker in rig.workers.values():
        worker.script = ANSWER
    await rig.poll()
    return rig


@pytest.fixture
async def agents_only() -> AsyncIterator[Rig]:
    with short_state_dir() as root:
        rig = await rig_of(root, {"a1": "agent", "a2": "agent"}, {"a1", "a2"})
        try:
            yield rig
        finally:
            await rig.stop()


async def test_client_tools_on_agents_only_are_refused_at_admission(agents_only: Rig) -> None:
    # Every worker is cooling down: a queued request would wait for minutes.
    for name in agents_only.workers:
        agents_only.scheduler.start_cooldown(name, 600, "rate_limit")
    started = time.monotonic()
    events = await agents_only.complete(with_tools("r1"))

    assert time.monotonic() - started < 1.0
    [event] = events
    assert event.error.code == pb.INVALID_REQUEST and event.error.param == "tools"
    assert event.error.message == NO_CLIENT_TOOLS
    assert all(not worker.runs for worker in agents_only.workers.values())
    [logged] = agents_only.logged("error")
    assert logged.data["status"] == "INVALID_REQUEST"


async def test_a_tool_request_goes_only_to_workers_that_run_client_tools() -> None:
    with short_state_dir() as root:
        rig = await rig_of(root, {"agent": "agent", "cli": "cli"}, {"agent"})
        try:
            for n in range(4):
                events = await rig.complete(with_tools(f"t{n}"))
                assert events[-1].HasField("finish")
            assert len(rig.workers["cli"].runs) == 4 and not rig.workers["agent"].runs
            plain = with_tools("plain")
            del plain.tools[:]
            assert rig.scheduler.unable_to_serve(plain) == frozenset()
            assert rig.scheduler.unable_to_serve(with_tools("t")) == {"agent"}
        finally:
            await rig.stop()


def one_message(request_id: str, chars: int, turns: int = 1) -> pb.ChatRequest:
    per_turn = "x" * (chars // turns)
    roles = (pb.ROLE_USER, pb.ROLE_ASSISTANT)
    return pb.ChatRequest(
        request_id=request_id,
        model="sonnet",
        source="ide",
        messages=[
            pb.ChatMessage(role=roles[n % 2], content=[pb.ContentBlock(text=per_turn)])
            for n in range(turns - 1)
        ]
        + [pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text=per_turn)])],
    )


@pytest.mark.parametrize("mode", ["cli", "api"])
async def test_a_message_beyond_any_context_is_refused_at_admission(mode: str) -> None:
    """A 19 MB message (about 5 million tokens): refused in milliseconds, never queued, never
    charged to the account's token window."""
    with short_state_dir() as root:
        rig = await rig_of(root, {"w": mode}, set())
        try:
            events = await rig.complete(one_message("big", 19_000_000))

            [event] = events
            assert event.error.code == pb.CONTEXT_TOO_LONG and event.error.param == "messages"
            assert not rig.workers["w"].runs
            window = rig.scheduler.limiter.window("w", "sonnet")
            assert window.wait_s(1, rig.scheduler.clock()) == 0  # nothing charged
        finally:
            await rig.stop()


async def test_a_long_history_is_left_to_cli_workers_which_trim_it() -> None:
    """6 MB over 600 turns: api workers cannot take it, cli workers drop the oldest turns."""
    long_history = one_message("long", 6_000_000, turns=601)
    with short_state_dir() as root:
        cli = await rig_of(root, {"w": "cli"}, set())
        try:
            assert (await cli.complete(long_history))[-1].HasField("finish")
        finally:
            await cli.stop()
    with short_state_dir() as root:
        api = await rig_of(root, {"w": "api"}, set())
        try:
            [refused] = await api.complete(long_history)
            assert refused.error.code == pb.CONTEXT_TOO_LONG
        finally:
            await api.stop()


async def test_the_clients_user_is_kept_in_the_request_event() -> None:
    with short_state_dir() as root:
        rig = await rig_of(root, {"w": "cli"}, set())
        try:
            request = one_message("u1", 10)
            request.user = "end-user-42"
            await rig.complete(request)
            [logged] = rig.logged("request")
            assert logged.data["user"] == "end-user-42"
        finally:
            await rig.stop()
