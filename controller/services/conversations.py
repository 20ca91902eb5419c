"""The Conversations service: the Responses door's stored responses
(controller/storage/response_store.py), read and written on the accounting database's thread."""

from __future__ import annotations

import time
from typing import Any, TypeAlias

import grpc

from common.rpc import abort
from controller.storage import response_store
from controller.storage.accounting import Accounting
from protos import controller_pb2, controller_pb2_grpc

Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints


class ConversationsServicer(controller_pb2_grpc.ConversationsServicer):
    def __init__(self, accounting: Accounting) -> None:
        self._accounting = accounting

    async def PutResponse(
        self, request: controller_pb2.StoredResponse, context: Context
    ) -> controller_pb2.PutResponseResult:
        if not request.id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "a stored response needs an id")
        now = time.time()
        await self._accounting.apart(lambda db: response_store.put(db.connection, request, now))
        return controller_pb2.PutResponseResult()

    async def GetResponse(
        self, request: controller_pb2.GetResponseRequest, context: Context
    ) -> controller_pb2.StoredResponse:
        stored = await self._accounting.apart(
            lambda db: response_store.get(
                db.connection, request.id, request.with_history, request.owner
            )
        )
        if stored is None:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no stored response {request.id!r}")
        return stored
