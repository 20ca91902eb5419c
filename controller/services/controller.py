"""Thin gRPC servicer: Controller.Complete runs a RequestRun (Admin: services/admin.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from common.logs import request_id_var
from common.rpc import request_id_of
from controller.scheduling.request_run import RequestRun
from controller.scheduling.scheduler import Scheduler
from protos import common_pb2 as pb
from protos import controller_pb2_grpc

logger = logging.getLogger(__name__)
Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints


class ControllerServicer(controller_pb2_grpc.ControllerServicer):
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    async def Complete(self, request: pb.ChatRequest, context: Context) -> AsyncIterator[pb.Event]:
        request_id_var.set(request.request_id or request_id_of(context))
        async for event in RequestRun(self._scheduler, request).events():
            yield event
