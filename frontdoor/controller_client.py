"""Typed wrapper over the controller's gRPC stubs: metadata, deadlines, error translation."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from common.errors import make_error
from common.rpc import REQUEST_ID_KEY, open_channel
from frontdoor.core.errors import CONTROLLER_UNAVAILABLE, rpc_call, rpc_error
from protos import common_pb2 as pb
from protos import controller_pb2, controller_pb2_grpc

logger = logging.getLogger(__name__)
TOO_LARGE_FOR_RPC = "the request is too large for the proxy to pass on; send less"
STORE_DEADLINE_S = 10.0  # a long conversation's turns come from disk


class CompletionCall:
    """One Complete stream; iterate for events, cancel() when the client goes away."""

    def __init__(self, call: grpc.aio.UnaryStreamCall) -> None:
        self._call = call

    async def __aiter__(self) -> AsyncIterator[pb.Event]:
        try:
            async for event in self._call:
                yield event
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                raise
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:  # the request's own size
                logger.warning("completion too large for gRPC: %s", exc.details())
                yield make_error(pb.INVALID_REQUEST, TOO_LARGE_FOR_RPC)
                return
            logger.warning("controller stream failed: %s", exc.code().name)
            yield make_error(pb.NO_WORKER_AVAILABLE, CONTROLLER_UNAVAILABLE, retry_after_ms=2000)

    def cancel(self) -> None:
        self._call.cancel()


class ControllerClient:
    """The frontdoor's only door to the controller."""

    def __init__(self, socket_path: Path) -> None:
        self._channel = open_channel(socket_path)
        self._controller = controller_pb2_grpc.ControllerStub(self._channel)
        self._conversations = controller_pb2_grpc.ConversationsStub(self._channel)

    def complete(self, request: pb.ChatRequest) -> CompletionCall:
        call = self._controller.Complete(
            request, metadata=((REQUEST_ID_KEY, request.request_id),), wait_for_ready=False
        )
        return CompletionCall(call)

    async def put_response(
        self, stored: controller_pb2.StoredResponse, deadline_s: float = STORE_DEADLINE_S
    ) -> None:
        await rpc_call(self._conversations.PutResponse, stored, deadline_s)

    async def get_response(
        self,
        response_id: str,
        with_history: bool,
        owner: str = "",
        deadline_s: float = STORE_DEADLINE_S,
    ) -> controller_pb2.StoredResponse | None:
        """The stored response (and its conversation's turns) `owner` (a key id) made; None when
        there is none, or another key made it (the same answer: an id reveals nothing)."""
        request = controller_pb2.GetResponseRequest(
            id=response_id, with_history=with_history, owner=owner
        )
        try:
            stored: controller_pb2.StoredResponse = await self._conversations.GetResponse(
                request, timeout=deadline_s
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise rpc_error(exc) from None
        return stored

    async def close(self) -> None:
        await self._channel.close()
