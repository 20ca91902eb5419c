"""Requests no worker can serve are refused at admission, in milliseconds, not after the queue.

The controller's real pool, scheduler and RequestRun over in-process fake workerds
(tests/unit/inprocess.py) whose Status says what they refuse.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.request_run import NO_CLIENT_TOOLS
from protos import common_pb2 as pb
from tests.unit.inprocess import Rig, short_state_dir

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
