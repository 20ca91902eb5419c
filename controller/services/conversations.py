"""The Conversations service: the Responses door's stored responses
(controller/storage/response_store.py), read and written on the accounting database's thread.
A store is acknowledged only once it is written: while the database refuses writes it is
retried for PUT_WAIT_S, then refused with ABORTED (never an OK for something not kept)."""

from __future__ import annotations

import time
from typing import Any, TypeAlias

import grpc

from common.rpc import abort
from controller.storage import response_store
from controller.storage.accounting import Accounting
from controller.storage.faults import STORAGE_ERRORS, describe
from protos import controller_pb2, controller_pb2_grpc

Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints
PUT_WAIT_S = 4.0
"""How long a response's store waits for a database that refuses writes before the client is
told it was not kept (ABORTED, a 503 at the door): well inside the door's STORE_DEADLINE_S."""


def not_stored(response_id: str, exc: BaseException) -> str:
    return (
        f"response {response_id!r} was not stored: the proxy's database is not taking writes "
        f"({describe(exc)}); retry shortly"
    )


class ConversationsServicer(controller_pb2_grpc.ConversationsServicer):
    def __init__(self, accounting: Accounting) -> None:
        self._accounting = accounting

    async def PutResponse(
        self, request: controller_pb2.StoredResponse, context: Context
    ) -> controller_pb2.PutResponseResult:
        if not request.id:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "a stored response needs an id")
        now = time.time()
        try:
            await self._accounting.attempt_for(
                lambda db: response_store.put(db.connection, request, now), PUT_WAIT_S
            )
        except STORAGE_ERRORS as exc:
            await abort(context, grpc.StatusCode.ABORTED, not_stored(request.id, exc))
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
