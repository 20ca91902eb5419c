"""A failure that would repeat on any worker is not retried on another one.

The controller's real pool, scheduler and RequestRun over two in-process fake workerds
(tests/middle/inprocess.py) that both fail the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import make_error, no_json_answer
from protos import common_pb2 as pb
from tests.middle.inprocess import Rig, short_state_dir

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
