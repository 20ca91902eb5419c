"""Thin Worker servicer: Run streams the CLI path's events (or, in api mode, the Messages API
path's); process listing and killing; the worker's status.

A Run always ends with an event: an exception escaping a runner becomes the request's INTERNAL
error. A broken stream tells the controller the worker is gone (it marks it down and tries the
next one), which one request must never be able to do."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from common import __version__
from common.errors import make_error
from common.logs import request_id_var
from protos import common_pb2 as pb
from protos import worker_pb2, worker_pb2_grpc
from workerd.api.runner import ApiRunner
from workerd.cli.engine import SessionEngine
from workerd.cli.process import CliProcess, ProcessTable
from workerd.cli.reaper import Reaper
from workerd.cli.runner import OPERATOR_KILL, CliRunner
from workerd.cli.states import ChildState
from workerd.config import WorkerdConfig

logger = logging.getLogger(__name__)

Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints
FAILED_ON_REQUEST = "the worker failed on this request"


class WorkerServicer(worker_pb2_grpc.WorkerServicer):
    def __init__(
        self,
        config: WorkerdConfig,
        table: ProcessTable,
        api: ApiRunner | None = None,
        reaper: Reaper | None = None,
        engine: SessionEngine | None = None,
        cli_version: str = "",
    ) -> None:
        self._config = config
        self._table = table
        self._reaper = reaper
        self._started_at = time.time()
        self._engine = engine or SessionEngine(config, table)
        self._runner = CliRunner(config, self._engine)
        self._api = api  # api mode only
        self._cli_version = cli_version

    async def Run(
        self, request: worker_pb2.RunRequest, context: Context
    ) -> AsyncIterator[pb.Event]:
        request_id_var.set(request.chat.request_id or "-")
        try:
            async for event in self._run(request):
                yield event
        except Exception:
            logger.exception("run failed")
            yield make_error(pb.INTERNAL, FAILED_ON_REQUEST)

    async def _run(self, request: worker_pb2.RunRequest) -> AsyncIterator[pb.Event]:
        if self._api is not None:
            async for event in self._api.run(request.chat):
                yield event
            return
        if request.chat.thinking_display:  # harmless to ignore: the CLI chooses how to show it
            logger.info(
                "thinking.display %r not passed on: the CLI sets its own",
                request.chat.thinking_display,
            )
        key = request.conversation_key or request.chat.session_key
        async for event in self._runner.run(request.chat, key, request.conversation_opened_at):
            yield event

    async def ListProcesses(
        self, request: worker_pb2.ListProcessesRequest, context: Context
    ) -> worker_pb2.ProcessList:
        return worker_pb2.ProcessList(
            processes=[self._process_info(child) for child in self._table.all()]
        )

    def _process_info(self, child: CliProcess) -> worker_pb2.ProcessInfo:
        running = child.state is ChildState.RUNNING
        return worker_pb2.ProcessInfo(
            pid=child.pid,
            request_id=child.request_id,
            model=child.model,
            state=child.state.value,
            # A running process is judged by its turn's age; an idle one by its lifetime.
            age_s=child.busy_s() if running else child.age_s(),
            idle_s=child.idle_s() if running else 0.0,
            worker=self._config.spec.name,
            rss_bytes=child.rss_bytes(),
            conversation=child.conversation,
            signature=child.signature,
        )

    async def KillProcess(
        self, request: worker_pb2.KillProcessRequest, context: Context
    ) -> worker_pb2.KillProcessReply:
        child = self._table.get(request.pid)
        if child is None:
            return worker_pb2.KillProcessReply(
                killed=False, message="not a process this worker started"
            )
        slot = self._engine.pool.get(child.pid)
        if slot is not None and slot.state is not ChildState.RUNNING:
            await self._engine.retire(slot, OPERATOR_KILL)
        else:
            await child.stop(self._config.stop_grace_ms / 1000, OPERATOR_KILL)
        return worker_pb2.KillProcessReply(killed=True, message="stopped")

    def _credential(self) -> str:
        """oauth or api_key: a CLI worker prefers its token, an api worker its key."""
        spec = self._config.spec
        if spec.api_key and not (spec.uses_cli and spec.token):
            return "api_key"
        return "oauth"

    async def Status(
        self, request: worker_pb2.StatusRequest, context: Context
    ) -> worker_pb2.WorkerStatus:
        children = self._table.all()
        by_state = {state: [c for c in children if c.state is state] for state in ChildState}
        idle = by_state[ChildState.READY] + by_state[ChildState.PARKED]
        return worker_pb2.WorkerStatus(
            name=self._config.spec.name,
            mode=self._config.spec.mode,
            # A process waiting for its client's tool results is busy, not idle.
            running=len(by_state[ChildState.RUNNING])
            + len(by_state[ChildState.AWAITING])
            + (self._api.running if self._api is not None else 0),
            version=__version__,
            started_at=self._started_at,
            recent_reaps=[r for r in self._reaper.recent if r.id > request.reaps_after]
            if self._reaper
            else [],
            cli_version=self._cli_version,
            credential=self._credential(),
            no_client_tools=self._config.spec.mode == "agent"
            and not self._config.cli.agent.client_tools,
            warm=len(by_state[ChildState.READY]),
            parked=len(by_state[ChildState.PARKED]),
            idle_rss_bytes=sum(child.rss_bytes() for child in idle),
            warm_fallbacks=self._engine.pool.fallbacks(time.monotonic()),
            pool=await self._pool_figures(),
        )

    async def _pool_figures(self) -> pb.PoolFigures:
        """The CLI pool's sizing (empty in api mode), its memory read at most a second ago."""
        if not self._config.spec.uses_cli:
            return pb.PoolFigures()
        await self._engine.measure()
        return self._engine.figures()
