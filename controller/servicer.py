"""Thin gRPC servicers: Controller.Complete relays the dispatcher; Admin reports state."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from common.logs import request_id_var
from common.rpc import request_id_of
from controller.dispatch import Dispatcher
from controller.worker_pool import WorkerPool
from protos import common_pb2 as pb
from protos import controller_pb2, controller_pb2_grpc

logger = logging.getLogger(__name__)
Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints


class ControllerServicer(controller_pb2_grpc.ControllerServicer):
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    async def Complete(self, request: pb.ChatRequest, context: Context) -> AsyncIterator[pb.Event]:
        request_id_var.set(request.request_id or request_id_of(context))
        async for event in self._dispatcher.complete(request):
            yield event


class AdminServicer(controller_pb2_grpc.AdminServicer):
    def __init__(self, dispatcher: Dispatcher, pool: WorkerPool, max_concurrent: int) -> None:
        self._dispatcher = dispatcher
        self._pool = pool
        self._max_concurrent = max_concurrent

    async def ListWorkers(
        self, request: controller_pb2.ListWorkersRequest, context: Context
    ) -> controller_pb2.WorkerList:
        return controller_pb2.WorkerList(
            workers=[handle.info() for handle in self._pool.handles.values()],
            max_concurrent=self._max_concurrent,
            in_flight=self._dispatcher.in_flight,
        )
