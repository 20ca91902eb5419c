"""The whole request path in this process: the real frontdoor on a real port, the controller's
real services (assembled by controller.server) on its unix socket, and fake workerds (real
`Worker` gRPC servers, tests/middle/inprocess.py) whose runs a test can hold and release.

Only the workerd processes are faked: HTTP, both gRPC hops, admission, the queue, retries and
the event log are the production code."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from common.rpc import StandardServer
from controller.server import _build_server
from controller.services.conversations import ConversationsServicer
from frontdoor.app import create_app
from protos import common_pb2 as pb
from protos import worker_pb2
from tests.middle.door import Front, door_config, serve_app
from tests.middle.inprocess import FakeWorker, Rig


def answer_of(text: str, worker: str) -> list[pb.Event]:
    return [
        pb.Event(text=pb.TextDelta(text=f"{worker} says: {text}")),
        pb.Event(usage=pb.Usage(input_tokens=3, output_tokens=4)),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="fake-model")),
    ]


class HoldingWorker(FakeWorker):
    """Answers "<name> says: <prompt>"; a run whose prompt contains a key of `holds` waits for
    that event first. `prompts` lists every prompt a run was started for."""

    def __init__(self, name: str, mode: str = "cli") -> None:
        super().__init__(name, mode)
        self.name = name
        self.holds: dict[str, asyncio.Event] = {}
        self.prompts: list[str] = []

    async def Run(self, request: worker_pb2.RunRequest, context: Any) -> AsyncIterator[pb.Event]:
        self.runs.append(request)
        prompt = request.chat.messages[-1].content[0].text
        self.prompts.append(prompt)
        for marker, hold in self.holds.items():
            if marker in prompt:
                await hold.wait()
        for event in self.script or answer_of(prompt, self.name):
            yield event


@dataclass
class Chain:
    rig: Rig
    front: Front
    http: TestServer  # the frontdoor's server, for a test that stops it

    @property
    def workers(self) -> dict[str, HoldingWorker]:
        return self.rig.workers  # type: ignore[return-value]


@contextlib.asynccontextmanager
async def open_chain(
    root: Path,
    modes: dict[str, str],
    *,
    worker_class: type[HoldingWorker] = HoldingWorker,
    **overrides: Any,
) -> AsyncIterator[Chain]:
    """Fake workerds of `modes`; `overrides` are ControllerConfig fields."""
    rig = await Rig.start(root, modes, worker_class=worker_class, **overrides)
    controller: StandardServer = _build_server(
        rig.config, rig.scheduler, rig.admin, ConversationsServicer(rig.accounting)
    )
    await controller.start()
    ticks = asyncio.get_running_loop().create_task(rig.scheduler.run_ticks())
    config = door_config(root)
    http = await serve_app(create_app(config))
    try:
        assert http.port is not None
        yield Chain(rig, Front(http.port, config), http)
    finally:
        await http.close()
        ticks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticks
        await controller.stop(0)
        await rig.stop()


async def until(condition: Callable[[], bool], what: str, within_s: float = 10) -> None:
    """Poll `condition` every 10 ms; fail naming `what` after `within_s` seconds."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within_s}s waiting for {what}")
        await asyncio.sleep(0.01)
