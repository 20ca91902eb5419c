"""The Admin service: everything the monitoring endpoints, the dashboard and grpcurl see.

Thin: state comes from the scheduler, figures from the accounting database, processes from
the workerds; controller/services/stats.py shapes the snapshot and controller/services/keys.py
answers the key methods.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc

from common.rpc import abort
from controller.events import kinds
from controller.events.bus import ProxyEvent
from controller.scheduling.scheduler import Scheduler
from controller.services.keys import KeyService
from controller.services.stats import DbFigures, LiveStats, build_stats, worker_infos
from controller.storage.accounting import Accounting, AccountingDb
from controller.storage.usage import HISTORY, stale_reason
from controller.workers.pool import WorkerHandle
from protos import controller_pb2, controller_pb2_grpc, keys_pb2

logger = logging.getLogger(__name__)
Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints
LIST_DEADLINE_S = 2.0
KILL_DEADLINE_S = 30.0  # the workerd interrupts, then TERMs, then KILLs: each step has a grace
MAX_REPLAY = 1000


def event_proto(event: ProxyEvent) -> controller_pb2.ProxyEvent:
    return event.proto  # built once per event, whoever asks (controller/events/bus.py)


SUBSCRIBED = "subscribed"


class AdminServicer(controller_pb2_grpc.AdminServicer):
    def __init__(
        self,
        scheduler: Scheduler,
        accounting: Accounting,
        live: LiveStats,
        started_at: float,
        keys: KeyService | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._accounting = accounting
        self._live = live
        self._started_at = started_at
        self.keys = keys or KeyService(scheduler.keys, accounting, scheduler.events)

    async def ListWorkers(
        self, request: controller_pb2.ListWorkersRequest, context: Context
    ) -> controller_pb2.WorkerList:
        scheduler = self._scheduler
        return controller_pb2.WorkerList(
            workers=worker_infos(scheduler),
            max_concurrent=scheduler.config.max_concurrent,
            in_flight=scheduler.in_flight,
            queued=len(scheduler.queue),
            storage=self._accounting.storage_status(),
        )

    async def ListEvents(
        self, request: controller_pb2.ListEventsRequest, context: Context
    ) -> controller_pb2.EventList:
        bus = self._scheduler.events
        limit = min(request.limit or 100, MAX_REPLAY) if request.limit >= 0 else 100
        recent = bus.recent(max(request.since_id, 0), limit, request.type)
        return controller_pb2.EventList(
            events=[event_proto(e) for e in recent], counts=bus.counts, last_id=bus.last_id
        )

    # -- workers ---------------------------------------------------------------------------

    async def _handle(self, name: str, context: Context) -> WorkerHandle:
        handle = self._scheduler.pool.handles.get(name)
        if handle is None:
            known = ", ".join(self._scheduler.pool.handles) or "none"
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no worker {name!r} (known: {known})")
        return handle

    def _info(self, name: str) -> controller_pb2.WorkerInfo:
        return next(i for i in worker_infos(self._scheduler) if i.name == name)

    async def DrainWorker(
        self, request: controller_pb2.WorkerRef, context: Context
    ) -> controller_pb2.WorkerInfo:
        handle = await self._handle(request.name, context)
        if not handle.draining:
            handle.draining = True
            self._scheduler.events.emit(kinds.WorkerDrained(worker=request.name))
            logger.info("worker %s draining", request.name)
        return self._info(request.name)

    async def ResumeWorker(
        self, request: controller_pb2.WorkerRef, context: Context
    ) -> controller_pb2.WorkerInfo:
        handle = await self._handle(request.name, context)
        if handle.draining:
            handle.draining = False
            self._scheduler.events.emit(kinds.WorkerResumed(worker=request.name))
            logger.info("worker %s resumed", request.name)
            self._scheduler.dispatch()
        return self._info(request.name)

    # -- processes -------------------------------------------------------------------------

    async def ListProcesses(
        self, request: controller_pb2.ListProcessesAdminRequest, context: Context
    ) -> controller_pb2.ProcessReport:
        return await self._processes()

    async def _processes(self) -> controller_pb2.ProcessReport:
        config = self._scheduler.config
        report = controller_pb2.ProcessReport(
            max_process_age_ms=config.max_process_age_ms, max_idle_ms=config.max_idle_ms
        )
        handles = [h for h in self._scheduler.pool.handles.values() if h.up]
        report.unreachable_workers.extend(
            h.spec.name for h in self._scheduler.pool.handles.values() if not h.up
        )
        replies = await asyncio.gather(
            *(h.client.list_processes(LIST_DEADLINE_S) for h in handles), return_exceptions=True
        )
        for handle, reply in zip(handles, replies, strict=True):
            if isinstance(reply, BaseException):
                report.unreachable_workers.append(handle.spec.name)
                continue
            for child in reply.processes:
                reason = stale_reason(
                    child.age_s,
                    child.idle_s,
                    config.max_process_age_ms,
                    config.max_idle_ms,
                    child.state,
                )
                report.processes.append(
                    controller_pb2.CliProcess(
                        pid=child.pid,
                        worker=handle.spec.name,
                        request_id=child.request_id,
                        model=child.model,
                        state=child.state,
                        age_s=child.age_s,
                        idle_s=child.idle_s,
                        stale=bool(reason),
                        stale_reason=reason,
                        rss_bytes=child.rss_bytes,
                        conversation=child.conversation,
                    )
                )
        return report

    async def KillProcess(
        self, request: controller_pb2.KillProcessAdminRequest, context: Context
    ) -> controller_pb2.KillProcessResult:
        pid = request.pid
        if pid <= 0:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "pid must be positive")
        report = await self._processes()
        owner = next((p for p in report.processes if p.pid == pid), None)
        if owner is None:
            return controller_pb2.KillProcessResult(
                killed=False, pid=pid, message=f"pid {pid} is not a CLI process this proxy started"
            )
        handle = self._scheduler.pool.handles[owner.worker]
        try:
            reply = await handle.client.kill_process(pid, KILL_DEADLINE_S)
        except grpc.aio.AioRpcError as exc:
            await abort(
                context, grpc.StatusCode.UNAVAILABLE, f"worker {owner.worker}: {exc.code().name}"
            )
        self._scheduler.events.emit(
            kinds.Kill(
                pid=pid,
                worker=owner.worker,
                request_id=owner.request_id,
                killed=reply.killed,
                manual=True,
            )
        )
        return controller_pb2.KillProcessResult(
            killed=reply.killed, pid=pid, worker=owner.worker, message=reply.message
        )

    # -- figures ---------------------------------------------------------------------------

    async def GetStats(
        self, request: controller_pb2.GetStatsRequest, context: Context
    ) -> controller_pb2.StatsSnapshot:
        now = time.time()

        def figures(db: AccountingDb) -> DbFigures:
            return DbFigures(db.tokens(now), db.breakdown(), db.histograms())

        db, processes = await asyncio.gather(self._accounting.query(figures), self._processes())
        snapshot = build_stats(self._scheduler, self._live, db, processes, self._started_at)
        snapshot.keys.extend(self.keys.stats(self._scheduler.queue.depth_by_key()))
        snapshot.storage.CopyFrom(self._accounting.storage_status())
        return snapshot

    async def GetHistory(
        self, request: controller_pb2.GetHistoryRequest, context: Context
    ) -> controller_pb2.History:
        window = request.window or "1h"
        spec = HISTORY.get(window)
        if spec is None:
            choices = ", ".join(HISTORY)
            await abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"window must be one of {choices}"
            )
        now = time.time()
        first, end, points = await self._accounting.query(lambda db: db.history(spec, now))
        return controller_pb2.History(
            window=window,
            bucket_seconds=spec.bucket_s,
            from_ts=first,
            to_ts=end,
            points=[
                controller_pb2.HistoryPoint(
                    ts=p["ts"],
                    requests=p["requests"],
                    errors=p["errors"],
                    input_tokens=p["input"],
                    output_tokens=p["output"],
                    avg_ttft_ms=p["avgTtftMs"],
                    avg_duration_ms=p["avgDurationMs"],
                )
                for p in points
            ],
        )

    async def WatchEvents(
        self, request: controller_pb2.WatchEventsRequest, context: Context
    ) -> AsyncIterator[controller_pb2.ProxyEvent]:
        bus = self._scheduler.events
        feed = bus.subscribe(live=request.include_chunks)
        try:
            if request.since_id > 0:
                backlog = bus.recent(request.since_id, MAX_REPLAY, request.type)
            else:
                backlog = bus.recent(0, min(max(request.replay, 0), MAX_REPLAY), request.type)
            last = bus.last_id  # everything up to here was replayed or is older than asked
            # Tells the caller the live subscription exists: nothing after this can be missed.
            yield controller_pb2.ProxyEvent(id=0, type=SUBSCRIBED, data_json="{}")
            for event in backlog:
                yield event_proto(event)
            while True:
                event = await feed.get()
                if (event.id and event.id <= last) or (request.type and event.type != request.type):
                    continue
                yield event_proto(event)
        finally:
            bus.unsubscribe(feed)

    # -- keys (controller/services/keys.py) --------------------------------------------------

    async def CreateKey(
        self, request: keys_pb2.CreateKeyRequest, context: Context
    ) -> keys_pb2.CreateKeyResult:
        return await self.keys.create(request, context)

    async def ListKeys(
        self, request: keys_pb2.ListKeysRequest, context: Context
    ) -> keys_pb2.KeyList:
        return self.keys.list_keys(request)

    async def UpdateKey(
        self, request: keys_pb2.UpdateKeyRequest, context: Context
    ) -> keys_pb2.KeyInfo:
        return await self.keys.update(request, context)

    async def RevokeKey(self, request: keys_pb2.KeyRef, context: Context) -> keys_pb2.KeyInfo:
        return await self.keys.revoke(request, context)

    async def WatchKeys(
        self, request: keys_pb2.WatchKeysRequest, context: Context
    ) -> AsyncIterator[keys_pb2.KeyList]:
        async for key_list in self.keys.watch():
            yield key_list

    async def GetKeyUsage(
        self, request: keys_pb2.KeyRef, context: Context
    ) -> keys_pb2.KeyUsageReport:
        return await self.keys.usage(request, context)
