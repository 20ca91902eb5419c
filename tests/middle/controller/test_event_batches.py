"""Events that travel as one message (EventBatch): the controller reads a worker's batch event
by event, exactly as it reads single events, and passes on what came together as one message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.errors import make_error
from common.events import batched, unbatched
from protos import common_pb2 as pb
from tests.middle.inprocess import Rig, short_state_dir

pytestmark = pytest.mark.middle


def chat(request_id: str) -> pb.ChatRequest:
    message = pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hi")])
    return pb.ChatRequest(request_id=request_id, model="sonnet", messages=[message])


def text(value: str) -> pb.Event:
    return pb.Event(text=pb.TextDelta(text=value))


MODEL = pb.Event(model_info=pb.ModelInfo(model="m"))
USAGE = pb.Event(usage=pb.Usage(input_tokens=3, output_tokens=2))
FINISH = pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="m"))
OVERLOADED = make_error(pb.UPSTREAM_OVERLOADED, "busy", upstream_status=529)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    with short_state_dir() as root:
        running = await Rig.start(Path(root), {"1": "api", "2": "api"})
        try:
            yield running
        finally:
            await running.stop()


def flat(messages: list[pb.Event]) -> list[pb.Event]:
    return [event for message in messages for event in unbatched(message)]


def test_batched_and_unbatched_agree() -> None:
    assert batched([text("a")]) == text("a")  # one event goes as itself
    both = batched([text("a"), FINISH])
    assert both.WhichOneof("kind") == "batch" and list(unbatched(both)) == [text("a"), FINISH]
    assert list(unbatched(FINISH)) == [FINISH]


async def test_a_whole_answer_in_one_message_goes_on_in_one(rig: Rig) -> None:
    for worker in rig.workers.values():
        worker.script = [batched([MODEL, text("hello"), USAGE, FINISH])]

    messages = await rig.complete(chat("r1"))

    assert [m.WhichOneof("kind") for m in messages] == ["started", "batch"]
    assert flat(messages)[1:] == [MODEL, text("hello"), USAGE, FINISH]
    [row] = [e.data for e in rig.logged("complete")]
    assert row["status"] == "ok" and row["output_tokens"] == 2


async def test_a_batch_that_fails_before_output_is_retried_whole_elsewhere(rig: Rig) -> None:
    failing, healthy = rig.workers["1"], rig.workers["2"]
    failing.script = [batched([MODEL, OVERLOADED])]
    healthy.script = [batched([MODEL, text("from 2"), USAGE, FINISH])]

    events = flat(await rig.complete(chat("r2")))

    kinds = [e.WhichOneof("kind") for e in events]
    assert "error" not in kinds  # the failed attempt's held events never reach the client
    assert [e.text.text for e in events if e.HasField("text")] == ["from 2"]
    assert len(failing.runs) == 1 and len(healthy.runs) == 1


async def test_an_error_after_output_in_the_same_batch_goes_on_after_it(rig: Rig) -> None:
    for worker in rig.workers.values():
        worker.script = [batched([MODEL, text("half"), OVERLOADED, text("never")])]

    events = flat(await rig.complete(chat("r3")))

    kinds = [e.WhichOneof("kind") for e in events]
    assert kinds == ["started", "model_info", "text", "error"]  # nothing after the error
    assert events[-1].error.code == pb.UPSTREAM_OVERLOADED
