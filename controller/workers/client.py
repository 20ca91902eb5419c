"""Typed wrapper over one workerd's gRPC stubs; transport failures become error events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.rpc import REQUEST_ID_KEY, open_channel
from protos import common_pb2 as pb
from protos import worker_pb2, worker_pb2_grpc

logger = logging.getLogger(__name__)


class WorkerUnavailable(Exception):
    """The workerd's socket did not answer or the stream broke."""


class WorkerClient:
    """The controller's connection to one workerd."""

    def __init__(self, name: str, socket_path: Path) -> None:
        self.name = name
        self._channel = open_channel(socket_path)
        self._worker = worker_pb2_grpc.WorkerStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def run(
        self,
        request: pb.ChatRequest,
        attempt: int,
        conversation_key: str = "",
        opened_at: float = 0.0,
    ) -> AsyncIterator[pb.Event]:
        """Stream one attempt; `conversation_key` lets the workerd continue the conversation's
        held CLI process, `opened_at` (when it opened) date a rebuilt one as the live was."""
        run_request = worker_pb2.RunRequest(
            chat=request,
            attempt=attempt,
            conversation_key=conversation_key,
            conversation_opened_at=opened_at,
        )
        call = self._worker.Run(
            run_request,
            metadata=((REQUEST_ID_KEY, request.request_id),),
        )
        try:
            async for event in call:
                yield event
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                raise
            raise WorkerUnavailable(f"worker {self.name} stream failed: {exc.code().name}") from exc
        finally:
            call.cancel()

    async def is_serving(self, deadline_s: float) -> bool:
        try:
            reply = await self._health.Check(health_pb2.HealthCheckRequest(), timeout=deadline_s)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def status(
        self, reaps_after: int = 0, deadline_s: float = 2.0
    ) -> worker_pb2.WorkerStatus | None:
        try:
            reply: worker_pb2.WorkerStatus = await self._worker.Status(
                worker_pb2.StatusRequest(reaps_after=reaps_after), timeout=deadline_s
            )
        except grpc.aio.AioRpcError:
            return None
        return reply

    async def list_processes(self, deadline_s: float = 2.0) -> worker_pb2.ProcessList:
        reply: worker_pb2.ProcessList = await self._worker.ListProcesses(
            worker_pb2.ListProcessesRequest(), timeout=deadline_s
        )
        return reply

    async def kill_process(self, pid: int, deadline_s: float) -> worker_pb2.KillProcessReply:
        """Ask the workerd to stop one of its children; it refuses pids it did not start."""
        reply: worker_pb2.KillProcessReply = await self._worker.KillProcess(
            worker_pb2.KillProcessRequest(pid=pid), timeout=deadline_s
        )
        return reply

    async def close(self) -> None:
        await self._channel.close()
