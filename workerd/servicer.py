"""Thin Worker servicer: Run streams a CliRunner's events; process listing and killing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from common import __version__
from common.errors import make_error
from common.logs import request_id_var
from protos import common_pb2 as pb
from protos import worker_pb2, worker_pb2_grpc
from workerd.config import WorkerdConfig
from workerd.process import ProcessTable
from workerd.runner import CliRunner

Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints


class WorkerServicer(worker_pb2_grpc.WorkerServicer):
    def __init__(self, config: WorkerdConfig, table: ProcessTable) -> None:
        self._config = config
        self._table = table
        self._runner = CliRunner(config, table)

    async def Run(
        self, request: worker_pb2.RunRequest, context: Context
    ) -> AsyncIterator[pb.Event]:
        request_id_var.set(request.chat.request_id or "-")
        if not self._config.spec.uses_cli:
            yield make_error(
                pb.INVALID_REQUEST, "api mode is not available in this version", param="model"
            )
            return
        async for event in self._runner.run(request.chat):
            yield event

    async def ListProcesses(
        self, request: worker_pb2.ListProcessesRequest, context: Context
    ) -> worker_pb2.ProcessList:
        return worker_pb2.ProcessList(
            processes=[
                worker_pb2.ProcessInfo(
                    pid=child.pid,
                    request_id=child.request_id,
                    model=child.model,
                    state=child.state.value,
                    age_s=child.age_s(),
                    idle_s=child.idle_s(),
                    worker=self._config.spec.name,
                )
                for child in self._table.all()
            ]
        )

    async def KillProcess(
        self, request: worker_pb2.KillProcessRequest, context: Context
    ) -> worker_pb2.KillProcessReply:
        child = self._table.get(request.pid)
        if child is None:
            return worker_pb2.KillProcessReply(
                killed=False, message="not a process this worker started"
            )
        await child.stop(self._config.stop_grace_ms / 1000)
        return worker_pb2.KillProcessReply(killed=True, message="stopped")

    async def Status(
        self, request: worker_pb2.StatusRequest, context: Context
    ) -> worker_pb2.WorkerStatus:
        return worker_pb2.WorkerStatus(
            name=self._config.spec.name,
            mode=self._config.spec.mode,
            running=len(self._table.all()),
            version=__version__,
        )
