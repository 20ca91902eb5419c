"""In-process doubles for tests that need a workerd or a controller without starting processes.

`FakeWorker` is a real `Worker` gRPC servicer (with health and reflection) on a unix socket,
answering from fields a test sets; `Rig` wires the controller's real WorkerPool, Scheduler and
Admin service to such fake workers, all in this event loop.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.paths import StatePaths
from common.rpc import StandardServer
from common.workers import WorkerSpec
from controller.config import ControllerConfig
from controller.events.bus import EventBus, ProxyEvent
from controller.scheduling.ratelimit import DEFAULT_LIMITS
from controller.scheduling.request_run import RequestRun
from controller.scheduling.scheduler import Scheduler
from controller.server import _fallback_reporter, _reap_reporter
from controller.services.admin import AdminServicer
from controller.services.stats import LiveStats
from controller.storage.accounting import Accounting
from controller.storage.quota_store import QuotaStore
from controller.workers.pool import WorkerPool
from protos import common_pb2 as pb
from protos import controller_pb2, controller_pb2_grpc, worker_pb2, worker_pb2_grpc


class FakeWorker(worker_pb2_grpc.WorkerServicer):
    """A workerd that streams `script` for every Run and reports `status` and `processes`."""

    def __init__(self, name: str, mode: str = "cli") -> None:
        self.script: list[pb.Event] = []
        self.runs: list[worker_pb2.RunRequest] = []
        self.status = worker_pb2.WorkerStatus(name=name, mode=mode, started_at=1.0)
        self.processes: list[worker_pb2.ProcessInfo] = []

    async def Run(self, request: worker_pb2.RunRequest, context: Any) -> AsyncIterator[pb.Event]:
        self.runs.append(request)
        for event in self.script:
            yield event

    async def Status(
        self, request: worker_pb2.StatusRequest, context: Any
    ) -> worker_pb2.WorkerStatus:
        return self.status

    async def ListProcesses(
        self, request: worker_pb2.ListProcessesRequest, context: Any
    ) -> worker_pb2.ProcessList:
        return worker_pb2.ProcessList(processes=self.processes)

    async def KillProcess(
        self, request: worker_pb2.KillProcessRequest, context: Any
    ) -> worker_pb2.KillProcessReply:
        return worker_pb2.KillProcessReply(killed=False, message="not ours")


def short_state_dir() -> tempfile.TemporaryDirectory[str]:
    """Unix socket paths are limited to about 100 bytes: pytest's tmp_path can be too long."""
    return tempfile.TemporaryDirectory(prefix="ccp-", dir="/tmp")


def controller_config(
    root: Path, specs: Sequence[WorkerSpec], **overrides: Any
) -> ControllerConfig:
    settings: dict[str, Any] = {
        "paths": StatePaths(root),
        "workers": tuple(specs),
        "max_concurrent": 10,
        "max_queue_total": 100,
        "max_queue_per_source": 20,
        "queue_timeout_ms": 5_000,
        "primary_worker": specs[0].name if specs else "1",
        "health_interval_ms": 50,
        "rate_limits": dict(DEFAULT_LIMITS),
        "overflow_to_api": False,
        "affinity_ttl_s": 1800.0,
        "max_attempts": 3,
    }
    settings.update(overrides)
    return ControllerConfig(**settings)


@dataclass
class Rig:
    """The controller's pool, scheduler and Admin service over fake workerds."""

    config: ControllerConfig
    workers: dict[str, FakeWorker]
    events: EventBus
    pool: WorkerPool
    scheduler: Scheduler
    accounting: Accounting
    admin: AdminServicer
    quota_store: QuotaStore
    servers: list[StandardServer] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        root: Path,
        modes: dict[str, str],
        specs: Sequence[WorkerSpec] = (),
        worker_class: type[FakeWorker] = FakeWorker,
        **overrides: Any,
    ) -> Rig:
        """Fake workerds of these modes (or these `specs`, credentials and all)."""
        specs = specs or [WorkerSpec(name=name, mode=mode) for name, mode in modes.items()]
        modes = {spec.name: spec.mode for spec in specs}
        config = controller_config(root, specs, **overrides)
        workers = {name: worker_class(name, mode) for name, mode in modes.items()}
        servers = []
        for name, worker in workers.items():
            full_name = worker_pb2.DESCRIPTOR.services_by_name["Worker"].full_name
            server = StandardServer(config.paths.worker_socket(name), [full_name])
            worker_pb2_grpc.add_WorkerServicer_to_server(worker, server.server)
            await server.start()
            servers.append(server)
        events = EventBus()
        accounting = Accounting(config.paths.database, config.retention_days)
        await accounting.open(100)
        pool = WorkerPool(config.workers, config.paths)
        pool.on_reap = _reap_reporter(events)  # wired as the controller's server wires them
        pool.on_warm_fallback = _fallback_reporter(events)
        scheduler = Scheduler(config, pool, events)
        quota_store = QuotaStore(accounting)  # wired as the controller's server wires it
        scheduler.restore_quota(await quota_store.load())
        scheduler.on_quota = quota_store.note
        admin = AdminServicer(scheduler, accounting, LiveStats(), time.time())
        await admin.keys.load()  # as the controller's server loads them
        rig = cls(config, workers, events, pool, scheduler, accounting, admin, quota_store, servers)
        await rig.poll()
        return rig

    async def poll(self) -> None:
        """One round of the health and Status poll, as `watch_health` does it."""
        for handle in self.pool.handles.values():
            await self.pool._check(handle, 1.0)

    async def complete(self, request: pb.ChatRequest) -> list[pb.Event]:
        """Everything Controller.Complete would send to the frontdoor for `request`."""
        return [event async for event in RequestRun(self.scheduler, request).events()]

    def logged(self, kind: str) -> list[ProxyEvent]:
        return self.events.recent(0, 1000, kind)

    async def serve_admin(self) -> StandardServer:
        """The Admin service on the controller socket, for a frontdoor's AdminClient."""
        names = [controller_pb2.DESCRIPTOR.services_by_name["Admin"].full_name]
        server = StandardServer(self.config.paths.controller_socket, names)
        controller_pb2_grpc.add_AdminServicer_to_server(self.admin, server.server)
        await server.start()
        self.servers.append(server)
        return server

    async def stop(self) -> None:
        for server in self.servers:
            await server.stop(0)
        await self.pool.close()
        await self.quota_store.flush()
        await self.accounting.close()
