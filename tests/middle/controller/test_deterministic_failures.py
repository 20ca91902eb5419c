"""A failure that would repeat on any worker is not retried on another one.

The controller's real pool, scheduler and RequestRun over two in-process fake workerds
(tests/middle/inprocess.py) that both fail the same way. A failure of the request (an error
event, or a Run the workerd answered by raising) marks no worker down either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common.errors import make_error, no_json_answer
from protos import common_pb2 as pb
from protos import worker_pb2
from tests.middle.inprocess import FakeWorker, Rig, short_state_dir

pytestmark = pytest.mark.middle


def request(request_id: str) -> pb.ChatRequest:
    return pb.ChatRequest(
        request_id=request_id,
        model="sonnet",
        source="ide",
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hi")])],
        response_format=pb.RESPONSE_FORMAT_JSON_OBJECT,
    )


@pytest.mark.parametrize(
    ("failure", "attempts"),
    [
        (no_json_answer("It is sunny."), 1),  # deterministic: once
        (make_error(pb.UPSTREAM_ERROR, "upstream hiccup"), 2),  # transient: the other worker
    ],
)
async def test_only_transient_failures_go_to_another_worker(
    failure: pb.Event, attempts: int
) -> None:
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {"1": "cli", "2": "cli"})
        try:
            for worker in rig.workers.values():
                worker.script = [failure]
            events = await rig.complete(request("r1"))

            assert [e.error.code for e in events if e.HasField("error")] == [failure.error.code]
            assert sum(len(w.runs) for w in rig.workers.values()) == attempts
            assert len(rig.logged("retry")) == attempts - 1
        finally:
            await rig.stop()


class RaisingWorker(FakeWorker):
    """A workerd whose Run raises on the request (grpc answers UNKNOWN): alive, but failed by
    what the request holds, as a deeply nested tool argument once made every workerd fail."""

    async def Run(self, request: worker_pb2.RunRequest, context: Any) -> AsyncIterator[pb.Event]:
        self.runs.append(request)
        raise RecursionError("maximum recursion depth exceeded")
        yield pb.Event()  # pragma: no cover - makes this an async generator, as grpc wants


async def test_a_run_the_worker_raised_on_marks_no_worker_down_and_is_not_retried() -> None:
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {"1": "cli", "2": "cli"}, worker_class=RaisingWorker)
        try:
            events = await rig.complete(request("r1"))

            assert [e.error.code for e in events if e.HasField("error")] == [pb.INTERNAL]
            assert sum(len(w.runs) for w in rig.workers.values()) == 1
            assert rig.logged("retry") == []
            assert all(handle.up for handle in rig.pool.handles.values())
        finally:
            await rig.stop()


async def test_a_bad_request_error_event_marks_no_worker_down_and_is_not_retried() -> None:
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {"1": "cli", "2": "cli"})
        try:
            for worker in rig.workers.values():
                worker.script = [make_error(pb.INVALID_REQUEST, "nested too deeply")]
            events = await rig.complete(request("r1"))

            assert [e.error.code for e in events if e.HasField("error")] == [pb.INVALID_REQUEST]
            assert sum(len(w.runs) for w in rig.workers.values()) == 1
            assert all(handle.up for handle in rig.pool.handles.values())
        finally:
            await rig.stop()
