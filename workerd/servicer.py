"""Thin Worker servicer: Run streams a CliRunner's (or, in api mode, an ApiRunner's) events;
process listing and killing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from common import __version__
from common.logs import request_id_var
from protos import common_pb2 as pb
from protos import worker_pb2, worker_pb2_grpc
from workerd.api.runner import ApiRunner
from workerd.cli.process import ProcessTable
from workerd.cli.reaper import Reaper
from workerd.cli.runner import OPERATOR_KILL, CliRunner
from workerd.config import WorkerdConfig

Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints


class WorkerServicer(worker_pb2_grpc.WorkerServicer):
    def __init__(
        self,
        config: WorkerdConfig,
        table: ProcessTable,
        api: ApiRunner | None = None,
        reaper: Reaper | None = None,
    ) -> None:
        self._config = config
        self._table = table
        self._reaper = reaper
        self._started_at = time.time()
        self._runner = CliRunner(config, table)
        self._api = api or ApiRunner(config)  # its client is only made on first use

    async def Run(
        self, request: worker_pb2.RunRequest, context: Context
    ) -> AsyncIterator[pb.Event]:
        request_id_var.set(request.chat.request_id or "-")
        if self._config.spec.mode == "api":
            async for event in self._api.run(request.chat):
                yield event
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
        await child.stop(self._config.stop_grace_ms / 1000, OPERATOR_KILL)
        return worker_pb2.KillProcessReply(killed=True, message="stopped")

    async def Status(
        self, request: worker_pb2.StatusRequest, context: Context
    ) -> worker_pb2.WorkerStatus:
        return worker_pb2.WorkerStatus(
            name=self._config.spec.name,
            mode=self._config.spec.mode,
            running=len(self._table.all()) + self._api.running,
            version=__version__,
            started_at=self._started_at,
            recent_reaps=[r for r in self._reaper.recent if r.id > request.reaps_after]
            if self._reaper
            else [],
        )
