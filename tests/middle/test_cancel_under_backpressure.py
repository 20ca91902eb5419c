"""A client that goes away while the controller is blocked writing to it (its stream window
full) still ends the worker's run and frees the worker's slot.

Then the controller's Complete is suspended at a `yield`, not at an await, so the cancellation
reaches it as the generator being closed rather than as CancelledError: the path of a client
that stops reading a fast answer and hangs up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common.rpc import REQUEST_ID_KEY, open_channel
from protos import common_pb2 as pb
from protos import controller_pb2_grpc, worker_pb2
from tests.middle.chain import HoldingWorker, open_chain, until

pytestmark = pytest.mark.middle

CHUNK = "x" * 256 * 1024  # a few of these fill any HTTP/2 stream window


class EndlessWorker(HoldingWorker):
    """Streams text as fast as it can be written, until its call is ended."""

    def __init__(self, name: str, mode: str = "cli") -> None:
        super().__init__(name, mode)
        self.ended: list[str] = []
        self.sent = 0

    async def Run(self, request: worker_pb2.RunRequest, context: Any) -> AsyncIterator[pb.Event]:
        self.runs.append(request)
        try:
            while True:
                yield pb.Event(text=pb.TextDelta(text=CHUNK))
                self.sent += 1
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        except GeneratorExit:
            self.ended.append("closed")
            raise


def chat(text: str) -> pb.ChatRequest:
    message = pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text=text)])
    return pb.ChatRequest(request_id="gone", model="sonnet", stream=True, messages=[message])


async def test_a_client_gone_while_its_stream_is_full_ends_the_run(state_dir: Path) -> None:
    async with open_chain(state_dir, {"w1": "api"}, worker_class=EndlessWorker) as chain:
        worker = chain.rig.workers["w1"]
        assert isinstance(worker, EndlessWorker)
        channel = open_channel(chain.rig.config.paths.controller_socket)
        try:
            call = controller_pb2_grpc.ControllerStub(channel).Complete(
                chat("fast"), metadata=((REQUEST_ID_KEY, "gone"),)
            )
            reader = aiter(call)
            assert (await anext(reader)).HasField("started")
            assert (await anext(reader)).HasField("text")
            # Not reading any more: the writes fill both windows and block; once the worker
            # stops getting further, the controller is suspended writing to this client.
            sent = -1
            while sent != worker.sent:
                sent = worker.sent
                await asyncio.sleep(0.05)  # polled: nothing marks a full window but a stall
            call.cancel()
            await until(lambda: bool(worker.ended), "the worker's run to end", 5)
            await until(lambda: chain.rig.scheduler.in_flight == 0, "the slot to be free", 5)
        finally:
            await channel.close()
