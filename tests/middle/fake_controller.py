"""A fake controller: a real grpc.aio server on the controller's unix socket, serving the
Controller, Admin and Conversations services from what a test scripts.

A script is a list of steps: an event is sent, an `asyncio.Event` is waited on (a hold the test
releases). What the frontdoor asked, and whether it cancelled a call, is kept.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import grpc

from common.rpc import StandardServer
from protos import common_pb2 as pb
from protos import controller_pb2, controller_pb2_grpc
from tests.middle.fake_keys import FakeKeys

Step: TypeAlias = pb.Event | asyncio.Event
Script: TypeAlias = Sequence[Step]
Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints


def answer(text: str, worker: str = "w1", model: str = "claude-sonnet-test") -> list[pb.Event]:
    """A short successful answer: started, model, text, usage, finish."""
    return [
        pb.Event(started=pb.Started(worker=worker, mode="api", attempt=1)),
        pb.Event(model_info=pb.ModelInfo(model=model)),
        pb.Event(text=pb.TextDelta(text=text)),
        pb.Event(usage=pb.Usage(input_tokens=7, output_tokens=3, cache_read_tokens=5)),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model=model)),
    ]


class Call:
    """One Complete call as the fake controller saw it."""

    def __init__(self, request: pb.ChatRequest) -> None:
        self.request = request
        self.cancelled = asyncio.Event()
        self.ended = asyncio.Event()


class FakeController(
    FakeKeys,
    controller_pb2_grpc.ControllerServicer,
    controller_pb2_grpc.AdminServicer,
    controller_pb2_grpc.ConversationsServicer,
):
    """Answers each Complete with `script_for(request)` (by default `script`); keys as
    tests/middle/fake_keys.py keeps them."""

    def __init__(self) -> None:
        super().__init__()
        self.script: Script = answer("hello")
        self.script_for: Callable[[pb.ChatRequest], Script] = lambda _request: self.script
        self.abort_with: grpc.StatusCode | None = None
        """Set: after the script, the call fails with this status (a broken controller)."""
        self.calls: list[Call] = []
        self.arrived = asyncio.Event()
        self.workers = controller_pb2.WorkerList(
            workers=[controller_pb2.WorkerInfo(name="w1", mode="api", state="up")]
        )
        self.events: list[controller_pb2.ProxyEvent] = []
        self.live: asyncio.Queue[controller_pb2.ProxyEvent] = asyncio.Queue()
        self.watches: list[controller_pb2.WatchEventsRequest] = []
        self.stored: dict[str, controller_pb2.StoredResponse] = {}
        self.stats: controller_pb2.StatsSnapshot | None = None
        """Set: GetStats answers it (and ListProcesses and GetHistory answer empty ones)."""

    # Controller
    async def Complete(self, request: pb.ChatRequest, context: Context) -> AsyncIterator[pb.Event]:
        call = Call(request)
        self.calls.append(call)
        self.arrived.set()
        try:
            for step in self.script_for(request):
                if isinstance(step, asyncio.Event):
                    await step.wait()
                else:
                    yield step
            if self.abort_with is not None:
                await context.abort(self.abort_with, "scripted failure")
        except (asyncio.CancelledError, GeneratorExit):
            # The client cancelled: at an await this is CancelledError; suspended at a `yield`
            # (an event sent, the next not asked for yet) the server closes the generator.
            call.cancelled.set()
            raise
        finally:
            call.ended.set()

    # Admin
    async def ListWorkers(
        self, request: controller_pb2.ListWorkersRequest, context: Context
    ) -> controller_pb2.WorkerList:
        return self.workers

    async def ListEvents(
        self, request: controller_pb2.ListEventsRequest, context: Context
    ) -> controller_pb2.EventList:
        chosen = [e for e in self.events if e.id > request.since_id]
        chosen = [e for e in chosen if not request.type or e.type == request.type]
        last_id = self.events[-1].id if self.events else 0
        return controller_pb2.EventList(events=chosen[-(request.limit or 100) :], last_id=last_id)

    async def WatchEvents(
        self, request: controller_pb2.WatchEventsRequest, context: Context
    ) -> AsyncIterator[controller_pb2.ProxyEvent]:
        self.watches.append(request)
        for event in self.events[-request.replay :] if request.replay else []:
            yield event
        while True:
            yield await self.live.get()

    async def _unscripted(self, context: Context) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not scripted in this fake")

    async def DrainWorker(self, request: controller_pb2.WorkerRef, context: Context) -> Any:
        return await self._unscripted(context)

    async def ResumeWorker(self, request: controller_pb2.WorkerRef, context: Context) -> Any:
        return await self._unscripted(context)

    async def ListProcesses(self, request: Any, context: Context) -> Any:
        if self.stats is not None:
            return controller_pb2.ProcessReport()
        return await self._unscripted(context)

    async def KillProcess(self, request: Any, context: Context) -> Any:
        return await self._unscripted(context)

    async def GetHistory(self, request: controller_pb2.GetHistoryRequest, context: Context) -> Any:
        if self.stats is not None:
            return controller_pb2.History(window=request.window, bucket_seconds=60)
        return await self._unscripted(context)

    async def GetStats(self, request: Any, context: Context) -> Any:
        if self.stats is not None:
            return self.stats
        return await self._unscripted(context)

    def log(self, kind: str, **data: Any) -> controller_pb2.ProxyEvent:
        """Add an event to the log (what ListEvents and a watch's replay return)."""
        event = controller_pb2.ProxyEvent(
            id=len(self.events) + 1, type=kind, ts=1.0, data_json=json.dumps(data)
        )
        self.events.append(event)
        return event

    # Conversations
    async def PutResponse(
        self, request: controller_pb2.StoredResponse, context: Context
    ) -> controller_pb2.PutResponseResult:
        self.stored[request.id] = request
        return controller_pb2.PutResponseResult()

    async def GetResponse(
        self, request: controller_pb2.GetResponseRequest, context: Context
    ) -> controller_pb2.StoredResponse:
        stored = self.stored.get(request.id)
        if stored is None or stored.owner != request.owner:  # another key's: as unknown
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no response {request.id}")
        return self.stored[request.id]

    async def one_call(self) -> Call:
        """The first Complete call, once it arrived (within 10 s)."""
        await asyncio.wait_for(self.arrived.wait(), 10)
        return self.calls[0]


async def serve(controller: FakeController, socket_path: Path) -> StandardServer:
    names = [
        controller_pb2.DESCRIPTOR.services_by_name[name].full_name
        for name in ("Controller", "Admin", "Conversations")
    ]
    server = StandardServer(socket_path, names)
    controller_pb2_grpc.add_ControllerServicer_to_server(controller, server.server)
    controller_pb2_grpc.add_AdminServicer_to_server(controller, server.server)
    controller_pb2_grpc.add_ConversationsServicer_to_server(controller, server.server)
    await server.start()
    return server
