"""Thin gRPC servicers: Controller.Complete runs a RequestRun; Admin reports state."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from common.logs import request_id_var
from common.rpc import request_id_of
from controller.request_run import RequestRun
from controller.scheduler import Scheduler
from protos import common_pb2 as pb
from protos import controller_pb2, controller_pb2_grpc

logger = logging.getLogger(__name__)
Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints


class ControllerServicer(controller_pb2_grpc.ControllerServicer):
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    async def Complete(self, request: pb.ChatRequest, context: Context) -> AsyncIterator[pb.Event]:
        request_id_var.set(request.request_id or request_id_of(context))
        async for event in RequestRun(self._scheduler, request).events():
            yield event


class AdminServicer(controller_pb2_grpc.AdminServicer):
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    async def ListWorkers(
        self, request: controller_pb2.ListWorkersRequest, context: Context
    ) -> controller_pb2.WorkerList:
        scheduler = self._scheduler
        now = scheduler.wall()
        workers = []
        for name, handle in scheduler.pool.handles.items():
            info = handle.info()
            cooldown = scheduler.cooldowns.of(name)
            if cooldown.active(now):
                info.state = "cooling" if handle.up else info.state
                info.cooling_until = int(cooldown.until)
                info.cooling_reason = cooldown.reason
            info.quota_status = cooldown.quota_status
            info.quota_resets_at = int(cooldown.quota_resets_at)
            workers.append(info)
        return controller_pb2.WorkerList(
            workers=workers,
            max_concurrent=scheduler.config.max_concurrent,
            in_flight=scheduler.in_flight,
            queued=len(scheduler.queue),
        )

    async def ListEvents(
        self, request: controller_pb2.ListEventsRequest, context: Context
    ) -> controller_pb2.EventList:
        recent = self._scheduler.events.recent(request.since_id, request.limit or 100, request.type)
        return controller_pb2.EventList(
            events=[
                controller_pb2.ProxyEvent(
                    id=e.id, type=e.type, ts=e.ts, data_json=json.dumps(e.data)
                )
                for e in recent
            ]
        )
