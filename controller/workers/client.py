"""Typed wrapper over one workerd's gRPC stubs; transport failures become error events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.paths import StatePaths
from common.rpc import (
    MESSAGE_LIMIT,
    REMOTE_KEEPALIVE_MS,
    REQUEST_ID_KEY,
    open_channel,
    open_remote_channel,
)
from common.tls import TlsFiles
from common.workers import WorkerSpec
from protos import common_pb2 as pb
from protos import worker_pb2, worker_pb2_grpc

logger = logging.getLogger(__name__)


class WorkerUnavailable(Exception):
    """The workerd's socket did not answer or the stream broke."""


class MessageTooLarge(WorkerUnavailable):
    """The request or an answer was over GRPC_MAX_MESSAGE_MB, on this end or the workerd's: the
    worker is fine, and any other would refuse the same."""


@dataclass(frozen=True)
class Reach:
    """How the controller reaches its workerds: local ones on their unix sockets in STATE_DIR,
    remote ones (an `address`) over TCP with mutual TLS."""

    paths: StatePaths
    tls: TlsFiles | None = None
    keepalive_ms: int = REMOTE_KEEPALIVE_MS
    message_limit: int = MESSAGE_LIMIT

    def channel(self, spec: WorkerSpec) -> grpc.aio.Channel:
        if spec.is_local:
            return open_channel(self.paths.worker_socket(spec.name), self.message_limit)
        if self.tls is None:  # ControllerConfig requires it for a remote worker
            raise ValueError(f"worker {spec.name}: a remote worker needs TLS files")
        return open_remote_channel(spec.address, self.tls, self.keepalive_ms, self.message_limit)


class WorkerClient:
    """The controller's connection to one workerd."""

    def __init__(self, name: str, channel: grpc.aio.Channel) -> None:
        self.name = name
        self._channel = channel
        self._worker = worker_pb2_grpc.WorkerStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._calls: set[Any] = set()  # the Runs in flight
        self._cut: dict[Any, str] = {}  # those ended by cut_calls, with why

    def cut_calls(self, reason: str) -> int:
        """End every Run in flight as failed by the worker (its host stopped answering): each
        caller gets WorkerUnavailable now, not when TCP gives up."""
        for call in self._calls:
            self._cut[call] = reason
            call.cancel()
        return len(self._calls)

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
        self._calls.add(call)
        try:
            async for event in call:
                yield event
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED and call not in self._cut:
                raise
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise MessageTooLarge(exc.details() or "message over the size limit") from exc
            raise WorkerUnavailable(f"worker {self.name} stream failed: {exc.code().name}") from exc
        except asyncio.CancelledError:  # a call cancelled here reads as a cancelled task
            task = asyncio.current_task()
            if call in self._cut and task is not None and not task.cancelling():
                raise WorkerUnavailable(f"worker {self.name}: {self._cut[call]}") from None
            raise
        finally:
            self._calls.discard(call)
            self._cut.pop(call, None)
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
